/**
 * A clock the test moves by hand (the hub's `Clock`): `advance(ms)` runs every timer that
 * falls due, in time order, so a minute of backoff or a week of deadlines takes no real time.
 */
import type { Clock, TimerHandle } from '../hub/clock.js';

interface Timer {
  handle: TimerHandle;
  at: number;
  every: number | undefined;
  run: () => void;
}

export class ManualClock implements Clock {
  private timers: Timer[] = [];
  private seq = 0;

  constructor(private time = Date.parse('2026-12-01T02:00:00Z')) {}

  now(): number {
    return this.time;
  }

  setTimeout(run: () => void, ms: number): TimerHandle {
    return this.add(run, ms, undefined);
  }

  setInterval(run: () => void, ms: number): TimerHandle {
    return this.add(run, ms, Math.max(1, ms));
  }

  clear(handle: TimerHandle | undefined): void {
    this.timers = this.timers.filter((t) => t.handle !== handle);
  }

  /** Timers waiting to run. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward, running what falls due (timers added meanwhile included). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const next = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.time = Math.max(this.time, next.at);
      if (next.every === undefined) this.clear(next.handle);
      else next.at += next.every;
      next.run();
    }
    this.time = end;
  }

  /**
   * Moves time forward at once, as a machine resuming from a suspend sees it: each timer that
   * fell due runs once, in time order (an interval then goes on every `ms` from the new time).
   * Days pass without running a 1-second interval 86,400 times a day.
   */
  jump(ms: number): void {
    this.time += ms;
    const due = this.timers.filter((t) => t.at <= this.time).sort((a, b) => a.at - b.at);
    for (const t of due) {
      if (!this.timers.includes(t)) continue; // cleared by one that ran before it
      if (t.every === undefined) this.clear(t.handle);
      else t.at = this.time + t.every;
      t.run();
    }
  }

  /** Sets the wall clock (a clock jump); runs nothing. */
  set(ms: number): void {
    this.time = ms;
  }

  private add(run: () => void, ms: number, every: number | undefined): TimerHandle {
    const handle = { id: ++this.seq };
    this.timers.push({ handle, at: this.time + Math.max(0, ms), every, run });
    return handle;
  }
}
