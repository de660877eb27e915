/**
 * Timers at a wall-clock time, however far away. Node clamps a setTimeout
 * delay above 2^31-1 ms (24.8 days) to 1 ms, so a key valid for a month would
 * fire at once, reload, re-arm and fire again, forever. A long timer sleeps in
 * capped steps and checks the clock at each.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): NodeJS.Timeout;
  clearTimeout(t: NodeJS.Timeout): void;
}

const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t),
};

export class LongTimer {
  private handle: NodeJS.Timeout | undefined;

  /** Runs fn once at `at` (ms since the epoch); a time in the past runs it on the next tick. */
  constructor(readonly at: number, private readonly fn: () => void, private readonly clock: Clock = systemClock) {
    this.arm();
  }

  private arm(): void {
    const left = this.at - this.clock.now();
    if (left <= 0) {
      this.handle = this.clock.setTimeout(() => { this.handle = undefined; this.fn(); }, 0);
      return;
    }
    this.handle = this.clock.setTimeout(() => this.arm(), Math.min(left, MAX_TIMER_DELAY_MS));
  }

  get pending(): boolean {
    return this.handle !== undefined;
  }

  cancel(): void {
    if (this.handle) this.clock.clearTimeout(this.handle);
    this.handle = undefined;
  }
}
