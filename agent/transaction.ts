/**
 * A reconcile as a transaction: named steps, an undo log for everything done
 * before the datapath switches to the new generation, and the name of the
 * step that failed. After the switch nothing is undone (the new state is in
 * force); what is left to clean up is retried by the next reconcile.
 */
import { existsSync, readFileSync } from 'node:fs';

/** Steps of a reconcile, in order (fault injection names them too). */
export const RECONCILE_STEPS = ['environment', 'compile', 'stage-tables', 'bmv2', 'attach', 'ef', 'switch'] as const;
export type ReconcileStep = (typeof RECONCILE_STEPS)[number];

export class ReconcileError extends Error {
  readonly code = 'ESFC_RECONCILE';
  constructor(readonly step: string, override readonly cause: Error, readonly undone: string[], readonly undoFailures: string[]) {
    super(`step ${step} failed: ${cause.message}`);
  }
}

export class InjectedFault extends Error {
  readonly code = 'ESFC_FAULT_INJECTED';
  constructor(readonly point: string) {
    super(`fault injected at ${point} (ESFC_TEST_FAULTS)`);
  }
}

/**
 * Tests make a step fail on purpose: the environment variable
 * ESFC_TEST_FAULTS names a file whose lines are fault points (a step, or
 * "ef:<name>"); it is read at the start of every reconcile, so a running
 * agent can be told to fail its next one. Unset in production.
 */
export function readFaults(env: NodeJS.ProcessEnv = process.env): Set<string> {
  const file = env.ESFC_TEST_FAULTS;
  if (!file || !existsSync(file)) return new Set();
  return new Set(readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean));
}

export class Transaction {
  private readonly undos: { what: string; fn: () => void }[] = [];
  private current = 'prepare';
  private readonly started = performance.now();
  private mark = this.started;
  private readonly spent = new Map<string, number>();

  constructor(private readonly faults: ReadonlySet<string> = new Set()) {}

  enter(step: ReconcileStep | `ef:${string}` | 'report' | 'retire'): void {
    this.close();
    this.current = step;
  }

  private close(): void {
    const now = performance.now();
    const key = this.current.startsWith('ef:') ? 'ef' : this.current;
    this.spent.set(key, (this.spent.get(key) ?? 0) + now - this.mark);
    this.mark = now;
  }

  /** Milliseconds spent in each step so far, and in total: operators see where a slow reconcile goes. */
  timings(): Record<string, number> {
    this.close();
    const out: Record<string, number> = {};
    for (const [k, v] of this.spent) out[k] = Math.round(v * 10) / 10;
    out.total = Math.round((performance.now() - this.started) * 10) / 10;
    return out;
  }

  /** Throws if a test asked this point to fail. */
  fault(point: string): void {
    if (this.faults.has(point)) throw new InjectedFault(point);
  }

  readonly undo = (what: string, fn: () => void): void => {
    this.undos.push({ what, fn });
  };

  /** Undo everything registered, newest first; an undo that fails is reported and the rest still run. */
  rollback(): { undone: string[]; failures: string[] } {
    const undone: string[] = [];
    const failures: string[] = [];
    for (const u of this.undos.reverse()) {
      try {
        u.fn();
        undone.push(u.what);
      } catch (e) {
        failures.push(`${u.what}: ${(e as Error).message}`);
      }
    }
    this.undos.length = 0;
    return { undone, failures };
  }

  fail(e: unknown): ReconcileError {
    const { undone, failures } = this.rollback();
    return new ReconcileError(this.current, e instanceof Error ? e : new Error(String(e)), undone, failures);
  }
}
