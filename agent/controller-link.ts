/**
 * The agent's side of the controller channel (mutual TLS, undici): a
 * long-poll subscription to this node's desired state, and reports of what
 * was applied. With the controller down the datapath keeps forwarding and the
 * link keeps retrying, with exponential backoff and full jitter so that a
 * thousand agents do not come back in step. What it receives (keys included)
 * stays in memory.
 */
import { request, type Dispatcher } from 'undici';
import { parseJson } from './config/load-config.js';
import type { Logger } from './log.js';
import type { FunctionLiveness } from './liveness/liveness.js';

export interface ControllerLinkOptions {
  /** https://host:port of the controller. */
  url: string;
  node: string;
  dispatcher: Dispatcher;
  log: Logger;
  /** How long the controller may hold a subscription open (s). */
  waitSeconds?: number;
  /** How often the agent reports while nothing changes (ms): its heartbeat. */
  reportEveryMs?: number;
  backoff?: { baseMs: number; maxMs: number };
}

/** What an agent tells the controller (no key material, ever). */
export interface NodeReport {
  /** Controller generation last received, and the one last applied. */
  desiredGeneration?: number;
  appliedGeneration?: number;
  error?: Record<string, unknown>;
  /** The SFs behind this node's ports as the agent judges them (protection and re-provisioning act on it). */
  functions?: FunctionLiveness[];
  /** Hooks, tables, counters, EFs: on the heartbeat; reports right after an apply carry only generations. */
  status?: Record<string, unknown>;
}

export interface NodeDesiredState {
  generation: number;
  config: unknown;
}

export const agentPaths = {
  desired: (node: string): string => `/esfc-agent/v1/nodes/${encodeURIComponent(node)}/desired`,
  report: (node: string): string => `/esfc-agent/v1/nodes/${encodeURIComponent(node)}/report`,
};

const sleep = (ms: number, signal: AbortSignal): Promise<void> => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

export class ControllerLink {
  private readonly stop = new AbortController();
  private generation: number | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private connected = false;
  private reporting: Promise<void> = Promise.resolve();

  constructor(private readonly o: ControllerLinkOptions) {}

  /** Runs until close(): every new desired state goes to `apply`, in order, one at a time. */
  start(apply: (d: NodeDesiredState) => Promise<void>, report: () => NodeReport): void {
    void this.subscribe(apply);
    const every = this.o.reportEveryMs ?? 5000;
    const tick = (): void => {
      this.reportTimer = setTimeout(() => { void this.send(report()).finally(tick); }, every);
    };
    tick();
  }

  private async subscribe(apply: (d: NodeDesiredState) => Promise<void>): Promise<void> {
    const { baseMs, maxMs } = this.o.backoff ?? { baseMs: 200, maxMs: 10_000 };
    let failures = 0;
    while (!this.stop.signal.aborted) {
      try {
        const res = await request(`${this.o.url}${agentPaths.desired(this.o.node)}?wait=${this.o.waitSeconds ?? 25}`, {
          dispatcher: this.o.dispatcher, signal: this.stop.signal,
          headers: this.generation === undefined ? {} : { 'if-none-match': `"g${this.generation}"` },
          headersTimeout: ((this.o.waitSeconds ?? 25) + 10) * 1000, bodyTimeout: 30_000,
        });
        const text = await res.body.text();
        if (res.statusCode !== 200 && res.statusCode !== 304) throw new Error(`controller answered ${res.statusCode}: ${text.slice(0, 300)}`);
        if (!this.connected || failures) this.o.log.log('info', 'controller_connected', { url: this.o.url, after: failures ? `${failures} failed attempts` : 'first attempt' });
        this.connected = true;
        failures = 0;
        if (res.statusCode === 304) continue;
        // parseJson: V8's syntax error would quote the body around the fault, keys included.
        const d = parseJson(text, 'the desired state from the controller') as NodeDesiredState;
        this.generation = d.generation;
        await apply(d);
      } catch (e) {
        if (this.stop.signal.aborted) return;
        if (this.connected || failures === 0) this.o.log.log('warn', 'controller_unreachable', { url: this.o.url, error: (e as Error).message, note: 'the datapath keeps forwarding; retrying' });
        this.connected = false;
        failures++;
        // Full jitter: a random wait up to the exponential bound.
        const bound = Math.min(maxMs, baseMs * 2 ** Math.min(failures, 16));
        await sleep(Math.random() * bound, this.stop.signal);
      }
    }
  }

  /** Report now (after an apply) and on the heartbeat; a failed report waits for the next. */
  send(r: NodeReport): Promise<void> {
    this.reporting = this.reporting.then(async () => {
      if (this.stop.signal.aborted) return;
      try {
        const res = await request(`${this.o.url}${agentPaths.report(this.o.node)}`, {
          method: 'POST', dispatcher: this.o.dispatcher, signal: this.stop.signal,
          headers: { 'content-type': 'application/json' }, body: JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)),
        });
        await res.body.text();
      } catch {
        // The subscription loop logs reachability; a report is simply sent again on the next beat.
      }
    });
    return this.reporting;
  }

  async close(): Promise<void> {
    this.stop.abort();
    clearTimeout(this.reportTimer);
    await this.reporting;
  }
}
