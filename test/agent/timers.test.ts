/** Key-expiry timers at wall-clock times weeks away (Node clamps setTimeout above 2^31-1 ms to 1 ms). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LongTimer, MAX_TIMER_DELAY_MS, type Clock } from '../../agent/timers.js';

/** A clock the test moves by hand; setTimeout records what was asked and fires when time passes it. */
function fakeClock(start: number) {
  let now = start;
  let next = 1;
  const pending = new Map<number, { at: number; fn: () => void; ms: number }>();
  const asked: number[] = [];
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      assert.ok(ms <= MAX_TIMER_DELAY_MS, `asked for a ${ms} ms timeout, which Node would clamp to 1 ms`);
      asked.push(ms);
      const id = next++;
      pending.set(id, { at: now + ms, fn, ms });
      return id as unknown as NodeJS.Timeout;
    },
    clearTimeout: (t) => { pending.delete(t as unknown as number); },
  };
  const advance = (ms: number): void => {
    const until = now + ms;
    for (;;) {
      const due = [...pending.entries()].filter(([, p]) => p.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      pending.delete(due[0]);
      now = due[1].at;
      due[1].fn();
    }
    now = until;
  };
  return { clock, advance, asked, pending };
}

test('a key valid for a month fires once, at its time, after re-arming in capped steps', () => {
  const t0 = Date.parse('2026-12-03T12:00:00Z');
  const at = t0 + 31 * 24 * 3600 * 1000;
  const { clock, advance, asked } = fakeClock(t0);
  let fired = 0;
  const timer = new LongTimer(at, () => { fired++; }, clock);
  advance(1000);
  assert.equal(fired, 0, 'not at once (the clamped-delay bug fired within 1 ms, forever)');
  advance(at - t0 - 1001);
  assert.equal(fired, 0, 'not a millisecond early');
  advance(1);
  assert.equal(fired, 1);
  advance(60 * 24 * 3600 * 1000);
  assert.equal(fired, 1, 'exactly once');
  assert.equal(timer.pending, false);
  assert.ok(asked.length >= 2 && asked.every((ms) => ms <= MAX_TIMER_DELAY_MS), `delays ${asked.join(', ')}`);
});

test('a time already past fires on the next tick; cancel stops a far timer', () => {
  const { clock, advance } = fakeClock(1_000_000);
  let fired = 0;
  new LongTimer(0, () => { fired++; }, clock);
  advance(0);
  assert.equal(fired, 1);
  const far = new LongTimer(1_000_000 + 40 * 24 * 3600 * 1000, () => { fired++; }, clock);
  advance(30 * 24 * 3600 * 1000);
  far.cancel();
  advance(30 * 24 * 3600 * 1000);
  assert.equal(fired, 1);
});
