import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  EventCode,
  FrameDecoder,
  FrameError,
  LAYOUTS,
  MESSAGE_NAMES,
  RELIABLE,
  SETTINGS_RANGES,
  decodeMessage,
  decodePayload,
  encodeMessage,
  encodePayload,
  messageFromJson,
  truncateUtf8,
  type FieldSpec,
  type LayoutProblems,
  type LayoutTable,
  type Message,
  type MessageName,
} from './index.js';

const utf8 = new TextEncoder();
const decoder = new TextDecoder();
/** Strings that survive UTF-8 (no lone surrogates) and fit in `maxBytes`. */
const wireString = (maxBytes: number) =>
  fc.string({ unit: 'binary', maxLength: maxBytes }).filter((s) => decoder.decode(utf8.encode(s)) === s && utf8.encode(s).length <= maxBytes);
const settings = fc.record(
  Object.fromEntries(
    Object.entries(SETTINGS_RANGES).map(([k, [min, max]]) => [k, k === 'flags' ? fc.integer({ min: 0, max }) : fc.integer({ min, max })]),
  ) as Record<keyof typeof SETTINGS_RANGES, fc.Arbitrary<number>>,
);

function fieldArbitrary(spec: FieldSpec): fc.Arbitrary<unknown> {
  const wireMax = { u8: 0xff, u16: 0xffff, u32: 0xffffffff, u64: Number.MAX_SAFE_INTEGER };
  switch (spec.kind) {
    case 'u8':
    case 'u16':
    case 'u32':
    case 'u64': {
      if (spec.values) return fc.constantFrom(...spec.values);
      const [min, max] = spec.range ?? [0, wireMax[spec.kind]];
      return fc.integer({ min, max });
    }
    case 'str':
      return wireString(64);
    case 'deviceId':
      return fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-'), minLength: 1, maxLength: 32 });
    case 'settings':
      return settings;
  }
}

/** Any valid message of the named type, built from the same layout table the codec uses. */
function messageArbitrary(name: MessageName): fc.Arbitrary<Message> {
  const fields = Object.fromEntries(LAYOUTS[name].map((spec) => [spec.name, fieldArbitrary(spec)]));
  return fc.record(fields).map((f) => ({ type: name, ...f }) as Message);
}
const seqFor = (name: MessageName) => (RELIABLE.has(name) || name === 'ACK' ? fc.integer({ min: 1, max: 0xffff }) : fc.constant(0));

describe('every message type round-trips (fast-check)', () => {
  for (const name of MESSAGE_NAMES) {
    it(name, () => {
      fc.assert(
        fc.property(messageArbitrary(name), seqFor(name), (message, seq) => {
          const bytes = encodeMessage(message, seq);
          const out = new FrameDecoder({ synced: true }).push(bytes);
          expect(out).toHaveLength(1);
          const first = out[0]!;
          if (first.kind !== 'frame') throw new Error(`dropped: ${first.message}`);
          expect(decodeMessage(first.frame)).toEqual({ seq, message });
        }),
        { numRuns: 300 },
      );
    });
  }
});

describe('strings', () => {
  it('are truncated to 64 bytes on a character boundary, never mid-character', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), (s) => {
        const bytes = truncateUtf8(s);
        expect(bytes.length).toBeLessThanOrEqual(64);
        const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        expect(utf8.encode(s).subarray(0, bytes.length)).toEqual(bytes);
        expect(text.length).toBeLessThanOrEqual(s.length);
      }),
    );
  });

  it('of exactly 64 bytes are kept whole', () => {
    const s = '办'.repeat(21) + 'x'; // 63 + 1 bytes
    expect(truncateUtf8(s)).toHaveLength(64);
    const { message } = decodeMessage({ type: 0x21, seq: 1, payload: encodePayload({ type: 'EVENT', code: 1, arg: 0, text: s }) });
    expect(message).toMatchObject({ text: s });
  });
});

