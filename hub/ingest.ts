/**
 * Ingest: every rating enters here, whatever its channel. Pure builders turn a device EVAL or
 * a tablet message into an evaluation record (PROTOCOL 4) with one staff-on-duty rule; the
 * storage-low gate refuses new ratings while the disk is nearly full (the device or tablet
 * keeps them); `commit` stores one and decides (一事一评, duplicates); `acksFor` says what each
 * channel answers.
 */
import { statfsSync } from 'node:fs';
import { AckReason, AckStatus, EventCode, ORIGIN_NAMES, PayloadError, type Eval, type Evaluation, type Event, type TabletAck, type TabletEvaluation } from '../protocol/index.js';
import { parsePayload } from '../protocol/schemas.js';
import { isoNow, type Clock } from './clock.js';
import { commitEvaluation, type CommitResult, type HallIdentity, type TransactionRecord } from './evaluations.js';
import type { AckDecision } from './link.js';
import type { Logger } from './log.js';
import type { StaffOnDuty } from './registry.js';
import type { Store } from './store.js';

/** Who served: the clerk on duty at the window, or nobody when the window is signed out. */
export function servedBy(staff: StaffOnDuty | undefined): { staffId: string | null; staffName: string | null } {
  if (!staff || staff.duty === 'off') return { staffId: null, staffName: null };
  return { staffId: staff.staffId || null, staffName: staff.staffName || null };
}

/** A device EVAL as an evaluation record; throws `PayloadError` for an invalid field. */
export function evaluationFromEval(input: {
  hall: HallIdentity;
  deviceId: string;
  fwVersion: string;
  message: Eval;
  windowId: string | null;
  staff: StaffOnDuty | undefined;
  /** device clock − hub clock, if measured; and when the hub received the EVAL, ms. */
  clock: { offsetMs: number | undefined; receivedAt: number };
}): Evaluation {
  const { message, clock } = input;
  const receivedAt = new Date(clock.receivedAt).toISOString();
  const unsynced = message.deviceTime === 0;
  return parsePayload('evaluation', {
    id: `${input.deviceId}-${message.counter}`,
    ...input.hall,
    channel: 'evaluator',
    level: message.level,
    reasons: [],
    comment: '',
    contact: null,
    txnId: message.txnId || null,
    matterCode: null,
    matterName: null,
    windowId: input.windowId,
    ...servedBy(input.staff),
    origin: ORIGIN_NAMES[message.origin as keyof typeof ORIGIN_NAMES],
    evaluatedAt: unsynced ? receivedAt : new Date(message.deviceTime - (clock.offsetMs ?? 0)).toISOString(),
    receivedAt,
    deviceId: input.deviceId,
    fwVersion: input.fwVersion,
    promptMs: message.promptMs,
    flags: unsynced ? ['clockUnsynced'] : [],
  });
}

/**
 * A tablet's evaluation as an evaluation record, or why it is refused. Never trust the tablet
 * for what the hub knows: the window is the tablet's pairing, the transaction must be one the
 * hub offered at that window, and who served comes from the transaction (or the duty roster);
 * a tablet naming another window, clerk or transaction is refused with the reason.
 */
export function evaluationFromTablet(input: {
  hall: HallIdentity;
  tabletId: string;
  message: TabletEvaluation;
  /** The tablet's pairing. */
  windowId: string | null;
  staff: StaffOnDuty | undefined;
  /** The transaction the message names, as the hub recorded it. */
  transaction: TransactionRecord | undefined;
  receivedAt: string;
}): Evaluation | { refused: string } {
  const { message: e, windowId, transaction } = input;
  if (!windowId) return { refused: 'not-paired: this tablet is not paired to a window' };
  if (e.windowId && e.windowId !== windowId) return { refused: `window-mismatch: this tablet is paired to ${windowId}, not ${e.windowId}` };
  let served = servedBy(input.staff);
  if (e.txnId) {
    if (!transaction || transaction.windowId !== windowId) return { refused: `unknown-transaction: ${windowId} was not offered transaction ${e.txnId}` };
    if (transaction.state === 'cancelled') return { refused: `unknown-transaction: transaction ${e.txnId} was cancelled` };
    served = { staffId: transaction.staffId, staffName: transaction.staffName };
  }
  if (e.staffId && e.staffId !== served.staffId) return { refused: `staff-mismatch: ${served.staffId ?? 'nobody'} served at ${windowId}, not ${e.staffId}` };
  return {
    id: e.id,
    ...input.hall,
    channel: 'tablet',
    level: e.level,
    reasons: e.reasons,
    comment: e.comment,
    contact: e.consent ? (e.contact ?? null) : null,
    txnId: e.txnId ?? null,
    matterCode: null,
    matterName: null,
    windowId,
    ...served,
    origin: 'tablet',
    evaluatedAt: new Date(Date.parse(e.evaluatedAt)).toISOString(),
    receivedAt: input.receivedAt,
    deviceId: input.tabletId,
    fwVersion: '',
    promptMs: null,
    flags: [],
    consent: e.consent === true,
    ratingNo: 1,
    followUpOf: null,
  };
}

