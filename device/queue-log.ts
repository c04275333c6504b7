/**
 * The evaluator's non-volatile queue and counter: an append-only record log in the state
 * directory, one fsync per queued message (DESIGN "Non-volatile queue").
 *
 * Record:
 * | offset | size | field                                       |
 * |--------|------|---------------------------------------------|
 * | 0      | 1    | magic 0xa7                                  |
 * | 1      | 1    | kind: 1 item, 2 done, 3 meta, 4 settings    |
 * | 2      | 2    | body length n, u16 LE                       |
 * | 4      | n    | body                                        |
 * | 4+n    | 2    | CRC-16/CCITT-FALSE of bytes 0..3+n, LE      |
 *
 * item: qid u32, nextCounter u32 (after this item), message type u8, PROTOCOL 1.3 payload.
 * done: qid u32 (acknowledged; written without fsync: losing it only resends a message the
 *       hub recognises by its id). meta: bootCount u32, nextCounter u32, nextQid u32.
 * settings: the 7-byte settings block of PROTOCOL 1.3; the last one wins.
 *
 * Recovery reads records until the first that is incomplete or fails its CRC, and truncates
 * the file there: power lost at any byte keeps every complete record and drops only a torn
 * tail. The counter is the highest ever written, so it never goes back.
 */
import { closeSync, existsSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MessageType, StoreError, crc16, decodePayload, encodePayload, messageName, type Eval, type Event, type Settings } from '../protocol/index.js';
import type { QueuedItem } from './core.js';

const MAGIC = 0xa7;
const KIND_ITEM = 1;
const KIND_DONE = 2;
const KIND_META = 3;
const KIND_SETTINGS = 4;
const HEADER = 4;
const CRC = 2;

export interface QueueLogOptions {
  /** Compact when the file grows past this many bytes and most records are done. Default 256 KiB. */
  compactBytes?: number;
}

export interface Recovered {
  bootCount: number;
  nextCounter: number;
  nextQid: number;
  /** Unacknowledged messages, oldest first. */
  queued: QueuedItem[];
  /** The settings last saved, if any. */
  settings: Settings | undefined;
  /** Bytes of torn tail dropped during recovery. */
  droppedBytes: number;
}

export { StoreError };

function record(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + body.length + CRC);
  out[0] = MAGIC;
  out[1] = kind;
  out[2] = body.length & 0xff;
  out[3] = body.length >> 8;
  out.set(body, HEADER);
  const crc = crc16(out, 0, HEADER + body.length);
  out[HEADER + body.length] = crc & 0xff;
  out[HEADER + body.length + 1] = crc >> 8;
  return out;
}

function u32s(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setUint32(i * 4, v, true));
  return out;
}

/** Parses a log image: complete records up to the first bad one. Pure, for recovery and tests. */
export function parseLog(bytes: Uint8Array): Recovered & { goodBytes: number } {
  const items = new Map<number, QueuedItem>();
  let bootCount = 0;
  let nextCounter = 1;
  let nextQid = 1;
  let settings: Settings | undefined;
  let at = 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  while (at + HEADER + CRC <= bytes.length) {
    if (bytes[at] !== MAGIC) break;
    const kind = bytes[at + 1]!;
    const length = view.getUint16(at + 2, true);
    const end = at + HEADER + length;
    if (end + CRC > bytes.length) break;
    if (crc16(bytes, at, end) !== view.getUint16(end, true)) break;
    const body = bytes.subarray(at + HEADER, end);
    const b = new DataView(body.buffer, body.byteOffset, body.byteLength);
    try {
      if (kind === KIND_ITEM && length >= 9) {
        const qid = b.getUint32(0, true);
        nextCounter = Math.max(nextCounter, b.getUint32(4, true));
        const name = messageName(body[8]!);
        if (name !== 'EVAL' && name !== 'EVENT') break;
        const message = decodePayload(name, body.subarray(9)) as Eval | Event;
        items.set(qid, { qid, message });
        nextQid = Math.max(nextQid, qid + 1);
      } else if (kind === KIND_DONE && length === 4) {
        items.delete(b.getUint32(0, true));
      } else if (kind === KIND_SETTINGS) {
        settings = decodePayload('SETTINGS', body).settings;
      } else if (kind === KIND_META && length === 12) {
        bootCount = Math.max(bootCount, b.getUint32(0, true));
        nextCounter = Math.max(nextCounter, b.getUint32(4, true));
        nextQid = Math.max(nextQid, b.getUint32(8, true));
      } else {
        break;
      }
    } catch {
      break; // a record whose CRC matched but whose body does not parse: treat as the end
    }
    at = end + CRC;
  }
  const queued = [...items.values()].sort((x, y) => x.qid - y.qid);
  return { bootCount, nextCounter, nextQid, queued, settings, droppedBytes: bytes.length - at, goodBytes: at };
}