describe('field validation', () => {
  const evalMsg = { type: 'EVAL', counter: 1, level: 5, origin: 1, txnId: 'T', deviceTime: 0, promptMs: 0 } as const;

  it.each([
    ['level 6', { level: 6 }, /EVAL.level: expected an integer 0..5, got 6/],
    ['origin 0', { origin: 0 }, /EVAL.origin/],
    ['counter 0', { counter: 0 }, /EVAL.counter/],
    ['fractional promptMs', { promptMs: 1.5 }, /EVAL.promptMs/],
    ['negative time', { deviceTime: -1 }, /EVAL.deviceTime/],
    ['time beyond 2^53', { deviceTime: 2 ** 53 }, /EVAL.deviceTime/],
  ])('encode refuses %s', (_label, patch, pattern) => {
    expect(() => encodePayload({ ...evalMsg, ...patch } as Message)).toThrow(pattern);
  });

  it('a field typed by a named set takes only its values, both ways', () => {
    const event = { type: 'EVENT', code: EventCode.INVITE_PRESSED, arg: 0, text: '' } as const;
    const payload = encodePayload(event);
    expect(decodePayload('EVENT', payload)).toEqual(event);
    payload[0] = 8; // no such EVENT.code in PROTOCOL 1.3
    expect(() => decodePayload('EVENT', payload)).toThrow(/EVENT.code: expected an integer 1..7, got 8/);
    expect(() => encodePayload({ ...event, code: 8 } as unknown as Message)).toThrow(expect.objectContaining({ code: 'bad-payload' }));
    expect(() => decodePayload('ACK', new Uint8Array([2, 5]))).toThrow(/ACK.reason/);
    expect(() => decodePayload('STATE', new Uint8Array([8, 0, 0]))).toThrow(/STATE.state/);
    for (const name of MESSAGE_NAMES) {
      for (const spec of LAYOUTS[name]) if (spec.values) expect(spec.range).toEqual([Math.min(...spec.values), Math.max(...spec.values)]);
    }
  });

  it('a field typed by a named set decodes every byte in the set and refuses every other', () => {
    const size = (spec: FieldSpec, value: unknown) =>
      spec.kind === 'str' || spec.kind === 'deviceId' ? 1 + utf8.encode(value as string).length : { u8: 1, u16: 2, u32: 4, u64: 8, settings: 7 }[spec.kind];
    const checked: string[] = [];
    for (const name of MESSAGE_NAMES) {
      const [sample] = fc.sample(messageArbitrary(name), { numRuns: 1, seed: 7 });
      const fields = sample as unknown as Record<string, unknown>;
      let offset = 0;
      for (const spec of LAYOUTS[name]) {
        if (spec.values) {
          checked.push(`${name}.${spec.name}`);
          const payload = encodePayload(sample!);
          for (let byte = 0; byte <= 0xff; byte++) {
            payload[offset] = byte;
            if (spec.values.includes(byte)) expect(decodePayload(name, payload)).toMatchObject({ [spec.name]: byte });
            else expect(() => decodePayload(name, payload), `${name}.${spec.name} = ${byte}`).toThrow(new RegExp(`${name}\\.${spec.name}`));
          }
        }
        offset += size(spec, fields[spec.name]);
      }
    }
    expect(checked).toEqual(['STATE.state', 'SERVICE.event', 'STAFF.duty', 'EVAL.level', 'EVAL.origin', 'EVENT.code', 'ACK.status', 'ACK.reason', 'NACK.reason']);
  });

  it('the compiler checks every layout against its message interface', () => {
    expectTypeOf<LayoutProblems<LayoutTable>>().toEqualTypeOf<never>();
    type Renamed = Omit<LayoutTable, 'PING'> & { PING: readonly [{ name: 'senderTimeMs'; kind: 'u64' }] };
    expectTypeOf<LayoutProblems<Renamed>>().toEqualTypeOf<'PING.senderTime' | 'PING.senderTimeMs'>();
    type WrongKind = Omit<LayoutTable, 'PONG'> & { PONG: readonly [{ name: 'echoedTime'; kind: 'str' }, { name: 'senderTime'; kind: 'u64' }] };
    expectTypeOf<LayoutProblems<WrongKind>>().toEqualTypeOf<'PONG.echoedTime'>();
    type Unchecked = Omit<LayoutTable, 'ACK'> & { ACK: readonly [{ name: 'status'; kind: 'u8'; values: readonly number[] }, { name: 'reason'; kind: 'u8' }] };
    expectTypeOf<LayoutProblems<Unchecked>>().toEqualTypeOf<'ACK.reason'>();
  });

  it('settings out of range are refused both ways', () => {
    const base = { promptTimeoutS: 30, thanksS: 3, volume: 5, brightness: 5, language: 0, flags: 0 };
    expect(() => encodePayload({ type: 'SETTINGS', settings: { ...base, promptTimeoutS: 121 } })).toThrow(/promptTimeoutS/);
    expect(() => encodePayload({ type: 'SETTINGS', settings: { ...base, flags: 4 } })).toThrow(/flags/);
    expect(() => decodePayload('SETTINGS', new Uint8Array([30, 31, 5, 5, 0, 0, 0]))).toThrow(/thanksS/);
  });

  it('the reserved settings byte is sent as 0 and ignored on receipt', () => {
    const payload = encodePayload({ type: 'SETTINGS', settings: { promptTimeoutS: 30, thanksS: 3, volume: 5, brightness: 5, language: 1, flags: 3 } });
    expect(payload[6]).toBe(0);
    payload[6] = 9;
    expect(decodePayload('SETTINGS', payload).settings.language).toBe(1);
  });

  it('a device id is 1..32 of [A-Za-z0-9._-] (PROTOCOL 1.3 [r2]: a topic segment), never truncated', () => {
    const hello = { type: 'HELLO', deviceId: 'X'.repeat(33), model: '', fwVersion: '', protoVersion: 1, capabilities: 0, bootCount: 0, nextCounter: 1, queued: 0 } as const;
    expect(() => encodePayload(hello)).toThrow(/deviceId/);
    expect(() => encodePayload({ ...hello, deviceId: '评价器' })).toThrow(/deviceId/);
    for (const id of ['A B', 'A/B', 'A+', '#', 'A*']) expect(() => encodePayload({ ...hello, deviceId: id }), id).toThrow(/deviceId/);
  });

  it('reliable messages need a seq', () => {
    expect(() => encodeMessage(evalMsg, 0)).toThrow(expect.objectContaining({ code: 'bad-seq' }));
  });

  it('messageFromJson names unknown and missing fields', () => {
    expect(() => messageFromJson({ type: 'PING', senderTime: 1, extra: 2 })).toThrow(/unknown field "extra"/);
    expect(() => messageFromJson({ type: 'PONG', echoedTime: 1 })).toThrow(/PONG.senderTime: missing/);
    expect(() => messageFromJson({ type: 'BOGUS' })).toThrow(FrameError);
    expect(() => messageFromJson([1])).toThrow(FrameError);
  });
});
