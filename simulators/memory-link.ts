/**
 * In-memory links for fast tests and benchmarks: a HID report pipe pair (64-byte reports each
 * way) and a byte pipe pair (two `ByteTransport` ends, like a null-modem cable). Both keep the
 * transport contract: delivery is asynchronous, bad writes are refused, and `reset()` drops
 * what is in flight.
 */
import { EventEmitter } from 'node:events';
import { HID_REPORT_BYTES } from '../protocol/index.js';
import type { ByteTransport, ByteTransportEvents, ReportIO } from '../protocol/index.js';

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

interface QueuedWrite {
  bytes: Uint8Array;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Largest piece the pipe hands over in one 'data' event. */
const MAX_PIECE_BYTES = 97;

/**
 * One end of a byte pipe. Writes are queued in order and delivered to the other end on a later
 * turn of the event loop (setImmediate), all that are queued by then in one turn. As on a
 * serial port, 'data' chunks have nothing to do with writes: the bytes of the turn are joined
 * and cut again at pseudo-random places (seeded by the end's name, so a run repeats), so a
 * reader that expects a frame per chunk fails here and not first on a real port. Each write
 * resolves once its bytes are delivered, as a serial port's resolves once the OS has them.
 * Writing before `open` or after `close` rejects.
 */
class BytePipeEnd extends EventEmitter<ByteTransportEvents> implements ByteTransport {
  peer!: BytePipeEnd;
  private state: 'new' | 'open' | 'closed' = 'new';
  private queue: QueuedWrite[] = [];
  private scheduled = false;
  private random: number;

  constructor(readonly name: string) {
    super();
    this.random = [...name].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261) >>> 0 || 1;
  }

  open(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new Error(`${this.name} is closed`));
    return new Promise((resolve) =>
      setImmediate(() => {
        if (this.state === 'new') this.state = 'open';
        resolve();
      }),
    );
  }

  write(bytes: Uint8Array): Promise<void> {
    if (!(bytes instanceof Uint8Array)) return Promise.reject(new TypeError(`bytes must be a Uint8Array, got ${typeof bytes}`));
    if (this.state !== 'open') return Promise.reject(new Error(`${this.name} is ${this.state === 'new' ? 'not open' : 'closed'}`));
    return new Promise((resolve, reject) => {
      this.queue.push({ bytes: Uint8Array.from(bytes), resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.deliver());
    });
  }

  close(): Promise<void> {
    this.shut(undefined);
    this.peer.shut(new Error(`${this.peer.name}: the other end closed`));
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** Drops the bytes queued on this end; their writes resolve, as bytes lost on a wire do. */
  drop(): void {
    const dropped = this.queue;
    this.queue = [];
    for (const w of dropped) w.resolve();
  }

  private deliver(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    const bytes = new Uint8Array(batch.reduce((n, w) => n + w.bytes.length, 0));
    let at = 0;
    for (const w of batch) {
      bytes.set(w.bytes, at);
      at += w.bytes.length;
    }
    for (let start = 0; start < bytes.length && this.peer.state !== 'closed'; ) {
      const end = Math.min(bytes.length, start + 1 + (this.nextRandom() % MAX_PIECE_BYTES));
      this.peer.emit('data', bytes.slice(start, end));
      start = end;
    }
    for (const w of batch) w.resolve();
  }

  /** xorshift32: the cut points, the same for every run of the same pipe. */
  private nextRandom(): number {
    let x = this.random;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.random = x >>> 0;
    return this.random;
  }

  private shut(error: Error | undefined): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    const pending = this.queue;
    this.queue = [];
    for (const w of pending) w.reject(new Error(`${this.name} closed before the write was delivered`));
    setImmediate(() => this.emit('close', error));
  }
}

export interface BytePipePair {
  a: ByteTransport;
  b: ByteTransport;
  /** Drops bytes in flight both ways. */
  reset(): void;
}

/**
 * Two linked byte transports: what is written to one is read from the other. Closing either
 * end closes both: 'close' without an error on the end asked to close, with one on the other
 * (to it, an unplug).
 */
export function bytePipePair(name = 'mem'): BytePipePair {
  const a = new BytePipeEnd(`${name}:a`);
  const b = new BytePipeEnd(`${name}:b`);
  a.peer = b;
  b.peer = a;
  return {
    a,
    b,
    reset: () => {
      a.drop();
      b.drop();
    },
  };
}
