/**
 * Injected time for the hub (STYLE "Boundaries": time is injected everywhere it matters), so
 * the sync's backoff, republishing, deadlines and pruning run under a fake clock in tests.
 */
/** A timer; `unref` lets the process exit while it waits (real timers only). */
export type TimerHandle = { readonly id: unknown; unref?(): void };

export interface Clock {
  /** Wall clock, epoch ms. */
  now(): number;
  setTimeout(run: () => void, ms: number): TimerHandle;
  setInterval(run: () => void, ms: number): TimerHandle;
  clear(timer: TimerHandle | undefined): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (run, ms) => {
    const t = setTimeout(run, ms);
    return { id: t, unref: () => t.unref() };
  },
  setInterval: (run, ms) => {
    const t = setInterval(run, ms);
    return { id: t, unref: () => t.unref() };
  },
  clear: (timer) => {
    if (timer) clearTimeout(timer.id as NodeJS.Timeout); // clearTimeout clears intervals too
  },
};

/** The clock's time as the ISO-8601 instant every record carries. */
export function isoNow(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}

/** Timers owned by one module, cleared together when it stops. */
export class Timers {
  private readonly handles = new Set<TimerHandle>();
  constructor(private readonly clock: Clock) {}

  every(ms: number, run: () => void): void {
    this.handles.add(this.clock.setInterval(run, ms));
  }

  after(ms: number, run: () => void): TimerHandle {
    const handle = this.clock.setTimeout(() => {
      this.handles.delete(handle);
      run();
    }, ms);
    this.handles.add(handle);
    return handle;
  }

  cancel(handle: TimerHandle | undefined): void {
    if (!handle) return;
    this.handles.delete(handle);
    this.clock.clear(handle);
  }

  clearAll(): void {
    for (const h of this.handles) this.clock.clear(h);
    this.handles.clear();
  }
}
