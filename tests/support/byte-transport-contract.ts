/**
 * The `ByteTransport` contract (protocol/transport.ts), written once and run against every
 * implementation, as serialport runs one binding suite against its mock and the real port:
 * the in-memory pipe that fast tests use must hold everything the real serial port holds.
 *
 * Every wait has a deadline, and a promise that never settles fails the test as "pending"
 * instead of hanging it.
 */
import { describe, expect, it } from 'vitest';
import type { ByteTransport } from '../../protocol/index.js';
import { cleanupsAfterEach, type Cleanups } from './cleanup.js';

export interface BytePair {
  /** Two linked ends, not opened yet: what is written to one is read from the other. */
  a: ByteTransport;
  b: ByteTransport;
  /** Takes `a`'s peer away without `a` asking (the other end closes, a cable is pulled, socat dies). */
  unplug(): Promise<void>;
}

const DEADLINE_MS = 5000;

type Settled<T> = { status: 'resolved'; value: T } | { status: 'rejected'; error: Error } | { status: 'pending' };

/** How `promise` settles within `ms`: 'pending' if it has not by then. */
function settle<T>(promise: Promise<T>, ms = DEADLINE_MS): Promise<Settled<T>> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ status: 'pending' }), ms);
    promise.then(
      (value) => (clearTimeout(timer), resolve({ status: 'resolved', value })),
      (error: Error) => (clearTimeout(timer), resolve({ status: 'rejected', error })),
    );
  });
}

/** Everything an end receives, and a wait for the first `n` bytes of it. */
function receiver(t: ByteTransport) {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const waiters = new Set<() => void>();
  t.on('data', (chunk) => {
    chunks.push(Uint8Array.from(chunk));
    total += chunk.length;
    for (const w of [...waiters]) w();
  });
  const bytes = () => concat(chunks);
  return {
    bytes,
    chunks,
    /** Resolves with the bytes once `n` have arrived; rejects after the deadline. */
    received: (n: number) =>
      new Promise<Uint8Array>((resolve, reject) => {
        const check = () => {
          if (total < n) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(bytes());
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`received ${total} of ${n} bytes within ${DEADLINE_MS} ms`));
        }, DEADLINE_MS);
        waiters.add(check);
        check();
      }),
  };
}

/** The first 'close' of an end, with its arguments. */
function firstClose(t: ByteTransport): Promise<unknown[]> {
  return new Promise((resolve) => t.on('close', (...args: unknown[]) => resolve(args)));
}

/** Every byte value, in a pattern that does not repeat with a short period. */
function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) & 0xff;
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Runs the contract against the pairs `makePair` builds (registering their clean-up). */
export function byteTransportContract(name: string, makePair: (cleanups: Cleanups) => Promise<BytePair>): void {
  describe(`ByteTransport contract: ${name}`, () => {
    const cleanups = cleanupsAfterEach();

    async function opened(): Promise<BytePair> {
      const pair = await makePair(cleanups);
      expect(await settle(pair.a.open())).toEqual({ status: 'resolved', value: undefined });
      expect(await settle(pair.b.open())).toEqual({ status: 'resolved', value: undefined });
      return pair;
    }

    it('open resolves on both ends', async () => {
      await opened();
    });

    it('bytes written on one end arrive in order on the other, both ways, however they are split', async () => {
      const { a, b } = await opened();
      const atA = receiver(a);
      const atB = receiver(b);
      const sizes = [1, 2, 3, 7, 64, 255, 256, 1000, 1, 4096, 13, 2048, 1];
      const toB = sizes.map((n, i) => pattern(n, 101 + i));
      const toA = sizes.map((n, i) => pattern(n, 202 + i));
      const writes = async (t: ByteTransport, parts: Uint8Array[]) => {
        for (const part of parts) expect(await settle(t.write(part)), `write of ${part.length} bytes`).toEqual({ status: 'resolved', value: undefined });
      };
      await Promise.all([writes(a, toB), writes(b, toA)]);
      const wantB = concat(toB);
      const wantA = concat(toA);
      expect(Buffer.from(await atB.received(wantB.length)).equals(wantB), 'a -> b').toBe(true);
      expect(Buffer.from(await atA.received(wantA.length)).equals(wantA), 'b -> a').toBe(true);
    });

    it('concurrent writes all resolve, and arrive whole and in call order, never interleaved', async () => {
      const { a, b } = await opened();
      const atB = receiver(b);
      // each write a block of its own index, long enough to be cut into several OS writes
      const parts = Array.from({ length: 32 }, (_, i) => new Uint8Array(700 + i).fill(i));
      const results = await Promise.all(parts.map((p) => settle(a.write(p))));
      expect(results.every((r) => r.status === 'resolved'), JSON.stringify(results.filter((r) => r.status !== 'resolved'))).toBe(true);
      const want = concat(parts);
      const got = await atB.received(want.length);
      const firstDifference = got.findIndex((v, i) => v !== want[i]);
      expect(firstDifference, 'first byte out of place').toBe(-1);
      expect(got.length).toBe(want.length);
    });

    it("close resolves and emits 'close' without an error", async () => {
      const { a } = await opened();
      const closed = firstClose(a);
      expect(await settle(a.close())).toEqual({ status: 'resolved', value: undefined });
      const args = await settle(closed);
      expect(args.status, "'close' emitted").toBe('resolved');
      expect(args.status === 'resolved' && args.value[0]).toBeUndefined();
    });

    it('writing after close rejects', async () => {
      const { a } = await opened();
      await a.close();
      const result = await settle(a.write(Uint8Array.of(1, 2, 3)));
      expect(result.status, 'a write after close settles as rejected').toBe('rejected');
      expect(result.status === 'rejected' && result.error).toBeInstanceOf(Error);
    });

    it("the peer going away (closed, unplugged) emits 'close' with an error", async () => {
      const pair = await opened();
      const closed = firstClose(pair.a);
      await pair.unplug();
      const args = await settle(closed);
      expect(args.status, "'close' emitted").toBe('resolved');
      expect(args.status === 'resolved' && args.value[0]).toBeInstanceOf(Error);
    });
  });
}
