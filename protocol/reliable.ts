/**
 * The reliable-message core shared by the device and the hub (PROTOCOL 1.3, 1.4). Pure and
 * clock-injected: it decides what to send and when; the caller does the I/O and the timers.
 *
 * Sender: at most `window` (8) messages unacknowledged, all within 8 seqs of the oldest; each is retransmitted after 250 ms
 * without ACK, the wait doubling up to 5 s; never given up while the link is down. Seq runs
 * 1..65535 and wraps to 1. Receiver: recognises retransmissions so they are applied once.
 */
import { LINK } from './constants.js';

export interface ReliableSenderOptions {
  /** Unacknowledged messages allowed at once. Default 8. */
  window?: number;
  /** First retransmission timeout, ms. Default 250. */
  initialTimeoutMs?: number;
  /** Largest retransmission timeout, ms. Default 5000. */
  maxTimeoutMs?: number;
}

const DEFAULTS: Required<ReliableSenderOptions> = {
  window: LINK.window,
  initialTimeoutMs: LINK.retransmitInitialMs,
  maxTimeoutMs: LINK.retransmitMaxMs,
};

/** The seq after `seq`: 1..65535, wrapping 65535 -> 1 (0 is for unreliable messages). */
export function nextSeq(seq: number): number {
  return seq >= LINK.maxSeq ? 1 : seq + 1;
}

export interface InFlight<T> {
  seq: number;
  item: T;
  /** When it was last put on the wire (ms, the caller's clock). */
  sentAt: number;
  /** When it is due again if no ACK comes. */
  dueAt: number;
  /** Current wait before the next retransmission, ms. */
  timeoutMs: number;
  /** Transmissions so far, the first included. */
  transmissions: number;
}

export interface Transmission<T> {
  seq: number;
  item: T;
  /** True for a retransmission. */
  retry: boolean;
}

export class ReliableSender<T> {
  private readonly options: Required<ReliableSenderOptions>;
  private readonly waiting: T[] = [];
  private readonly inFlight = new Map<number, InFlight<T>>();
  private lastSeq = 0;
  /** Retransmissions made since creation. */
  retransmissions = 0;

  constructor(options: ReliableSenderOptions = {}) {
    this.options = { ...DEFAULTS, ...options };
    if (!Number.isInteger(this.options.window) || this.options.window < 1) throw new TypeError(`options.window must be a positive integer, got ${this.options.window}`);
  }

