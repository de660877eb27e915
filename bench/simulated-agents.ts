/**
 * Simulated agents for the control-plane benchmark: real TLS clients with
 * their own enrolled certificates that long-poll their node's desired state
 * and report it applied at once, so what is measured is the controller's
 * share. They run in a worker thread, apart from the controller's event loop,
 * as agents on other machines would; arrival times come back as epoch
 * milliseconds of the shared clock.
 */
import { Worker } from 'node:worker_threads';

export interface SimulatedAgentSpec {
  node: string;
  /** Path of the agent's key + certificate bundle. */
  bundle: string;
}

/** Worker -> main: an agent received generation `generation` of its node at `at` (ms since the epoch, sub-ms). */
export interface Arrival {
  node: string;
  generation: number;
  at: number;
}

export const now = (): number => performance.timeOrigin + performance.now();

export class SimulatedAgents {
  /** node -> generation -> arrival time. */
  readonly received = new Map<string, Map<number, number>>();
  private readonly worker: Worker;
  private readonly ready: Promise<void>;

  constructor(controller: string, agents: readonly SimulatedAgentSpec[]) {
    this.worker = new Worker(new URL('./simulated-agents-worker.js', import.meta.url), { workerData: { controller, agents } });
    for (const a of agents) this.received.set(a.node, new Map());
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('error', reject);
      this.worker.on('message', (m: Arrival | 'ready') => {
        if (m === 'ready') return resolve();
        this.received.get(m.node)?.set(m.generation, m.at);
      });
    });
  }

  started(): Promise<void> {
    return this.ready;
  }

  /** The newest generation each agent has. */
  latest(): Map<string, number> {
    return new Map([...this.received].map(([n, g]) => [n, g.size ? Math.max(...g.keys()) : -1]));
  }

  /** Resolves when every agent has a generation above `after[node]`; returns the arrival times. */
  async waitAll(after: ReadonlyMap<string, number>, timeoutMs: number): Promise<number[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const arrived: number[] = [];
      for (const [n, gens] of this.received) {
        const t = [...gens].find(([g]) => g > (after.get(n) ?? -1));
        if (t) arrived.push(t[1]);
      }
      if (arrived.length === this.received.size) return arrived;
      if (Date.now() > deadline) throw new Error(`${this.received.size - arrived.length} of ${this.received.size} simulated agents never got the change`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
