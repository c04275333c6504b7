/**
 * Frames on the evaluator link (PROTOCOL 1.1): COBS-encoded, then one 0x00 delimiter.
 *
 * Decoded frame:
 * | offset | size | field                                   |
 * |--------|------|-----------------------------------------|
 * | 0      | 1    | version, 0x01                           |
 * | 1      | 1    | type (PROTOCOL 1.3)                     |
 * | 2      | 2    | seq, u16 LE; 0 for unreliable messages  |
 * | 4      | n    | payload, 0..240 bytes                   |
 * | 4+n    | 2    | CRC-16/CCITT-FALSE of bytes 0..3+n, LE  |
 */
import { cobsDecode, cobsEncode, cobsMaxEncodedLength } from './cobs.js';
import { crc16 } from './crc16.js';
import { FrameError, hexByte } from './errors.js';

export const PROTOCOL_VERSION = 0x01;
export const FRAME_HEADER_BYTES = 4;
export const FRAME_CRC_BYTES = 2;
export const MIN_FRAME_BYTES = FRAME_HEADER_BYTES + FRAME_CRC_BYTES; // 6
export const MAX_PAYLOAD_BYTES = 240;
export const MAX_FRAME_BYTES = FRAME_HEADER_BYTES + MAX_PAYLOAD_BYTES + FRAME_CRC_BYTES; // 246
/** Longest COBS block a valid frame can produce (delimiter not counted). */
export const MAX_ENCODED_FRAME_BYTES = cobsMaxEncodedLength(MAX_FRAME_BYTES);
export const DELIMITER = 0x00;

export interface Frame {
  /** Message type byte (PROTOCOL 1.3). */
  type: number;
  /** u16; 0 for unreliable messages. */
  seq: number;
  payload: Uint8Array;
}