export class QueueLog {
  private fd: number;
  private size: number;
  private readonly items = new Map<number, QueuedItem>();
  private settings: Settings | undefined;
  private readonly path: string;
  private readonly compactBytes: number;
  private meta: { bootCount: number; nextCounter: number; nextQid: number };

  /**
   * Opens (or creates) the log in `dir`, recovers it, truncates any torn tail, and records a
   * new boot. Returns the log and what was recovered.
   */
  static open(dir: string, options: QueueLogOptions = {}): { log: QueueLog; recovered: Recovered } {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'queue.log');
    const image = existsSync(path) ? new Uint8Array(readFileSync(path)) : new Uint8Array();
    const parsed = parseLog(image);
    const log = new QueueLog(path, parsed, options);
    const { goodBytes, ...recovered } = parsed;
    void goodBytes;
    return { log, recovered: { ...recovered, bootCount: log.meta.bootCount } };
  }

  private constructor(path: string, parsed: ReturnType<typeof parseLog>, options: QueueLogOptions) {
    this.path = path;
    this.compactBytes = options.compactBytes ?? 256 * 1024;
    this.fd = openSync(path, existsSync(path) ? 'r+' : 'w+');
    if (parsed.droppedBytes > 0) {
      ftruncateSync(this.fd, parsed.goodBytes);
      fsyncSync(this.fd);
    }
    this.size = parsed.goodBytes;
    for (const item of parsed.queued) this.items.set(item.qid, item);
    this.settings = parsed.settings;
    this.meta = { bootCount: parsed.bootCount + 1, nextCounter: parsed.nextCounter, nextQid: parsed.nextQid };
    if (this.size > this.compactBytes) this.compact();
    else this.write(record(KIND_META, u32s(this.meta.bootCount, this.meta.nextCounter, this.meta.nextQid)), true);
  }

  /** Appends a queued message durably (fdatasync) before returning. */
  append(item: QueuedItem, nextCounter: number): void {
    const payload = encodePayload(item.message);
    const body = new Uint8Array(9 + payload.length);
    body.set(u32s(item.qid, nextCounter));
    body[8] = MessageType[item.message.type];
    body.set(payload, 9);
    this.write(record(KIND_ITEM, body), true);
    this.items.set(item.qid, item);
    this.meta.nextCounter = Math.max(this.meta.nextCounter, nextCounter);
    this.meta.nextQid = Math.max(this.meta.nextQid, item.qid + 1);
  }

  /** Marks a message acknowledged. Compacts the file when it has grown and little is pending. */
  remove(qid: number): void {
    if (!this.items.delete(qid)) return;
    this.write(record(KIND_DONE, u32s(qid)), false);
    if (this.size > this.compactBytes && this.items.size * 64 < this.size / 4) this.compact();
  }

  /** Saves settings durably; the last saved survive a reboot. */
  saveSettings(settings: Settings): void {
    this.settings = { ...settings };
    this.write(record(KIND_SETTINGS, encodePayload({ type: 'SETTINGS', settings })), true);
  }

  /** How many messages are unacknowledged. */
  get queued(): number {
    return this.items.size;
  }

  get bytes(): number {
    return this.size;
  }

  close(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
  }

  /** Rewrites the log as meta + pending items: written aside, synced, then renamed over. */
  private compact(): void {
    const parts = [record(KIND_META, u32s(this.meta.bootCount, this.meta.nextCounter, this.meta.nextQid))];
    if (this.settings) parts.push(record(KIND_SETTINGS, encodePayload({ type: 'SETTINGS', settings: this.settings })));
    for (const item of [...this.items.values()].sort((a, b) => a.qid - b.qid)) {
      const payload = encodePayload(item.message);
      const body = new Uint8Array(9 + payload.length);
      body.set(u32s(item.qid, this.meta.nextCounter));
      body[8] = MessageType[item.message.type];
      body.set(payload, 9);
      parts.push(record(KIND_ITEM, body));
    }
    const tmp = `${this.path}.tmp`;
    let size = 0;
    try {
      const fd = openSync(tmp, 'w');
      try {
        for (const part of parts) size += writeSync(fd, part);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
      this.fsyncDir();
    } catch (error) {
      // The old file and its descriptor are untouched: the log goes on as it was.
      throw new StoreError('io', `queue log compaction failed: ${(error as Error).message}`);
    }
    const old = this.fd;
    this.fd = openSync(this.path, 'r+');
    closeSync(old);
    this.size = size;
  }

  private fsyncDir(): void {
    const dir = openSync(join(this.path, '..'), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }

  private write(bytes: Uint8Array, sync: boolean): void {
    try {
      const written = writeSync(this.fd, bytes, 0, bytes.length, this.size);
      if (written !== bytes.length) throw new Error(`short write: ${written} of ${bytes.length} bytes`);
      if (sync) fdatasyncSync(this.fd);
      this.size += bytes.length;
    } catch (error) {
      throw new StoreError('io', `queue log ${this.path}: ${(error as Error).message}`);
    }
  }
}
