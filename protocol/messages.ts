/**
 * Typed encode/decode of every message of PROTOCOL 1.3, with field validation.
 *
 * Each payload is described once, as a list of fields, in `LAYOUTS`; the encoder, the decoder
 * and the property tests all read that table, and the compiler checks it against the message
 * interfaces (`LayoutProblems`). A field whose values are a named set (`Level`, `Origin`,
 * `DeviceState`...) has that union as its type, and both codec directions refuse any other
 * value. Integers are little-endian; `str` is a u8 byte length then UTF-8 (at most 64 bytes:
 * encoders truncate on a character boundary, decoders reject longer or invalid UTF-8); `u64`
 * times are epoch milliseconds and must be safe integers.
 */
import {
  AckReason,
  AckStatus,
  DeviceState,
  Duty,
  EventCode,
  Level,
  MAX_DEVICE_ID_BYTES,
  MAX_STR_BYTES,
  MessageType,
  NackReason,
  Origin,
  RELIABLE,
  SETTINGS_RANGES,
  ServiceEvent,
  messageName,
  type MessageName,
} from './constants.js';
import { FrameError, hexByte } from './errors.js';
import { MAX_PAYLOAD_BYTES, encodeFrame, type Frame } from './frame.js';

/** The 7-byte settings block of WELCOME and SETTINGS. */
export interface Settings {
  /** Seconds a prompt waits for a press, 5..120. */
  promptTimeoutS: number;
  /** Seconds the thank-you shows, 1..30. */
  thanksS: number;
  /** Buzzer and voice volume, 0..10. */
  volume: number;
  /** LED and display brightness, 0..10. */
  brightness: number;
  /** 0 zh-CN, 1 en (`Language`). */
  language: number;
  /** Bit 0 accept unsolicited presses in IDLE, bit 1 voice prompts (`SettingsFlag`). */
  flags: number;
}

export interface Hello {
  type: 'HELLO';
  deviceId: string;
  model: string;
  fwVersion: string;
  protoVersion: number;
  capabilities: number;
  bootCount: number;
  nextCounter: number;
  queued: number;
}
export interface Welcome {
  type: 'WELCOME';
  hubTime: number;
  windowId: string;
  windowName: string;
  settings: Settings;
}
export interface Ping {
  type: 'PING';
  senderTime: number;
}
export interface Pong {
  type: 'PONG';
  echoedTime: number;
  senderTime: number;
}
export interface State {
  type: 'STATE';
  state: DeviceState;
  queued: number;
}
export interface Service {
  type: 'SERVICE';
  event: ServiceEvent;
  txnId: string;
  matterCode: string;
  matterName: string;
}
export interface Staff {
  type: 'STAFF';
  duty: Duty;
  staffId: string;
  staffName: string;
  staffTitle: string;
}
export interface SettingsMessage {
  type: 'SETTINGS';
  settings: Settings;
}
export interface SelfTest {
  type: 'SELF_TEST';
}
/** PROTOCOL 1.3 [r2]: bit 0 storage unavailable, bit 1 platform unreachable (`HubStateFlag`). */
export interface HubState {
  type: 'HUB_STATE';
  flags: number;
}
export interface Eval {
  type: 'EVAL';
  counter: number;
  level: Level;
  origin: Origin;
  txnId: string;
  deviceTime: number;
  promptMs: number;
}
export interface Event {
  type: 'EVENT';
  code: EventCode;
  arg: number;
  text: string;
}
export interface Ack {
  type: 'ACK';
  status: AckStatus;
  /** `AckReason.NONE` unless `status` is REJECTED. */
  reason: AckReason;
}
export interface Nack {
  type: 'NACK';
  reason: NackReason;
  offendingType: number;
  offendingSeq: number;
}

export type Message = Hello | Welcome | Ping | Pong | State | Service | Staff | SettingsMessage | SelfTest | HubState | Eval | Event | Ack | Nack;
export type MessageOf<N extends MessageName> = Extract<Message, { type: N }>;

/** A message with the seq of its frame: 0 for unreliable messages, the acknowledged seq for ACK. */
export interface Packet<M extends Message = Message> {
  seq: number;
  message: M;
}