/** Encodes a frame and appends the 0x00 delimiter. */
export function encodeFrame(frame: Frame): Uint8Array {
  const { type, seq, payload } = frame;
  if (!Number.isInteger(type) || type < 0 || type > 0xff) throw new TypeError(`frame.type must be a byte, got ${type}`);
  if (!Number.isInteger(seq) || seq < 0 || seq > 0xffff) throw new TypeError(`frame.seq must be a u16, got ${seq}`);
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw new FrameError('long', `payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
  }
  const raw = new Uint8Array(FRAME_HEADER_BYTES + payload.length + FRAME_CRC_BYTES);
  raw[0] = PROTOCOL_VERSION;
  raw[1] = type;
  raw[2] = seq & 0xff;
  raw[3] = seq >> 8;
  raw.set(payload, FRAME_HEADER_BYTES);
  const crcAt = FRAME_HEADER_BYTES + payload.length;
  const crc = crc16(raw, 0, crcAt);
  raw[crcAt] = crc & 0xff;
  raw[crcAt + 1] = crc >> 8;
  const encoded = cobsEncode(raw);
  const out = new Uint8Array(encoded.length + 1);
  out.set(encoded);
  out[encoded.length] = DELIMITER;
  return out;
}

/** Checks and splits a decoded (un-COBSed) frame. Throws `FrameError`. */
export function parseFrame(raw: Uint8Array): Frame {
  if (raw.length < MIN_FRAME_BYTES) {
    throw new FrameError('short', `frame of ${raw.length} bytes is shorter than ${MIN_FRAME_BYTES}`);
  }
  if (raw.length > MAX_FRAME_BYTES) {
    throw new FrameError('long', `frame of ${raw.length} bytes is longer than ${MAX_FRAME_BYTES}`);
  }
  if (raw[0] !== PROTOCOL_VERSION) {
    throw new FrameError('version', `expected version ${hexByte(PROTOCOL_VERSION)}, got ${hexByte(raw[0]!)}`, 0);
  }
  const crcAt = raw.length - FRAME_CRC_BYTES;
  const expected = crc16(raw, 0, crcAt);
  const got = raw[crcAt]! | (raw[crcAt + 1]! << 8);
  if (expected !== got) {
    throw new FrameError('crc', `CRC mismatch: computed 0x${expected.toString(16).padStart(4, '0')}, frame carries 0x${got.toString(16).padStart(4, '0')}`, crcAt);
  }
  return { type: raw[1]!, seq: raw[2]! | (raw[3]! << 8), payload: raw.slice(FRAME_HEADER_BYTES, crcAt) };
}

/** Decodes one COBS block (delimiter removed) into a frame. Throws `FrameError`. */
export function decodeFrame(encoded: Uint8Array): Frame {
  if (encoded.length > MAX_ENCODED_FRAME_BYTES) {
    throw new FrameError('long', `encoded frame of ${encoded.length} bytes exceeds ${MAX_ENCODED_FRAME_BYTES}`);
  }
  return parseFrame(cobsDecode(encoded));
}

/** Why the stream decoder dropped bytes. `resync`: bytes before the first delimiter. */
export type DropReason = 'resync' | 'cobs' | 'short' | 'long' | 'version' | 'crc';

export const DROP_REASONS: readonly DropReason[] = ['resync', 'cobs', 'short', 'long', 'version', 'crc'];

export type DecoderOutput =
  | { kind: 'frame'; frame: Frame }
  | { kind: 'drop'; reason: DropReason; bytes: number; message: string };

export interface FrameDecoderOptions {
  /**
   * Whether the decoder starts in sync, i.e. at a frame boundary. Default `false`: a link
   * discards everything up to the first 0x00 after the port opens (PROTOCOL 1.1). The frame
   * inspector starts in sync because a capture usually starts at a frame.
   */
  synced?: boolean;
}

export interface DecoderStats {
  frames: number;
  /** Bytes of encoded input consumed, delimiters included. */
  bytes: number;
  drops: Record<DropReason, number>;
}

/**
 * Streaming frame decoder: feed it arbitrary chunks, it returns the frames and drops they
 * complete. "Need more bytes" is simply an empty result; it never throws on input.
 */
export class FrameDecoder {
  private readonly buffer = new Uint8Array(MAX_ENCODED_FRAME_BYTES);
  private length = 0;
  /** Bytes discarded since the block became oversized (counted, not kept). */
  private overflow = 0;
  private synced: boolean;
  readonly stats: DecoderStats = { frames: 0, bytes: 0, drops: { resync: 0, cobs: 0, short: 0, long: 0, version: 0, crc: 0 } };

  constructor(options: FrameDecoderOptions = {}) {
    this.synced = options.synced ?? false;
  }

  /** Bytes held waiting for a delimiter. */
  get pending(): number {
    return this.length + this.overflow;
  }

  push(chunk: Uint8Array): DecoderOutput[] {
    const out: DecoderOutput[] = [];
    this.stats.bytes += chunk.length;
    let start = 0;
    while (start < chunk.length) {
      const zero = chunk.indexOf(DELIMITER, start);
      const end = zero === -1 ? chunk.length : zero;
      this.append(chunk, start, end);
      if (zero === -1) break;
      this.complete(out);
      start = zero + 1;
    }
    return out;
  }

  /** Forgets any partial frame and goes back to waiting for a delimiter (a port reopened). */
  reset(options: FrameDecoderOptions = {}): void {
    this.length = 0;
    this.overflow = 0;
    this.synced = options.synced ?? false;
  }

  private append(chunk: Uint8Array, start: number, end: number): void {
    const count = end - start;
    if (count === 0) return;
    if (this.overflow > 0 || this.length + count > this.buffer.length) {
      this.overflow += this.length + count;
      this.length = 0;
      return;
    }
    this.buffer.set(chunk.subarray(start, end), this.length);
    this.length += count;
  }

  private complete(out: DecoderOutput[]): void {
    const length = this.length;
    const overflow = this.overflow;
    this.length = 0;
    this.overflow = 0;
    if (!this.synced) {
      this.synced = true;
      if (length + overflow > 0) this.drop(out, 'resync', length + overflow, 'bytes before the first delimiter');
      return;
    }
    if (overflow > 0) {
      this.drop(out, 'long', overflow, `${overflow} bytes without a delimiter exceed ${MAX_ENCODED_FRAME_BYTES}`);
      return;
    }
    if (length === 0) return; // back-to-back delimiters: idle filler, not a frame
    try {
      const frame = parseFrame(cobsDecode(this.buffer.subarray(0, length)));
      this.stats.frames++;
      out.push({ kind: 'frame', frame });
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.drop(out, error.code as DropReason, length, error.message);
    }
  }

  private drop(out: DecoderOutput[], reason: DropReason, bytes: number, message: string): void {
    this.stats.drops[reason]++;
    out.push({ kind: 'drop', reason, bytes, message });
  }
}
