import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameError, MAX_ENCODED_FRAME_BYTES, MAX_PAYLOAD_BYTES, cobsDecode, cobsEncode, decodeFrame, encodeFrame, encodeMessage } from './index.js';

const ping = (t: number) => encodeMessage({ type: 'PING', senderTime: t });
const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

describe('encodeFrame', () => {
  it('ends with the only 0x00 of the frame', () => {
    const bytes = encodeFrame({ type: 0x21, seq: 0x0100, payload: new Uint8Array([0, 0, 0, 0]) });
    expect(bytes.indexOf(0)).toBe(bytes.length - 1);
  });

  it('refuses a payload over 240 bytes', () => {
    expect(() => encodeFrame({ type: 1, seq: 0, payload: new Uint8Array(MAX_PAYLOAD_BYTES + 1) })).toThrow(FrameError);
    expect(encodeFrame({ type: 1, seq: 0, payload: new Uint8Array(MAX_PAYLOAD_BYTES) }).length).toBeLessThanOrEqual(MAX_ENCODED_FRAME_BYTES + 1);
  });

  it('refuses a seq outside u16 with a TypeError naming it', () => {
    expect(() => encodeFrame({ type: 1, seq: 70000, payload: new Uint8Array() })).toThrow(/frame.seq/);
  });

  it('round-trips header and payload', () => {
    const frame = { type: 0x20, seq: 65535, payload: new Uint8Array([1, 0, 2, 0, 0, 3]) };
    const bytes = encodeFrame(frame);
    expect(decodeFrame(bytes.subarray(0, -1))).toEqual(frame);
  });
});

describe('cobs', () => {
  it('refuses a zero byte inside a block, naming the offset', () => {
    const err = (() => {
      try {
        cobsDecode(new Uint8Array([3, 1, 0, 2]));
      } catch (e) {
        return e as FrameError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(FrameError);
    expect(err?.code).toBe('cobs');
    expect(err?.offset).toBe(2);
  });

  it('round-trips every length up to 600 with zeros sprinkled in', () => {
    for (let n = 0; n <= 600; n++) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i % 7 === 3 ? 0 : (i * 31 + 1) & 0xff));
      expect(cobsDecode(cobsEncode(data))).toEqual(data);
    }
  });
});

describe('FrameDecoder', () => {
  it('returns nothing while a frame is incomplete, then the frame', () => {
    const decoder = new FrameDecoder({ synced: true });
    const bytes = ping(7);
    expect(decoder.push(bytes.subarray(0, 5))).toEqual([]);
    expect(decoder.pending).toBe(5);
    const out = decoder.push(bytes.subarray(5));
    expect(out).toHaveLength(1);
    expect(out[0]?.kind).toBe('frame');
    expect(decoder.pending).toBe(0);
  });

  it('starts unsynced: discards bytes before the first delimiter, counted as resync', () => {
    const decoder = new FrameDecoder();
    const out = decoder.push(concat(ping(1).subarray(3), ping(2)));
    expect(out.map((o) => o.kind)).toEqual(['drop', 'frame']);
    expect(decoder.stats.drops.resync).toBe(1);
    expect(decoder.stats.frames).toBe(1);
  });

  it('an unsynced decoder whose first byte is a delimiter drops nothing', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(concat(new Uint8Array([0]), ping(1))).map((o) => o.kind)).toEqual(['frame']);
    expect(decoder.stats.drops.resync).toBe(0);
  });

  it('drops an oversized run and recovers at the next delimiter', () => {
    const decoder = new FrameDecoder({ synced: true });
    const junk = new Uint8Array(MAX_ENCODED_FRAME_BYTES * 3).fill(0x42);
    const out = [...decoder.push(junk.subarray(0, 100)), ...decoder.push(junk.subarray(100)), ...decoder.push(concat(new Uint8Array([0]), ping(3)))];
    expect(out.map((o) => (o.kind === 'drop' ? `${o.reason}:${o.bytes}` : o.kind))).toEqual([`long:${junk.length}`, 'frame']);
    expect(decoder.pending).toBe(0);
  });

  it('accepts a frame of exactly the largest encoded size', () => {
    const decoder = new FrameDecoder({ synced: true });
    const bytes = encodeFrame({ type: 0x21, seq: 1, payload: new Uint8Array(MAX_PAYLOAD_BYTES).fill(0x41) });
    expect(bytes.length - 1).toBe(MAX_ENCODED_FRAME_BYTES);
    expect(decoder.push(bytes).map((o) => o.kind)).toEqual(['frame']);
  });

  it('counts each drop by reason and keeps decoding', () => {
    const decoder = new FrameDecoder({ synced: true });
    const good = ping(0x11223344556677);
    const badCrc = good.slice();
    badCrc[6] = badCrc[6]! ^ 0xff;
    const badVersion = encodeFrame({ type: 3, seq: 0, payload: new Uint8Array(8) });
    const raw = cobsDecode(badVersion.subarray(0, -1));
    raw[0] = 2;
    const short = concat(cobsEncode(new Uint8Array([1, 3, 0])), new Uint8Array([0]));
    const out = decoder.push(concat(badCrc, short, concat(cobsEncode(raw), new Uint8Array([0])), good));
    expect(out.map((o) => (o.kind === 'drop' ? o.reason : 'frame'))).toEqual(['crc', 'short', 'version', 'frame']);
    expect(decoder.stats.drops).toMatchObject({ crc: 1, short: 1, version: 1 });
    expect(decoder.stats.bytes).toBe(badCrc.length + short.length + cobsEncode(raw).length + 1 + good.length);
  });

  it('reset forgets a partial frame and resynchronises', () => {
    const decoder = new FrameDecoder({ synced: true });
    decoder.push(ping(1).subarray(0, 4));
    decoder.reset();
    expect(decoder.pending).toBe(0);
    expect(decoder.push(concat(ping(2).subarray(2), ping(3))).map((o) => o.kind)).toEqual(['drop', 'frame']);
  });
});