type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'str' | 'deviceId' | 'settings';
export interface FieldSpec {
  name: string;
  kind: FieldKind;
  /** Inclusive range for integer fields, narrower than the wire type. */
  range?: readonly [number, number];
  /** The only values an integer field may take (a named set such as `Level`), within `range`. */
  values?: readonly number[];
}

/** A field; the literal name and kind stay in the type, for `LayoutProblems`. */
function f<const N extends string, const K extends FieldKind>(name: N, kind: K, range?: readonly [number, number]): { name: N; kind: K; range?: readonly [number, number] } {
  return range ? { name, kind, range } : { name, kind };
}

/** A u8 field whose values are the named set `named` (e.g. `Level`): its range and its values. */
function oneOf<const N extends string>(name: N, named: Readonly<Record<string, number>>): { name: N; kind: 'u8'; range: readonly [number, number]; values: readonly number[] } {
  const values = [...new Set(Object.values(named))].sort((a, b) => a - b);
  return { name, kind: 'u8', range: [values[0]!, values[values.length - 1]!], values };
}

/** The payload layout of every message, in wire order. */
const LAYOUT_TABLE = {
  HELLO: [
    f('deviceId', 'deviceId'),
    f('model', 'str'),
    f('fwVersion', 'str'),
    f('protoVersion', 'u8'),
    f('capabilities', 'u16'),
    f('bootCount', 'u32'),
    f('nextCounter', 'u32', [1, 0xffffffff]),
    f('queued', 'u16'),
  ],
  WELCOME: [f('hubTime', 'u64'), f('windowId', 'str'), f('windowName', 'str'), f('settings', 'settings')],
  PING: [f('senderTime', 'u64')],
  PONG: [f('echoedTime', 'u64'), f('senderTime', 'u64')],
  STATE: [oneOf('state', DeviceState), f('queued', 'u16')],
  SERVICE: [oneOf('event', ServiceEvent), f('txnId', 'str'), f('matterCode', 'str'), f('matterName', 'str')],
  STAFF: [oneOf('duty', Duty), f('staffId', 'str'), f('staffName', 'str'), f('staffTitle', 'str')],
  SETTINGS: [f('settings', 'settings')],
  SELF_TEST: [],
  HUB_STATE: [f('flags', 'u8', [0, 3])],
  EVAL: [
    f('counter', 'u32', [1, 0xffffffff]),
    oneOf('level', Level),
    oneOf('origin', Origin),
    f('txnId', 'str'),
    f('deviceTime', 'u64'),
    f('promptMs', 'u32'),
  ],
  EVENT: [oneOf('code', EventCode), f('arg', 'u32'), f('text', 'str')],
  ACK: [oneOf('status', AckStatus), oneOf('reason', AckReason)],
  NACK: [oneOf('reason', NackReason), f('offendingType', 'u8'), f('offendingSeq', 'u16')],
} as const satisfies Record<MessageName, readonly FieldSpec[]>;

export const LAYOUTS: Readonly<Record<MessageName, readonly FieldSpec[]>> = LAYOUT_TABLE;

/** The TypeScript type each field kind decodes to. */
interface KindType {
  u8: number;
  u16: number;
  u32: number;
  u64: number;
  str: string;
  deviceId: string;
  settings: Settings;
}
type SpecOf<T, N extends MessageName> = T extends Record<N, readonly (infer S)[]> ? S : never;
type FieldNames<N extends MessageName> = Exclude<keyof MessageOf<N>, 'type'>;
type LayoutNames<T, N extends MessageName, S = SpecOf<T, N>> = S extends { name: infer K } ? K : never;
/**
 * Fields whose layout kind does not decode to the interface's type for it, and integer fields
 * typed by a named set (narrower than `number`) whose layout does not check that set (`oneOf`).
 */
type WrongKind<T, N extends MessageName, S = SpecOf<T, N>> = S extends { name: infer K; kind: infer F extends FieldKind }
  ? K extends FieldNames<N>
    ? MessageOf<N>[K] extends KindType[F]
      ? KindType[F] extends number
        ? number extends MessageOf<N>[K]
          ? never
          : S extends { values: readonly number[] }
            ? never
            : K
        : never
      : K
    : never
  : never;
