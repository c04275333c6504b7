import { describe, expect, it } from 'vitest';
import { DuplicateFilter, ReliableSender, nextSeq, type Transmission } from './index.js';

/** A lossy link under fake time: the sender's transmissions reach a receiver that ACKs what it gets. */
function simulate(options: { messages: number; lose: (t: Transmission<number>, n: number) => boolean; loseAck?: (seq: number, n: number) => boolean; reorder?: boolean }) {
  const sender = new ReliableSender<number>();
  const filter = new DuplicateFilter();
  const applied: number[] = [];
  let now = 0;
  let sent = 0;
  let acks = 0;
  for (let i = 1; i <= options.messages; i++) sender.enqueue(i);
  for (let step = 0; step < 100_000 && sender.size > 0; step++) {
    let batch = sender.poll(now);
    if (options.reorder) batch = [...batch].reverse();
    const toAck: number[] = [];
    for (const t of batch) {
      if (options.lose(t, sent++)) continue;
      if (filter.accept(t.seq) === 'new') applied.push(t.item);
      toAck.push(t.seq); // a receiver ACKs duplicates too: the first ACK may have been lost
    }
    if (options.reorder) toAck.reverse();
    for (const seq of toAck) if (!options.loseAck?.(seq, acks++)) sender.ack(seq);
    now = sender.nextDueAt() ?? now;
  }
  return { applied, sender, now };
}

describe('ReliableSender', () => {
  it('keeps at most 8 unacknowledged messages in flight', () => {
    const sender = new ReliableSender<number>();
    for (let i = 0; i < 20; i++) sender.enqueue(i);
    expect(sender.poll(0).map((t) => t.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(sender.poll(1)).toEqual([]);
    sender.ack(3);
    expect(sender.poll(2)).toEqual([]); // seq 9 would be 9 ahead of the unacknowledged seq 1
    sender.ack(1);
    expect(sender.poll(3).map((t) => [t.seq, t.item])).toEqual([[9, 8]]);
  });

  it('retransmits after 250 ms, doubling the wait up to 5 s, and never gives up', () => {
    const sender = new ReliableSender<string>();
    sender.enqueue('eval');
    expect(sender.poll(0)).toHaveLength(1);
    const times: number[] = [];
    for (let i = 0; i < 9; i++) {
      const due = sender.nextDueAt()!;
      expect(sender.poll(due - 1)).toEqual([]);
      const out = sender.poll(due);
      expect(out).toEqual([{ seq: 1, item: 'eval', retry: true }]);
      times.push(due);
    }
    const gaps = times.map((t, i) => t - (times[i - 1] ?? 0));
    expect(gaps).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
    expect(sender.retransmissions).toBe(9);
  });

  it('wraps seq from 65535 to 1, never using 0', () => {
    expect(nextSeq(65535)).toBe(1);
    expect(nextSeq(0)).toBe(1);
    const sender = new ReliableSender<number>({ window: 1 });
    const seqs: number[] = [];
    for (let i = 0; i < 65540; i++) {
      sender.enqueue(i);
      const [t] = sender.poll(i);
      seqs.push(t!.seq);
      sender.ack(t!.seq);
    }
    expect(seqs.slice(65533, 65537)).toEqual([65534, 65535, 1, 2]);
    expect(seqs).not.toContain(0);
  });

  it('ignores duplicate ACKs and ACKs of nothing', () => {
    const sender = new ReliableSender<string>();
    sender.enqueue('a');
    sender.enqueue('b');
    sender.poll(0);
    expect(sender.ack(1)).toBe('a');
    expect(sender.ack(1)).toBeUndefined();
    expect(sender.ack(999)).toBeUndefined();
    expect(sender.size).toBe(1);
  });

  it('a new session sends the unacknowledged messages again, oldest first, with fresh seqs, dropping none', () => {
    const sender = new ReliableSender<string>({ window: 2 });
    for (const m of ['a', 'b', 'c']) sender.enqueue(m);
    sender.poll(0); // a=1, b=2 in flight
    sender.ack(1);
    sender.enqueue('d');
    sender.poll(1); // c=3
    sender.resetSession();
    expect(sender.pending()).toEqual(['b', 'c', 'd']);
    expect(sender.poll(2).map((t) => [t.seq, t.item, t.retry])).toEqual([
      [4, 'b', false],
      [5, 'c', false],
    ]);
    expect(sender.ack(2)).toBeUndefined(); // a late ACK of the old session's seq 2 matches nothing
  });

  it('requeue keeps a message for later (ACK reason 3 or 4)', () => {
    const sender = new ReliableSender<string>();
    sender.enqueue('a');
    sender.poll(0);
    expect(sender.requeue(1)).toBe('a');
    expect(sender.inFlightCount).toBe(0);
    expect(sender.pending()).toEqual(['a']);
  });

  it('delivers every message once over a link losing 30% of frames and ACKs', () => {
    const { applied } = simulate({ messages: 500, lose: (_t, n) => (n * 7919) % 10 < 3, loseAck: (_s, n) => (n * 104729) % 10 < 3 });
    expect(applied).toHaveLength(500);
    expect(new Set(applied).size).toBe(500);
  });

  it('while the oldest ACK keeps getting lost, the sender stays within 8 seqs of it', () => {
    const sender = new ReliableSender<number>();
    for (let i = 1; i <= 40; i++) sender.enqueue(i);
    const filter = new DuplicateFilter({ memory: 9 }); // just above the window: the tightest receiver
    const applied: number[] = [];
    let now = 0;
    for (let step = 0; step < 200; step++) {
      for (const t of sender.poll(now)) {
        if (filter.accept(t.seq) === 'new') applied.push(t.item);
        if (t.item !== 1 || step > 50) sender.ack(t.seq); // item 1's ACK is lost for a while
      }
      now = sender.nextDueAt() ?? now;
    }
    expect(applied).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('delivers every message once when transmissions and ACKs arrive reordered', () => {
    const { applied } = simulate({ messages: 300, lose: (_t, n) => n % 5 === 0, reorder: true });
    expect([...applied].sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  });

  it('delivers across the seq wrap without mistaking new messages for duplicates', () => {
    const { applied } = simulate({ messages: 70_000, lose: (_t, n) => n % 97 === 0 });
    expect(applied).toHaveLength(70_000);
  });
});

describe('DuplicateFilter', () => {
  it('recognises a retransmission and forgets after reset', () => {
    const f = new DuplicateFilter();
    expect(f.accept(5)).toBe('new');
    expect(f.accept(5)).toBe('duplicate');
    f.reset();
    expect(f.accept(5)).toBe('new');
  });

  it('remembers more seqs than the window of 8, and forget() lets one be accepted again', () => {
    const f = new DuplicateFilter();
    for (let s = 1; s <= 256; s++) f.accept(s);
    expect(f.accept(1)).toBe('duplicate');
    f.accept(257);
    expect(f.has(1)).toBe(false);
    f.forget(20);
    expect(f.accept(20)).toBe('new');
    expect(() => new DuplicateFilter({ memory: 8 })).toThrow(/memory/);
  });
});
