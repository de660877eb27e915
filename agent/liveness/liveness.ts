/**
 * Whether each SF (and EF) behind this node's ports can carry traffic, judged by the
 * agent itself (no round trip to the controller): every port of the SF has
 * link (administratively up, with carrier), and, where a probe is configured,
 * probes sent through the SF come back. A failure counts at once; a recovery
 * only after the SF has stayed healthy for the hold-down, so a flapping SF
 * does not drag traffic back and forth.
 */
import type { NodeConfig } from '../config/types.js';
import { DEFAULT_HOLD_DOWN_MS } from '../config/validate-config.js';
import { LinkWatch, type LinkState } from './link-watch.js';
import type { ProbeTarget } from './probe.js';

export interface FunctionLiveness {
  name: string;
  live: boolean;
  /** When it was last judged live or down (ISO 8601). */
  since: string;
  /** Why it is down, or what it waits for: "link sf1a down", "probe unanswered", "hold-down until ...". */
  reason?: string;
}

/** What the liveness probes (agent/liveness/probe.ts) look like from here. */
export interface ProbeVerdicts {
  /** false: probes through the SF stopped coming back; undefined: no probe or no verdict yet. */
  alive(fn: string): boolean | undefined;
  set(targets: ProbeTarget[]): void;
  stop(): void;
}

interface Watched {
  ifnames: string[];
  live: boolean;
  since: number;
  /** While judged down: since when it has been healthy again. */
  healthySince?: number;
  reason?: string;
}

export interface LivenessOptions {
  /** Called from the tick with the functions whose judgement changed. */
  onChange: (changed: FunctionLiveness[]) => void;
  /** How often link state (and probe verdicts) are looked at (ms). */
  tickMs?: number;
}

export class Liveness {
  private readonly fns = new Map<string, Watched>();
  private holdDownMs = DEFAULT_HOLD_DOWN_MS;
  private links: LinkWatch | undefined;
  private timer: NodeJS.Timeout | undefined;
  probes: ProbeVerdicts | undefined;

  constructor(private readonly o: LivenessOptions) {}

  /**
   * Watch the SFs and EFs behind the configuration's sf, sf-proxy and ef
   * ports (ones already watched keep their judgement). EFs are new to the
   * watch only with `efs`: the agent itself brings an EF's link up when it
   * applies the configuration, so before that a new EF looks down.
   */
  watch(cfg: NodeConfig, o: { efs: boolean } = { efs: true }): void {
    this.holdDownMs = cfg.liveness?.holdDownMs ?? DEFAULT_HOLD_DOWN_MS;
    const want = new Map<string, string[]>();
    for (const p of cfg.ports) {
      if ((p.kind !== 'sf' && p.kind !== 'sf-proxy' && p.kind !== 'ef') || !p.function) continue;
      if (p.kind === 'ef' && !o.efs && !this.fns.has(p.function)) continue;
      want.set(p.function, [...(want.get(p.function) ?? []), p.interface]);
    }
    for (const name of [...this.fns.keys()]) if (!want.has(name)) this.fns.delete(name);
    if (!want.size) {
      this.stopTicking();
      return;
    }
    this.links ??= new LinkWatch();
    const links = this.links.read();
    const now = Date.now();
    for (const [name, ifnames] of want) {
      const had = this.fns.get(name);
      if (had) {
        had.ifnames = ifnames;
        continue;
      }
      // A new SF is judged as it is now: no hold-down for one never seen failing.
      const why = this.problem(name, ifnames, links);
      this.fns.set(name, { ifnames, live: !why, since: now, ...(why ? { reason: why } : {}) });
    }
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.o.tickMs ?? 10);
      this.timer.unref();
    }
  }

  /** SFs judged down now. */
  down(): Set<string> {
    return new Set([...this.fns].filter(([, w]) => !w.live).map(([n]) => n));
  }

  states(): FunctionLiveness[] {
    return [...this.fns].sort(([a], [b]) => a.localeCompare(b)).map(([name, w]) => this.state(name, w));
  }

  /** Look at links and probes now; returns (and announces) what changed. */
  tick(): FunctionLiveness[] {
    if (!this.links) return [];
    const links = this.links.read();
    const now = Date.now();
    const changed: FunctionLiveness[] = [];
    for (const [name, w] of this.fns) {
      const why = this.problem(name, w.ifnames, links);
      if (w.live && why) {
        Object.assign(w, { live: false, since: now, reason: why, healthySince: undefined });
        changed.push(this.state(name, w));
      } else if (!w.live && why) {
        w.healthySince = undefined;
        w.reason = why;
      } else if (!w.live) {
        w.healthySince ??= now;
        if (now - w.healthySince >= this.holdDownMs) {
          Object.assign(w, { live: true, since: now, reason: undefined, healthySince: undefined });
          changed.push(this.state(name, w));
        }
      }
    }
    if (changed.length) this.o.onChange(changed);
    return changed;
  }

  private problem(name: string, ifnames: readonly string[], links: ReadonlyMap<string, LinkState>): string | undefined {
    for (const i of ifnames) {
      const l = links.get(i);
      if (!l) return `link ${i} missing`;
      if (!l.up) return `link ${i} down`;
    }
    return this.probes?.alive(name) === false ? 'probe unanswered' : undefined;
  }

  private state(name: string, w: Watched): FunctionLiveness {
    const reason = !w.live && w.healthySince !== undefined
      ? `hold-down until ${new Date(w.healthySince + this.holdDownMs).toISOString()}`
      : w.reason;
    return { name, live: w.live, since: new Date(w.since).toISOString(), ...(reason ? { reason } : {}) };
  }

  private stopTicking(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.links?.close();
    this.links = undefined;
  }

  stop(): void {
    this.stopTicking();
    this.probes?.stop();
  }
}
