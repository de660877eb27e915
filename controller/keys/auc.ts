/**
 * The Authentication Centre's key changes: on a schedule and on demand, each
 * pair in the RFC 9061 order across its two agents, every step waiting for
 * the agents to acknowledge the generation that carries it:
 *
 *   1. new inbound SA at the decrypting end
 *   2. new outbound SA at the encrypting end (it sends with the newest)
 *   3. after a drain, the old SAs removed at both ends
 *
 * Nothing is lost in between: the decrypting end accepts both generations
 * from step 1 until step 3. An agent that is away holds its pair at the step
 * it missed (the others go on); when it comes back it gets the keys the store
 * says it carries now, and if it never does, the old keys reach their hard
 * lifetime at both ends and the flow stops (fails closed). The stage of each
 * pair is in the key store, so a restarted controller resumes where it was.
 */
import type { Logger } from '../../agent/log.js';
import type { Controller } from '../controller.js';
import type { EfPair } from '../intent/compile.js';
import type { KeyStore } from './key-store.js';
import { changeDue, pairTiming, type KeyTiming } from './pair-timing.js';

export interface AucOptions {
  /** Seconds between key changes of a pair (counted from its newest key), unless its chain has its own rekey-interval. */
  rekeyIntervalS: number;
  /** How often the schedule is looked at (default: a tenth of the shortest interval, 50 ms to 1 s). */
  tickMs?: number;
  /** Between the encrypting end's switch and the removal of the old inbound SA: packets in flight. */
  drainMs?: number;
  /** How long one wait for an acknowledgement lasts before it is logged and started again. */
  stepTimeoutMs?: number;
}

export class Auc {
  private readonly running = new Map<number, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private onStop: () => void = () => undefined;
  private readonly stopping = new Promise<void>((r) => { this.onStop = r; });

  constructor(private readonly controller: Controller, private readonly keys: KeyStore, private readonly log: Logger, private readonly o: AucOptions) {}

  start(): void {
    // Re-armed after every look, because the shortest interval changes with the chains.
    const loop = (): void => {
      if (this.stopped) return;
      this.tick();
      const shortest = this.controller.deployedPairs().reduce((m, p) => Math.min(m, this.timing(p).rekeyIntervalS), this.o.rekeyIntervalS);
      this.timer = setTimeout(loop, this.o.tickMs ?? Math.min(1000, Math.max(50, (shortest * 1000) / 10)));
      this.timer.unref();
    };
    loop();
  }

  /** The pair's interval and the lifetime of its new keys: its chain's, or the controller's. */
  timing(p: EfPair): KeyTiming {
    return pairTiming(p, { rekeyIntervalS: this.o.rekeyIntervalS, lifetimeS: this.keys.lifetimeS });
  }

  /** Stop scheduling; key changes under way stop at their next wait (and resume on the next start). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.onStop();
    clearTimeout(this.timer);
    await Promise.allSettled([...this.running.values()]);
  }

  /** Pairs whose key change is due, or was left half done, start now. */
  tick(): void {
    const now = Date.now();
    for (const p of this.controller.deployedPairs()) {
      if (this.running.has(p.espi)) continue;
      const gens = this.keys.info(p.espi);
      const due = changeDue(gens.at(-1), this.timing(p), now);
      // More than one generation: a change was left half done (e.g. by a restart).
      if (due || gens.length > 1) this.start1(p, due ? 'schedule' : 'resume');
    }
  }

  /** Key change now for these pairs (the rekey operation); returns the E-SPIs that started (or were already changing). */
  rekeyNow(filter: (p: EfPair) => boolean): number[] {
    const out: number[] = [];
    for (const p of this.controller.deployedPairs().filter(filter)) {
      if (!this.running.has(p.espi)) this.start1(p, 'request');
      out.push(p.espi);
    }
    return out;
  }

  /** Whether a key change of this pair is under way. */
  isChanging(espi: number): boolean {
    return this.running.has(espi);
  }

  /** Resolves when no key change is under way. */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running.values()]);
  }

  private start1(p: EfPair, why: 'schedule' | 'resume' | 'request'): void {
    const run = this.change(p, why)
      .catch((e: unknown) => this.log.log('error', 'rekey_failed', { espi: p.espi, flow: p.flow, error: (e as Error).message }))
      .finally(() => this.running.delete(p.espi));
    this.running.set(p.espi, run);
  }

  private async change(p: EfPair, why: string): Promise<void> {
    const t0 = Date.now();
    const gone = (): boolean => this.stopped || !this.controller.deployedPairs().some((x) => x.espi === p.espi);
    const step = async (name: string, nodes: string[]): Promise<boolean> => {
      const s0 = Date.now();
      const gens = this.controller.republish(nodes);
      if (!(await this.acknowledged([...gens], p, name, gone))) return false;
      const newest = this.keys.info(p.espi).at(-1);
      this.log.log('info', 'rekey_step', { espi: p.espi, flow: p.flow, step: name, nodes: Object.fromEntries(gens), epoch: newest?.epoch, spi: newest?.spi, ms: Date.now() - s0 });
      return true;
    };
    let stage = this.keys.stage(p.espi);
    if (stage === 'steady') {
      const g = this.keys.begin(p.espi, Date.now(), this.timing(p).lifetimeS);
      this.log.log('info', 'rekey_started', { espi: p.espi, flow: p.flow, why, epoch: g.epoch, spi: g.spi, notAfter: g.notAfter });
      stage = 'inbound-added';
    }
    // Resuming: a step is repeated (same keys, new generation) so its acknowledgement is known.
    if (stage === 'inbound-added') {
      if (!(await step('inbound', [p.dec.node]))) return;
      this.keys.switchOutbound(p.espi);
    }
    if (!(await step('outbound', [p.enc.node]))) return;
    await new Promise((r) => setTimeout(r, this.o.drainMs ?? 200));
    if (gone()) return;
    this.keys.retireOld(p.espi);
    if (!(await step('retire', [p.dec.node, p.enc.node]))) return;
    this.log.log('info', 'rekey_done', { espi: p.espi, flow: p.flow, why, epoch: this.keys.info(p.espi).at(-1)?.epoch, ms: Date.now() - t0 });
  }

  /** Waits (as long as it takes) for the nodes to apply their generations; false when the pair went away or the AuC stopped. */
  private async acknowledged(gens: [string, number][], p: EfPair, step: string, gone: () => boolean): Promise<boolean> {
    let pending = gens;
    for (;;) {
      const late = await Promise.race([
        this.controller.waitApplied(pending, this.o.stepTimeoutMs ?? 5000, true),
        this.stopping.then(() => pending.map(([n]) => n)),
      ]);
      if (!late.length) return true;
      if (gone()) return false;
      this.log.log('warn', 'rekey_waiting', { espi: p.espi, flow: p.flow, step, nodes: late });
      pending = pending.filter(([n]) => late.includes(n));
    }
  }
}