/**
 * A rating that no device counts (PROTOCOL 4 [r2]: QR, SMS, the telephone follow-up) as an
 * evaluation record: who served and what was done come from the transaction the hub recorded,
 * never from the citizen's side. Throws `PayloadError` for an invalid field.
 */
export function evaluationOfTransaction(input: {
  hall: HallIdentity;
  id: string;
  channel: 'qr' | 'sms' | 'phone';
  level: number;
  reasons?: string[];
  comment?: string;
  /** Only with the citizen's consent (the SMS sender's own number). */
  contact?: string | null;
  txn: { txnId: string; windowId: string | null; staffId: string | null; staffName: string | null; matterCode?: string | null; matterName?: string | null };
  evaluatedAt: string;
  receivedAt: string;
  deviceId: string;
}): Evaluation {
  const { txn } = input;
  return parsePayload('evaluation', {
    id: input.id,
    ...input.hall,
    channel: input.channel,
    level: input.level,
    reasons: input.reasons ?? [],
    comment: input.comment ?? '',
    contact: input.contact ?? null,
    txnId: txn.txnId,
    matterCode: txn.matterCode ?? null,
    matterName: txn.matterName ?? null,
    windowId: txn.windowId,
    staffId: txn.staffId,
    staffName: txn.staffName,
    origin: 'prompted',
    evaluatedAt: input.evaluatedAt,
    receivedAt: input.receivedAt,
    deviceId: input.deviceId,
    fwVersion: '',
    promptMs: null,
    flags: [],
    consent: !!input.contact,
    ratingNo: 1,
    followUpOf: null,
  });
}

/** What each channel answers a commit result (PROTOCOL 1.3 ACK, PROTOCOL 2 `acks`). */
export function acksFor(result: CommitResult): { device: AckDecision; status: TabletAck['status']; reason?: 'already-evaluated' } {
  switch (result.status) {
    case 'ok':
      return { device: { status: AckStatus.OK, reason: AckReason.NONE }, status: 'ok' };
    case 'duplicate':
      return { device: { status: AckStatus.DUPLICATE, reason: AckReason.NONE }, status: 'duplicate' };
    case 'refused':
      return { device: { status: AckStatus.REJECTED, reason: AckReason.ALREADY_EVALUATED }, status: 'rejected', reason: 'already-evaluated' };
    default:
      result satisfies never;
      throw new TypeError('unknown commit result');
  }
}

/**
 * The parts an evaluator's self-test checks, by bit of EVENT 4's arg (PROTOCOL 1.3 "bitmap of
 * failed parts"): bits 0..4 the LEDs of buttons 1..5, bit 5 the status LED, bit 6 the buzzer,
 * as the firmware sets them (`SELF_TEST_BIT` in device/hardware.ts; a test keeps the two equal).
 */
export const SELF_TEST_PARTS = ['led1', 'led2', 'led3', 'led4', 'led5', 'status', 'buzzer'] as const;

/** The latest self-test an evaluator reported: when the hub stored it, and what failed. */
export interface SelfTestResult {
  at: string;
  /** Part names from `SELF_TEST_PARTS`, or `bit{n}` for a bit this hub does not know; empty when all passed. */
  failed: string[];
}

/** The failed parts named by an EVENT 4 bitmap, lowest bit first. */
export function failedParts(bitmap: number): string[] {
  const failed: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    if ((bitmap >>> bit) & 1) failed.push(SELF_TEST_PARTS[bit] ?? `bit${bit}`);
  }
  return failed;
}

/** The device ACK that keeps a press on the device: the hub cannot store it now (PROTOCOL 1.3 reason 4). */
export const STORAGE_UNAVAILABLE: AckDecision = { status: AckStatus.REJECTED, reason: AckReason.STORAGE_UNAVAILABLE };
export const INVALID_FIELD: AckDecision = { status: AckStatus.REJECTED, reason: AckReason.INVALID_FIELD };

export interface IngestDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  dataDir: string;
  /** Free space below this refuses new ratings, MiB. */
  minFreeMiB: number;
  /** Unsolicited presses closer than this on one device are flagged `misuse`, ms. */
  misuseWindowMs: number;
  /** A device EVAL without txnId joins the window's open transaction done within this, ms. */
  attachWithinMs(deviceId: string): number;
  /** A new evaluation was committed (publish it, pump the sync, clear tablet sessions). */
  committed(record: Evaluation): void;
}

export class Ingest {
  /** Free space fell below `storage.minFreeMiB`: new ratings are refused, devices keep them. */
  storageLow = false;
  /**
   * The latest self-test of each evaluator, read once from the events kept and then kept up
   * here: `GET /api/devices` and the platform's device status read it every second, and
   * `device_events` has no index for it.
   */
  private readonly selfTests = new Map<string, SelfTestResult>();

