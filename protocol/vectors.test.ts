/**
 * The named vectors in protocol/vectors/*.json, checked both ways and, for streams, split at
 * every byte boundary. The files are the cross-language contract; this suite keeps the
 * TypeScript implementation honest against them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bytesToHex, hexToBytes } from './cli/hex.js';
import {
  FrameDecoder,
  FrameError,
  cobsDecode,
  cobsEncode,
  crc16,
  decodeFrame,
  decodeMessage,
  encodeMessage,
  messageFromJson,
  packReports,
  packetToJson,
  unpackReport,
  type DecoderOutput,
} from './index.js';

interface VectorFile<V> {
  description: string;
  vectors: V[];
}
function load<V>(name: string): V[] {
  const file = JSON.parse(readFileSync(new URL(`./vectors/${name}.json`, import.meta.url), 'utf8')) as VectorFile<V>;
  expect(file.vectors.length).toBeGreaterThan(0);
  return file.vectors;
}

type Out = { drop: string; bytes: number } | { message: Record<string, unknown> };
function summarise(outputs: DecoderOutput[]): Out[] {
  return outputs.map((o) => (o.kind === 'drop' ? { drop: o.reason, bytes: o.bytes } : { message: packetToJson(decodeMessage(o.frame)) }));
}

/** Feeds `bytes` to a fresh decoder in the given chunks. */
function feed(chunks: Uint8Array[], synced: boolean): Out[] {
  const decoder = new FrameDecoder({ synced });
  return summarise(chunks.flatMap((chunk) => decoder.push(chunk)));
}

describe('crc16 vectors', () => {
  for (const v of load<{ name: string; hex: string; crc: string }>('crc16')) {
    it(v.name, () => expect(crc16(hexToBytes(v.hex)).toString(16).padStart(4, '0')).toBe(v.crc));
  }
  it('includes the CCITT-FALSE check value 0x29b1 of "123456789"', () => {
    expect(crc16(new TextEncoder().encode('123456789'))).toBe(0x29b1);
  });
});

describe('cobs vectors', () => {
  for (const v of load<{ name: string; decoded: string; encoded: string }>('cobs')) {
    it(v.name, () => {
      expect(bytesToHex(cobsEncode(hexToBytes(v.decoded)))).toBe(v.encoded);
      expect(bytesToHex(cobsDecode(hexToBytes(v.encoded)))).toBe(v.decoded);
    });
  }
});

describe('message vectors', () => {
  const vectors = load<{ name: string; hex: string; message: Record<string, unknown> }>('messages');

  it('cover every message type', () => {
    const types = new Set(vectors.map((v) => v.message['type']));
    expect([...types].sort()).toEqual(['ACK', 'EVAL', 'EVENT', 'HELLO', 'HUB_STATE', 'NACK', 'PING', 'PONG', 'SELF_TEST', 'SERVICE', 'SETTINGS', 'STAFF', 'STATE', 'WELCOME']);
  });

  for (const v of vectors) {
    it(`${v.name}: decodes`, () => {
      const bytes = hexToBytes(v.hex);
      expect(bytes[bytes.length - 1]).toBe(0);
      expect(packetToJson(decodeMessage(decodeFrame(bytes.subarray(0, -1))))).toEqual(v.message);
    });
    it(`${v.name}: encodes to the same bytes`, () => {
      const { message, seq } = messageFromJson(v.message);
      expect(bytesToHex(encodeMessage(message, seq))).toBe(v.hex);
    });
  }

  it('all frames in one stream, split at every byte boundary, decode the same', () => {
    const stream = hexToBytes(vectors.map((v) => v.hex).join(''));
    const expected = vectors.map((v) => ({ message: v.message }));
    expect(feed([stream], true)).toEqual(expected);
    for (let cut = 1; cut < stream.length; cut++) {
      expect(feed([stream.subarray(0, cut), stream.subarray(cut)], true)).toEqual(expected);
    }
    expect(feed([...stream].map((b) => new Uint8Array([b])), true)).toEqual(expected);
  });
});

describe('truncation vectors', () => {
  for (const v of load<{ name: string; input: Record<string, unknown>; hex: string; message: Record<string, unknown> }>('truncation')) {
    it(v.name, () => {
      const { message, seq } = messageFromJson(v.input);
      expect(bytesToHex(encodeMessage(message, seq))).toBe(v.hex);
      expect(feed([hexToBytes(v.hex)], true)).toEqual([{ message: v.message }]);
    });
  }
});

describe('invalid vectors', () => {
  for (const v of load<{ name: string; hex: string; expect: { drop?: string; invalid?: string } }>('invalid')) {
    it(`${v.name} is refused as ${v.expect.drop ?? v.expect.invalid}`, () => {
      const decoder = new FrameDecoder({ synced: true });
      const outputs = decoder.push(hexToBytes(v.hex));
      expect(outputs).toHaveLength(1);
      const out = outputs[0]!;
      if (v.expect.drop) {
        expect(out).toMatchObject({ kind: 'drop', reason: v.expect.drop });
        expect(decoder.stats.drops[v.expect.drop as keyof typeof decoder.stats.drops]).toBe(1);
      } else {
        expect(out.kind).toBe('frame');
        if (out.kind !== 'frame') return;
        let caught: unknown;
        try {
          decodeMessage(out.frame);
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(FrameError);
        expect((caught as FrameError).code).toBe(v.expect.invalid);
      }
    });
  }
});

describe('stream vectors', () => {
  for (const v of load<{ name: string; synced: boolean; hex: string; outputs: Out[] }>('streams')) {
    it(`${v.name}, split at every byte boundary`, () => {
      const stream = hexToBytes(v.hex);
      expect(feed([stream], v.synced)).toEqual(v.outputs);
      for (let cut = 1; cut < stream.length; cut++) {
        expect(feed([stream.subarray(0, cut), stream.subarray(cut)], v.synced)).toEqual(v.outputs);
      }
    });
  }
});

describe('hid vectors', () => {
  for (const v of load<{ name: string; stream: string; reports: string[] }>('hid')) {
    it(v.name, () => {
      expect(packReports(hexToBytes(v.stream)).map(bytesToHex)).toEqual(v.reports);
      const joined = v.reports.map((r) => bytesToHex(unpackReport(hexToBytes(r)))).join('');
      expect(joined).toBe(v.stream);
    });
  }
});