type Problems<T, N extends MessageName> = Exclude<FieldNames<N>, LayoutNames<T, N>> | Exclude<LayoutNames<T, N>, FieldNames<N>> | WrongKind<T, N>;

/**
 * `"EVAL.level"`-style names of every field where a layout table and the message interfaces
 * disagree: a field missing from either side, one whose kind decodes to another type, or a
 * named set the layout does not check.
 * `never` when they match, which `LayoutsMatch` requires: a mismatch fails `tsc`.
 */
export type LayoutProblems<T> = { [N in MessageName]: `${N}.${Problems<T, N> & string}` }[MessageName];
type MustBeNever<T extends never> = T;
// A layout and its interface disagree if this line fails to compile; the error names the field.
export type LayoutsMatch = MustBeNever<LayoutProblems<LayoutTable>>;
/** The type of the layout table, literal names and kinds included (for `LayoutProblems`). */
export type LayoutTable = typeof LAYOUT_TABLE;

const SETTINGS_FIELDS = Object.keys(SETTINGS_RANGES) as (keyof Settings)[];
const WIRE_MAX: Record<'u8' | 'u16' | 'u32' | 'u64', number> = {
  u8: 0xff,
  u16: 0xffff,
  u32: 0xffffffff,
  u64: Number.MAX_SAFE_INTEGER,
};

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * UTF-8 bytes of `text`, cut to at most `maxBytes` without splitting a character
 * (PROTOCOL 1.3: encoders truncate on a character boundary).
 */
export function truncateUtf8(text: string, maxBytes = MAX_STR_BYTES): Uint8Array {
  const bytes = utf8.encode(text);
  if (bytes.length <= maxBytes) return bytes;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back off continuation bytes
  return bytes.subarray(0, end);
}

/**
 * PROTOCOL 1.3 [r2]: a device id is 1..32 of `[A-Za-z0-9._-]` (it is an MQTT topic segment).
 * The one validator of device and tablet ids: HELLO, configuration, API and CLI.
 */
export function isValidDeviceId(id: string): boolean {
  return id.length >= 1 && id.length <= MAX_DEVICE_ID_BYTES && /^[A-Za-z0-9._-]+$/.test(id);
}

/** The refusal of an id that is not a device id, naming what is allowed. */
export const DEVICE_ID_RULE = `1 to ${MAX_DEVICE_ID_BYTES} characters of A-Z a-z 0-9 . _ -`;

function checkInt(where: string, spec: FieldSpec, value: unknown, wire: 'u8' | 'u16' | 'u32' | 'u64', offset?: number): number {
  const [min, max] = spec.range ?? [0, WIRE_MAX[wire]];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new FrameError('bad-payload', `${where}.${spec.name}: expected an integer ${min}..${max}, got ${String(value)}`, offset);
  }
  if (spec.values && !spec.values.includes(value)) {
    throw new FrameError('bad-payload', `${where}.${spec.name}: expected one of ${spec.values.join(', ')}, got ${value}`, offset);
  }
  return value;
}

function checkSettings(where: string, value: unknown, offset?: number): Settings {
  if (typeof value !== 'object' || value === null) {
    throw new FrameError('bad-payload', `${where}.settings: expected an object, got ${String(value)}`, offset);
  }
  const record = value as Record<string, unknown>;
  const settings = {} as Settings;
  for (const name of SETTINGS_FIELDS) {
    const [min, max] = SETTINGS_RANGES[name];
    const field = record[name];
    const flagsOk = name !== 'flags' || (typeof field === 'number' && (field & ~max) === 0);
    if (typeof field !== 'number' || !Number.isInteger(field) || field < min || field > max || !flagsOk) {
      throw new FrameError('bad-payload', `${where}.settings.${name}: expected ${name === 'flags' ? `bits within ${hexByte(max)}` : `an integer ${min}..${max}`}, got ${String(field)}`, offset);
    }
    settings[name] = field;
  }
  return settings;
}

