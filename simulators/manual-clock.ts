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
