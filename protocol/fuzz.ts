/**
 * Fuzz harness for the decoders: random and mutated inputs, fed in random chunks. The rule
 * (STYLE.md): only the protocol's own error types escape, and the decoder still decodes a
 * good frame afterwards. Used by `fuzz.test.ts` (100,000 inputs) and `npm run fuzz` (longer).
 */
import { FrameError, PayloadError } from './errors.js';
import { FrameDecoder, MAX_PAYLOAD_BYTES, encodeFrame, parseFrame } from './frame.js';
import { cobsDecode } from './cobs.js';
import { unpackReport } from './hid.js';
import { decodeMessage, encodeMessage, type Message } from './messages.js';
import { parseJson } from './schemas.js';

/** xorshift32: fast, seeded, good enough to pick mutations. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const SEEDS: Message[] = [
  { type: 'HELLO', deviceId: 'HCP5-000123', model: 'HCP-5', fwVersion: '1.0.0', protoVersion: 1, capabilities: 0x27, bootCount: 3, nextCounter: 42, queued: 2 },
  { type: 'WELCOME', hubTime: 1795751400000, windowId: 'A01', windowName: 'A01 综合受理', settings: { promptTimeoutS: 30, thanksS: 3, volume: 5, brightness: 8, language: 0, flags: 1 } },
  { type: 'EVAL', counter: 42, level: 5, origin: 1, txnId: '430300-20261127-0001', deviceTime: 1795751405200, promptMs: 1200 },
  { type: 'SERVICE', event: 2, txnId: 'T-1', matterCode: '000105001000', matterName: '居民身份证换领' },
  { type: 'STAFF', duty: 1, staffId: 'S007', staffName: '李明', staffTitle: '科员' },
  { type: 'EVENT', code: 1, arg: 3, text: 'stuck' },
  { type: 'ACK', status: 0, reason: 0 },
  { type: 'NACK', reason: 4, offendingType: 0x20, offendingSeq: 7 },
  { type: 'PONG', echoedTime: 1, senderTime: 2 },
];
const SEED_FRAMES = SEEDS.map((m, i) => encodeMessage(m, i + 1));
const PROBE = encodeMessage({ type: 'PING', senderTime: 123456789 });
const JSON_SEED = JSON.stringify({
  id: 'HCP5-000123-42', level: 2, reasons: ['attitude'], comment: '等候时间长', contact: null, txnId: 'T-1', windowId: 'A01', staffId: 'S007', evaluatedAt: '2026-11-27T02:30:00.000Z',
});

export interface FuzzReport {
  inputs: number;
  frames: number;
  drops: number;
  refusedMessages: number;
  /** Inputs after which something other than the protocol's errors escaped, or the probe failed. */
  failures: { input: string; problem: string }[];
}

function mutate(rand: () => number, base: Uint8Array): Uint8Array {
  const bytes = [...base];
  const edits = 1 + (rand() % 4);
  for (let e = 0; e < edits; e++) {
    const at = bytes.length ? rand() % bytes.length : 0;
    switch (rand() % 6) {
      case 0:
        bytes[at] = (bytes[at] ?? 0) ^ (1 << rand() % 8);
        break;
      case 1:
        bytes[at] = rand() & 0xff;
        break;
      case 2:
        bytes.splice(at, 0, rand() & 0xff);
        break;
      case 3:
        bytes.splice(at, 1 + (rand() % 4));
        break;
      case 4:
        bytes.splice(at, bytes.length);
        break;
      default:
        bytes.splice(at, 0, ...SEED_FRAMES[rand() % SEED_FRAMES.length]!);
    }
  }
  return Uint8Array.from(bytes);
}

function randomBytes(rand: () => number): Uint8Array {
  const length = rand() % 600;
  const out = new Uint8Array(length);
  const zeroOdds = 2 + (rand() % 60); // vary how often delimiters appear
  for (let i = 0; i < length; i++) out[i] = rand() % zeroOdds === 0 ? 0 : rand() & 0xff;
  return out;
}

/** A frame with a valid CRC around a mutated payload: exercises the message decoders, not just the CRC. */
function wellFramed(rand: () => number): Uint8Array {
  const seed = parseFrame(cobsDecode(SEED_FRAMES[rand() % SEED_FRAMES.length]!.subarray(0, -1)));
  const payload = mutate(rand, seed.payload).subarray(0, MAX_PAYLOAD_BYTES);
  const type = rand() % 8 === 0 ? rand() & 0xff : seed.type;
  return encodeFrame({ type, seq: rand() % 4 === 0 ? 0 : rand() & 0xffff, payload });
}

const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');

export function fuzz(options: { iterations: number; seed: number }): FuzzReport {
  const rand = prng(options.seed);
  const report: FuzzReport = { inputs: 0, frames: 0, drops: 0, refusedMessages: 0, failures: [] };
  const decoder = new FrameDecoder({ synced: true });
  for (let i = 0; i < options.iterations; i++) {
    const kind = rand() % 5;
    const input =
      kind === 4
        ? wellFramed(rand)
        : kind === 0
          ? randomBytes(rand)
          : mutate(rand, kind === 1 ? SEED_FRAMES[rand() % SEED_FRAMES.length]! : randomBytes(rand));
    report.inputs++;
    try {
      let at = 0;
      while (at < input.length) {
        const size = 1 + (rand() % 80);
        for (const out of decoder.push(input.subarray(at, at + size))) {
          if (out.kind === 'drop') {
            report.drops++;
            continue;
          }
          report.frames++;
          try {
            decodeMessage(out.frame);
          } catch (error) {
            if (!(error instanceof FrameError)) throw error;
            report.refusedMessages++;
          }
        }
        at += size;
      }
      if (kind === 3) {
        const report64 = new Uint8Array(64);
        report64.set(input.subarray(0, 64));
        try {
          unpackReport(report64);
        } catch (error) {
          if (!(error instanceof FrameError)) throw error;
        }
        const text = new TextDecoder().decode(mutate(rand, new TextEncoder().encode(JSON_SEED)));
        try {
          parseJson('tablet-evaluation', text);
        } catch (error) {
          if (!(error instanceof PayloadError)) throw error;
        }
      }
      // The decoder must still work: a delimiter ends whatever was left, then a good frame decodes.
      const probe = decoder.push(Uint8Array.of(0, ...PROBE));
      const last = probe[probe.length - 1];
      if (!last || last.kind !== 'frame' || decodeMessage(last.frame).message.type !== 'PING') {
        report.failures.push({ input: hexOf(input), problem: 'decoder did not decode a good frame afterwards' });
      }
    } catch (error) {
      report.failures.push({ input: hexOf(input), problem: `${(error as Error).name}: ${(error as Error).message}` });
    }
  }
  return report;
}
