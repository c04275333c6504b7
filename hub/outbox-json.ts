/**
 * An evaluation as the platform gets it (PROTOCOL 4), kept ready in `evaluations.outbox_json`
 * from its commit to its receipt, so that a catch-up joins stored text into batches instead of
 * building an object per row. The stored text is the record without its first four fields (the
 * id and the hall's three), which are joined in when it goes out: a row is always published
 * with the hall identity in effect, exactly as `rowToEvaluation` would give it.
 */
import type { Evaluation } from '../protocol/index.js';
import { rowToEvaluation, type EvaluationRow, type HallIdentity } from './evaluations.js';

const NO_HALL: HallIdentity = { hallId: '', areaCode: '', deptCode: '' };

/**
 * The ready text of a record about to be inserted, normalised as the INSERT stores it (a
 * contact only with consent, absent fields null) and read back by `rowToEvaluation`.
 */
export function outboxJson(e: Evaluation): string {
  const row: Omit<EvaluationRow, 'status' | 'refusal' | 'sync_state' | 'sync_reason' | 'superseded_by'> = {
    id: e.id,
    channel: e.channel,
    level: e.level,
    reasons: JSON.stringify(e.reasons),
    comment: e.comment,
    contact: e.consent ? (e.contact ?? null) : null,
    txn_id: e.txnId || null,
    matter_code: e.matterCode ?? null,
    matter_name: e.matterName ?? null,
    window_id: e.windowId ?? null,
    staff_id: e.staffId ?? null,
    staff_name: e.staffName ?? null,
    origin: e.origin,
    evaluated_at: e.evaluatedAt,
    received_at: e.receivedAt,
    device_id: e.deviceId,
    fw_version: e.fwVersion,
    prompt_ms: e.promptMs ?? null,
    flags: JSON.stringify(e.flags),
    consent: e.consent ? 1 : 0,
    rating_no: e.ratingNo ?? 1,
    follow_up_of: e.followUpOf ?? null,
  };
  return rowJson(row as EvaluationRow);
}

/** The ready text of a stored row (rows written before migration 11, or by hand, have none). */
export function rowJson(row: EvaluationRow): string {
  const { id: _id, hallId: _hall, areaCode: _area, deptCode: _dept, ...rest } = rowToEvaluation(row, NO_HALL);
  return JSON.stringify(rest);
}

/** The hall's fields as they sit between the id and the rest of an item. */
export function hallFields(hall: HallIdentity): string {
  const inner = JSON.stringify({ hallId: hall.hallId, areaCode: hall.areaCode, deptCode: hall.deptCode }).slice(1, -1);
  return inner ? `,${inner},` : ',';
}

/** One item of a batch: byte for byte `JSON.stringify(rowToEvaluation(row, hall))`. */
export function outboxItem(id: string, hall: string, json: string): string {
  return `{"id":${JSON.stringify(id)}${hall}${json.slice(1)}`;
}

/** A batch (PROTOCOL 3 `evaluations`): byte for byte `JSON.stringify({batchId, hallId, sentAt, items})`. */
export function batchPayload(batchId: string, hallId: string, sentAt: string, items: readonly string[]): string {
  return `{"batchId":${JSON.stringify(batchId)},"hallId":${JSON.stringify(hallId)},"sentAt":${JSON.stringify(sentAt)},"items":[${items.join(',')}]}`;
}

/**
 * `batchPayload`'s bytes written into `into`, a view of it; undefined if they might not fit.
 * The sync reuses a few buffers so that a catch-up does not leave a 256 KiB string and buffer
 * per batch for the old generation's collector (the hub's RSS grew by them).
 */
export function batchPayloadInto(into: Buffer, batchId: string, hallId: string, sentAt: string, items: readonly string[]): Buffer | undefined {
  let at = into.write(`{"batchId":${JSON.stringify(batchId)},"hallId":${JSON.stringify(hallId)},"sentAt":${JSON.stringify(sentAt)},"items":[`);
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (into.length - at < item.length * 3 + 3) return undefined; // UTF-8 takes at most 3 bytes a UTF-16 unit
    if (i > 0) into[at++] = 0x2c; // ,
    at += into.write(item, at);
  }
  at += into.write(']}', at);
  return into.subarray(0, at);
}
