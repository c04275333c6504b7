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

/** A configuration file (the hub's, the kiosk shell's) that cannot be used; `key` is the dotted path, `''` for the file. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'bad-config' as const;
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Durable storage that failed: the device's queue log (`io`, `corrupt`) or the hub's database
 * (`unavailable`: disk full or I/O error, `migration`: a schema newer than this code, `busy`,
 * `locked`: another hub holds the data directory).
 */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: 'io' | 'corrupt' | 'unavailable' | 'migration' | 'busy' | 'locked',
    message: string,
  ) {
    super(message);
  }
}

/** The parts of a validation issue (zod's) that make a one-line message. */
export interface IssueLike {
  code: string;
  path: readonly PropertyKey[];
  message: string;
  keys?: readonly string[];
  expected?: unknown;
  /** What came; present when validated with `reportInput: true` (absent for a missing key). */
  input?: unknown;
}

/**
 * The first problem of a validation as a key and one line: an unknown key named, a missing one
 * called missing, a wrong type with the type expected and the type given (never the value: a
 * refused payload may carry a phone number). Every validator of the project (payloads,
 * configuration files, HTTP bodies) words its refusal this way, through `issueLine`.
 */
export function describeIssue(issue: IssueLike): { key: string; kind: 'unknown' | 'missing' | 'invalid'; problem: string } {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') return { key: [...path, issue.keys?.[0] ?? ''].join('.'), kind: 'unknown', problem: 'is not a known key' };
  const key = path.join('.');
  // validated with `reportInput: true`: no input means the key was not there
  if (issue.code === 'invalid_type' && (!('input' in issue) || issue.input === undefined)) return { key, kind: 'missing', problem: 'is missing' };
  if (issue.code === 'invalid_type') return { key, kind: 'invalid', problem: `must be ${String(issue.expected)}, not ${typeName(issue.input)}` };
  return { key, kind: 'invalid', problem: issue.message };
}

/** `config: unknown key "x"`, `config: missing required "x"`, `config: "x" must be …`. */
export function issueLine(subject: string, issue: IssueLike): { key: string; line: string } {
  const { key, kind, problem } = describeIssue(issue);
  if (kind === 'unknown') return { key, line: `${subject}: unknown key "${key}"` };
  if (kind === 'missing') return { key, line: `${subject}: missing required "${key}"` };
  return { key, line: `${subject}: "${key}" ${problem}` };
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