  /** Messages not yet acknowledged: in flight plus waiting. */
  get size(): number {
    return this.waiting.length + this.inFlight.size;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Queues a message; it goes out on the next `poll` that has room in the window. */
  enqueue(item: T): void {
    this.waiting.push(item);
  }

  /**
   * What to put on the wire at `now`: retransmissions that are due (oldest first), then new
   * messages while the window has room (unless `allowNew` is false, e.g. while the peer asked
   * to wait). Call it after `enqueue`, `ack` and at `nextDueAt()`.
   */
  poll(now: number, allowNew = true): Transmission<T>[] {
    const out: Transmission<T>[] = [];
    for (const entry of this.inFlight.values()) {
      if (entry.dueAt > now) continue;
      entry.timeoutMs = Math.min(entry.timeoutMs * 2, this.options.maxTimeoutMs);
      entry.sentAt = now;
      entry.dueAt = now + entry.timeoutMs;
      entry.transmissions++;
      this.retransmissions++;
      out.push({ seq: entry.seq, item: entry.item, retry: true });
    }
    while (allowNew && this.waiting.length > 0 && this.hasRoom()) {
      const item = this.waiting.shift() as T;
      const seq = this.allocateSeq();
      const timeoutMs = this.options.initialTimeoutMs;
      this.inFlight.set(seq, { seq, item, sentAt: now, dueAt: now + timeoutMs, timeoutMs, transmissions: 1 });
      out.push({ seq, item, retry: false });
    }
    return out;
  }

  /**
   * An ACK for `seq` arrived. Returns the acknowledged message, or `undefined` for an ACK of
   * nothing in flight (a duplicate ACK, or one from an earlier session), which changes nothing.
   */
  ack(seq: number): T | undefined {
    const entry = this.inFlight.get(seq);
    if (!entry) return undefined;
    this.inFlight.delete(seq);
    return entry.item;
  }

  /**
   * Puts an in-flight message back at the head of the queue to be sent again later with a new
   * seq (an ACK that says "keep it and retry", PROTOCOL 1.3 reasons 3 and 4). Returns it.
   */
  requeue(seq: number): T | undefined {
    const entry = this.inFlight.get(seq);
    if (!entry) return undefined;
    this.inFlight.delete(seq);
    this.waiting.unshift(entry.item);
    return entry.item;
  }

  /** When `poll` next has something to retransmit, or `undefined` if nothing is in flight. */
  nextDueAt(): number | undefined {
    let due: number | undefined;
    for (const entry of this.inFlight.values()) if (due === undefined || entry.dueAt < due) due = entry.dueAt;
    return due;
  }

  /**
   * A new link session (PROTOCOL 1.4): every unacknowledged message is queued again, oldest
   * first, ahead of those still waiting. Nothing is dropped. The seq counter keeps running
   * rather than restarting at 1, so a late ACK from the previous session cannot match a
   * different message of the new one.
   */
  resetSession(): void {
    const unacked = [...this.inFlight.values()].sort((a, b) => this.age(b.seq) - this.age(a.seq)).map((e) => e.item);
    this.inFlight.clear();
    this.waiting.unshift(...unacked);
  }

  /** Forgets one message wherever it is (its storage failed, so it must not be sent). */
  remove(item: T): boolean {
    for (const [seq, entry] of this.inFlight) {
      if (entry.item === item) {
        this.inFlight.delete(seq);
        return true;
      }
    }
    const i = this.waiting.indexOf(item);
    if (i >= 0) this.waiting.splice(i, 1);
    return i >= 0;
  }

  /** Every unacknowledged message, oldest first (for persistence or display). */
  pending(): T[] {
    const inFlight = [...this.inFlight.values()].sort((a, b) => this.age(b.seq) - this.age(a.seq)).map((e) => e.item);
    return [...inFlight, ...this.waiting];
  }

  /** Drops everything (the messages were handed elsewhere). */
  clear(): void {
    this.waiting.length = 0;
    this.inFlight.clear();
  }

  /**
   * Room for one more: fewer than `window` in flight, and the new seq within `window` of the
   * oldest unacknowledged one. The second rule keeps a retransmission recognisable by the
   * receiver's `DuplicateFilter` even when one ACK keeps getting lost while later ones arrive.
   */
  private hasRoom(): boolean {
    if (this.inFlight.size === 0) return true;
    if (this.inFlight.size >= this.options.window) return false;
    let oldest = 0;
    for (const seq of this.inFlight.keys()) oldest = Math.max(oldest, this.age(seq));
    return oldest + 1 < this.options.window;
  }

  /** How many seqs ago `seq` was allocated (0 = the newest), robust to wrap-around. */
  private age(seq: number): number {
    return (this.lastSeq - seq + LINK.maxSeq) % LINK.maxSeq;
  }

  private allocateSeq(): number {
    let seq = nextSeq(this.lastSeq);
    // With a window far below 65535 a collision cannot happen; guard anyway.
    while (this.inFlight.has(seq)) seq = nextSeq(seq);
    this.lastSeq = seq;
    return seq;
  }
}

export interface DuplicateFilterOptions {
  /** Distinct seqs remembered. Must exceed the sender's window; default 256. */
  memory?: number;
}

/**
 * Receiver side: tells a retransmission (seen seq) from a new message. A sender only
 * retransmits what is within 8 seqs of its oldest unacknowledged message, so remembering the
 * last 256 distinct seqs of the session is ample (and tolerates a peer that only counts). Reset it with each new session.
 */
export class DuplicateFilter {
  private readonly memory: number;
  private readonly seen = new Set<number>();
  private readonly order: number[] = [];

  constructor(options: DuplicateFilterOptions = {}) {
    this.memory = options.memory ?? 256;
    if (this.memory <= LINK.window) throw new TypeError(`options.memory must exceed the window of ${LINK.window}, got ${this.memory}`);
  }

  /** Records `seq`; returns `'duplicate'` if it was already seen in this session. */
  accept(seq: number): 'new' | 'duplicate' {
    if (this.seen.has(seq)) return 'duplicate';
    this.seen.add(seq);
    this.order.push(seq);
    if (this.order.length > this.memory) this.seen.delete(this.order.shift()!);
    return 'new';
  }

  /** Whether `seq` was seen, without recording it. */
  has(seq: number): boolean {
    return this.seen.has(seq);
  }

  /** Forgets a seq, e.g. when its message could not be applied and must be accepted again. */
  forget(seq: number): void {
    if (!this.seen.delete(seq)) return;
    const i = this.order.indexOf(seq);
    if (i >= 0) this.order.splice(i, 1);
  }

  reset(): void {
    this.seen.clear();
    this.order.length = 0;
  }
}
