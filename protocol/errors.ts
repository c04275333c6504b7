/**
 * The protocol's own error types. Callers tell errors apart by `code`, never by message text.
 * Only these classes escape from `protocol/` codecs (checked by the fuzz tests).
 */

/** Why a frame or message could not be encoded or decoded. */
export type FrameErrorCode =
  | 'cobs' // COBS decoding failed (a zero byte inside, or a code byte pointing past the end)
  | 'short' // decoded frame shorter than 6 bytes
  | 'long' // decoded frame longer than 246 bytes, or encoded bytes run past the limit
  | 'version' // version byte is not 0x01
  | 'crc' // CRC-16/CCITT-FALSE mismatch
  | 'unknown-type' // message type not in PROTOCOL 1.3
  | 'bad-payload' // payload too short, too long, or a field out of range
  | 'bad-seq' // reliable message with seq 0, or seq out of range
  | 'hid-report'; // HID report with a byte count outside 1..63 or the wrong size

export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly code: FrameErrorCode,
    message: string,
    /** Byte offset in the decoded frame or payload where the problem was found, if known. */
    readonly offset?: number,
  ) {
    super(message);
  }
}

/** A JSON payload (sections 2-4) that does not match its schema. */
export class PayloadError extends Error {
  override readonly name = 'PayloadError';
  readonly code = 'bad-json' as const;
  constructor(
    /** Which payload was being validated, e.g. `evaluation`, `receipt`. */
    readonly schema: string,
    /** Dotted path of the first offending field, `''` for the whole payload. */
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** Two hex digits, for error messages: `0x1f`. */
export function hexByte(value: number): string {
  return `0x${value.toString(16).padStart(2, '0')}`;
}
