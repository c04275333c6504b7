/**
 * In-memory links for fast tests: a HID report pipe pair (64-byte reports each way). It keeps
 * the transport contract: reads resolve asynchronously, writes of the wrong size are refused,
 * and `reset()` drops what is in flight.
 */
import { HID_REPORT_BYTES } from '../protocol/index.js';
import type { ReportIO } from '../device/transport.js';

class ReportQueue {
  private readonly items: (Uint8Array | null)[] = [];
  private readonly waiters: ((r: Uint8Array | null) => void)[] = [];
  put(report: Uint8Array | null): void {
    const waiter = this.waiters.shift();
    if (waiter) setImmediate(() => waiter(report));
    else this.items.push(report);
  }
  take(): Promise<Uint8Array | null> {
    if (this.items.length > 0) {
      const item = this.items.shift()!;
      return new Promise((resolve) => setImmediate(() => resolve(item)));
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  clear(): void {
    this.items.length = 0;
  }
}

export interface ReportPipePair {
  a: ReportIO;
  b: ReportIO;
  /** Drops reports in flight both ways. */
  reset(): void;
}

export function reportPipePair(): ReportPipePair {
  const toA = new ReportQueue();
  const toB = new ReportQueue();
  const end = (inbox: ReportQueue, outbox: ReportQueue): ReportIO => {
    let closed = false;
    return {
      read: () => (closed ? Promise.resolve(null) : inbox.take()),
      write: async (report) => {
        if (closed) throw new Error('report pipe closed');
        if (report.length !== HID_REPORT_BYTES) throw new RangeError(`a report is ${HID_REPORT_BYTES} bytes, got ${report.length}`);
        outbox.put(Uint8Array.from(report));
      },
      close: async () => {
        closed = true;
        inbox.put(null);
        outbox.put(null);
      },
    };
  };
  return {
    a: end(toA, toB),
    b: end(toB, toA),
    reset: () => {
      toA.clear();
      toB.clear();
    },
  };
}