class Writer {
  private readonly bytes = new Uint8Array(MAX_PAYLOAD_BYTES + 8);
  private readonly view = new DataView(this.bytes.buffer);
  length = 0;
  u8(v: number): void {
    this.bytes[this.length++] = v;
  }
  u16(v: number): void {
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }
  u32(v: number): void {
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number): void {
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  raw(b: Uint8Array): void {
    this.bytes.set(b, this.length);
    this.length += b.length;
  }
  done(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

/** Encodes a message's payload. Strings are truncated; out-of-range numbers throw `FrameError`. */
export function encodePayload(message: Message): Uint8Array {
  const layout = LAYOUTS[message.type];
  if (!layout) throw new FrameError('unknown-type', `unknown message type ${String(message.type)}`);
  const record = message as unknown as Record<string, unknown>;
  const w = new Writer();
  for (const spec of layout) {
    const value = record[spec.name];
    switch (spec.kind) {
      case 'u8':
      case 'u16':
      case 'u32':
      case 'u64':
        w[spec.kind](checkInt(message.type, spec, value, spec.kind));
        break;
      case 'str': {
        if (typeof value !== 'string') throw new FrameError('bad-payload', `${message.type}.${spec.name}: expected a string, got ${typeof value}`);
        const bytes = truncateUtf8(value);
        w.u8(bytes.length);
        w.raw(bytes);
        break;
      }
      case 'deviceId': {
        if (typeof value !== 'string' || !isValidDeviceId(value)) {
          throw new FrameError('bad-payload', `${message.type}.${spec.name}: expected ${DEVICE_ID_RULE}, got ${JSON.stringify(value)}`);
        }
        const bytes = utf8.encode(value);
        w.u8(bytes.length);
        w.raw(bytes);
        break;
      }
      case 'settings': {
        const s = checkSettings(message.type, value);
        for (const name of SETTINGS_FIELDS) w.u8(s[name]);
        w.u8(0); // reserved
        break;
      }
      default:
        spec.kind satisfies never;
    }
  }
  return w.done();
}

/** Encodes a message as a complete frame, delimiter included. */
export function encodeMessage(message: Message, seq = 0): Uint8Array {
  if (RELIABLE.has(message.type) && seq === 0) {
    throw new FrameError('bad-seq', `${message.type} is reliable and needs a seq of 1..65535`);
  }
  return encodeFrame({ type: MessageType[message.type], seq, payload: encodePayload(message) });
}

const INT_BYTES = { u8: 1, u16: 2, u32: 4, u64: 8 } as const;

class Reader {
  offset = 0;
  private readonly view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly where: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number, field: string): void {
    if (this.offset + n > this.bytes.length) {
      throw new FrameError('bad-payload', `${this.where}.${field}: payload ends at ${this.bytes.length} bytes, ${n} more needed at offset ${this.offset}`, this.offset);
    }
  }
  int(kind: 'u8' | 'u16' | 'u32' | 'u64', field: string): number {
    const size = INT_BYTES[kind];
    this.need(size, field);
    const at = this.offset;
    this.offset += size;
    switch (kind) {
      case 'u8':
        return this.view.getUint8(at);
      case 'u16':
        return this.view.getUint16(at, true);
      case 'u32':
        return this.view.getUint32(at, true);
      case 'u64': {
        const big = this.view.getBigUint64(at, true);
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
          throw new FrameError('bad-payload', `${this.where}.${field}: time ${big} at offset ${at} is beyond ${Number.MAX_SAFE_INTEGER}`, at);
        }
        return Number(big);
      }
    }
  }
  str(field: string, maxBytes: number): string {
    const length = this.int('u8', field);
    if (length > maxBytes) {
      throw new FrameError('bad-payload', `${this.where}.${field}: string of ${length} bytes at offset ${this.offset - 1} exceeds ${maxBytes}`, this.offset - 1);
    }
    this.need(length, field);
    const at = this.offset;
    this.offset += length;
    try {
      return strictUtf8.decode(this.bytes.subarray(at, at + length));
    } catch {
      throw new FrameError('bad-payload', `${this.where}.${field}: invalid UTF-8 at offset ${at}`, at);
    }
  }
  end(): void {
    if (this.offset !== this.bytes.length) {
      throw new FrameError('bad-payload', `${this.where}: ${this.bytes.length - this.offset} unexpected bytes after the last field at offset ${this.offset}`, this.offset);
    }
  }
}

/** Decodes a payload of the named type. Throws `FrameError('bad-payload')`. */
export function decodePayload<N extends MessageName>(name: N, payload: Uint8Array): MessageOf<N> {
  const r = new Reader(payload, name);
  const out: Record<string, unknown> = { type: name };
  for (const spec of LAYOUTS[name]) {
    const at = r.offset;
    switch (spec.kind) {
      case 'u8':
      case 'u16':
      case 'u32':
      case 'u64':
        out[spec.name] = checkInt(name, spec, r.int(spec.kind, spec.name), spec.kind, at);
        break;
      case 'str':
        out[spec.name] = r.str(spec.name, MAX_STR_BYTES);
        break;
      case 'deviceId': {
        const id = r.str(spec.name, MAX_DEVICE_ID_BYTES);
        if (!isValidDeviceId(id)) {
          throw new FrameError('bad-payload', `${name}.${spec.name}: expected ${DEVICE_ID_RULE}, got ${JSON.stringify(id)}`, at);
        }
        out[spec.name] = id;
        break;
      }
      case 'settings': {
        const raw: Record<string, number> = {};
        for (const field of SETTINGS_FIELDS) raw[field] = r.int('u8', `settings.${field}`);
        r.int('u8', 'settings.reserved'); // reserved: ignored on receipt, sent as 0
        out[spec.name] = checkSettings(name, raw, at);
        break;
      }
      default:
        spec.kind satisfies never;
    }
  }
  r.end();
  return out as unknown as MessageOf<N>;
}

/** Decodes a checked frame into a message. Throws `FrameError` (unknown-type, bad-payload, bad-seq). */
export function decodeMessage(frame: Frame): Packet {
  const name = messageName(frame.type);
  if (!name) throw new FrameError('unknown-type', `unknown message type ${hexByte(frame.type)}`, 1);
  if ((RELIABLE.has(name) || name === 'ACK') && frame.seq === 0) {
    throw new FrameError('bad-seq', `${name} needs a seq of 1..65535, got 0`, 2);
  }
  return { seq: frame.seq, message: decodePayload(name, frame.payload) };
}

/**
 * A message from its JSON form `{type: "EVAL", seq: 5, counter: 1, ...}` (the frame inspector's
 * and the vectors' form). Checks names and types; ranges are checked by `encodePayload`.
 */
export function messageFromJson(value: unknown): Packet {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FrameError('bad-payload', 'expected a JSON object like {"type":"PING","seq":0,"senderTime":0}');
  }
  const { type, seq = 0, ...fields } = value as Record<string, unknown>;
  const name = typeof type === 'string' ? (type.toUpperCase() as MessageName) : undefined;
  if (!name || !(name in LAYOUTS)) throw new FrameError('unknown-type', `unknown message type ${JSON.stringify(type)}; expected one of ${Object.keys(LAYOUTS).join(', ')}`);
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0 || seq > 0xffff) {
    throw new FrameError('bad-seq', `${name}.seq: expected an integer 0..65535, got ${JSON.stringify(seq)}`);
  }
  const known = new Set(LAYOUTS[name].map((spec) => spec.name));
  for (const key of Object.keys(fields)) {
    if (!known.has(key)) throw new FrameError('bad-payload', `${name}: unknown field ${JSON.stringify(key)}; expected ${[...known].join(', ')}`);
  }
  for (const key of known) {
    if (!(key in fields)) throw new FrameError('bad-payload', `${name}.${key}: missing`);
  }
  return { seq, message: { type: name, ...fields } as Message };
}

/** The JSON form of a packet: `{type, seq, ...fields}`. */
export function packetToJson(packet: Packet): Record<string, unknown> {
  const { type, ...fields } = packet.message;
  return { type, seq: packet.seq, ...fields };
}