  constructor(private readonly deps: IngestDeps) {
    const rows = deps.store.read(
      (db) => db.prepare('SELECT device_id, arg, at FROM device_events WHERE id IN (SELECT MAX(id) FROM device_events WHERE code = ? GROUP BY device_id)').all(EventCode.SELF_TEST) as { device_id: string; arg: number; at: string }[],
    );
    for (const r of rows) this.selfTests.set(r.device_id, { at: r.at, failed: failedParts(r.arg) });
  }

  /** The latest self-test result an evaluator reported, if any. */
  selfTest(deviceId: string): SelfTestResult | undefined {
    return this.selfTests.get(deviceId);
  }

  /** Commits one evaluation; `committed` is told of a new one after the commit. */
  async commit(record: Evaluation): Promise<CommitResult> {
    const result = await this.deps.store.submit((db) => commitEvaluation(db, record, { attachWithinMs: this.deps.attachWithinMs(record.deviceId), misuseWindowMs: this.deps.misuseWindowMs }));
    const { log } = this.deps;
    switch (result.status) {
      case 'ok':
        log({ level: 'info', msg: 'evaluation committed', id: record.id, rating: result.record.level, channel: result.record.channel, windowId: result.record.windowId, txnId: result.record.txnId, flags: result.record.flags });
        this.deps.committed(result.record);
        break;
      case 'duplicate':
        log({ level: 'debug', msg: 'evaluation repeated', id: record.id });
        break;
      case 'refused':
        log({ level: 'warn', msg: 'second rating of a transaction kept for audit, not counted', id: record.id, txnId: result.record.txnId });
        break;
    }
    return result;
  }

  /** Builds and commits a device EVAL; PayloadError becomes a kept rejection. */
  async fromDevice(build: () => Evaluation, deviceId: string, message: Eval): Promise<AckDecision> {
    if (this.storageLow) return STORAGE_UNAVAILABLE; // the device keeps it
    let record: Evaluation;
    try {
      record = build();
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      await this.reject(deviceId, message, error.message);
      return INVALID_FIELD;
    }
    return acksFor(await this.commit(record)).device;
  }

  /** Commits a tablet's evaluation; throws while storage is low (no PUBACK: the tablet keeps it). */
  async fromTablet(tabletId: string, message: TabletEvaluation, build: () => Evaluation | { refused: string }): Promise<TabletAck> {
    if (this.storageLow) throw new Error('hub storage is below its free-space floor');
    const record = build();
    if ('refused' in record) {
      // kept for audit (PROTOCOL 1.3), without the contact
      await this.reject(tabletId, { ...message, contact: message.contact ? '(withheld)' : null }, record.refused);
      return { id: message.id, status: 'rejected', reason: record.refused };
    }
    const ack = acksFor(await this.commit(record));
    return ack.reason ? { id: record.id, status: ack.status, reason: ack.reason } : { id: record.id, status: ack.status };
  }

  /** PROTOCOL 1.3: the hub keeps every message it rejects, with the reason. */
  async reject(deviceId: string, message: unknown, reason: string): Promise<void> {
    this.deps.log({ level: 'warn', msg: 'message rejected', deviceId, reason });
    const now = isoNow(this.deps.clock);
    await this.deps.store.submit((db) =>
      db
        .prepare(
          `INSERT INTO rejections (device_id, message, reason, first_at, last_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (device_id, message, reason) DO UPDATE SET last_at = excluded.last_at, times = times + 1`,
        )
        .run(deviceId, JSON.stringify(message), reason, now, now),
    );
  }

  async deviceEvent(deviceId: string, message: Event): Promise<void> {
    const selfTestFailed = message.code === EventCode.SELF_TEST && message.arg !== 0;
    const warn = message.code === EventCode.BUTTON_STUCK || message.code === EventCode.QUEUE_NEAR_FULL || selfTestFailed;
    this.deps.log({ level: warn ? 'warn' : 'info', msg: 'device event', deviceId, code: message.code, arg: message.arg, text: message.text, ...(message.code === EventCode.SELF_TEST ? { failed: failedParts(message.arg) } : {}) });
    const at = isoNow(this.deps.clock);
    await this.deps.store.submit((db) => db.prepare('INSERT INTO device_events (device_id, code, arg, text, at) VALUES (?, ?, ?, ?, ?)').run(deviceId, message.code, message.arg, message.text, at));
    // after the commit: what the technician sees is what the hub keeps
    if (message.code === EventCode.SELF_TEST) this.selfTests.set(deviceId, { at, failed: failedParts(message.arg) });
  }

  /** Disk floor: below it, refuse new ratings (devices and tablets keep them) and say so. */
  checkStorage(): void {
    try {
      const fs = statfsSync(this.deps.dataDir);
      const freeMiB = (fs.bavail * fs.bsize) / 1048576;
      const low = freeMiB < this.deps.minFreeMiB;
      if (low !== this.storageLow) this.deps.log({ level: low ? 'error' : 'info', msg: low ? 'disk nearly full: refusing new ratings, devices keep them' : 'disk space recovered: taking ratings again', freeMiB: Math.round(freeMiB) });
      this.storageLow = low;
    } catch (error) {
      this.deps.log({ level: 'warn', msg: 'cannot read free disk space', error: (error as Error).message });
    }
  }
}
