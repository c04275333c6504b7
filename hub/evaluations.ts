/**
 * Evaluations and transactions in the store: committing one rating (deduplicated on `id`,
 * 一事一评 per `txnId`, misuse flagged), and the queries of the API and the CLI (the export is
 * hub/export.ts).
 */
import { isDissatisfied, type Evaluation, type ListedEvaluation, type StatGroup, type StatRow } from '../protocol/index.js';
import { outboxJson } from './outbox-json.js';
import { countsFromRollups, countsFromRows, type KeyCounts, type RollupDim } from './rollups.js';
import { stmt, type Db } from './store.js';

export type CommitResult =
  | { status: 'ok'; record: Evaluation }
  | { status: 'duplicate' }
  | { status: 'refused'; reason: 'already-evaluated'; record: Evaluation };

export interface CommitOptions {
  /** A device EVAL without a txnId joins the window's open transaction done within this, ms. */
  attachWithinMs: number;
  /** Unsolicited presses closer than this on one device are flagged `misuse`, ms. */
  misuseWindowMs: number;
}

export interface EvaluationRow {
  id: string;
  channel: string;
  level: number;
  reasons: string;
  comment: string;
  contact: string | null;
  txn_id: string | null;
  matter_code: string | null;
  matter_name: string | null;
  window_id: string | null;
  staff_id: string | null;
  staff_name: string | null;
  origin: string;
  evaluated_at: string;
  received_at: string;
  device_id: string;
  fw_version: string;
  prompt_ms: number | null;
  flags: string;
  status: string;
  refusal: string | null;
  sync_state: string;
  sync_reason: string | null;
  consent: number;
  rating_no: number;
  follow_up_of: string | null;
  superseded_by: string | null;
}

export interface HallIdentity {
  hallId: string;
  areaCode: string;
  deptCode: string;
}

export function rowToEvaluation(row: EvaluationRow, hall: HallIdentity): Evaluation {
  return {
    id: row.id,
    hallId: hall.hallId,
    areaCode: hall.areaCode,
    deptCode: hall.deptCode,
    channel: row.channel as Evaluation['channel'],
    level: row.level,
    reasons: JSON.parse(row.reasons) as string[],
    comment: row.comment,
    contact: row.contact,
    txnId: row.txn_id,
    matterCode: row.matter_code,
    matterName: row.matter_name,
    windowId: row.window_id,
    staffId: row.staff_id,
    staffName: row.staff_name,
    origin: row.origin as Evaluation['origin'],
    evaluatedAt: row.evaluated_at,
    receivedAt: row.received_at,
    deviceId: row.device_id,
    fwVersion: row.fw_version,
    promptMs: row.prompt_ms,
    flags: JSON.parse(row.flags) as string[],
    consent: row.consent === 1,
    ratingNo: row.rating_no === 2 ? 2 : 1,
    followUpOf: row.follow_up_of,
  };
}

/** `13812345678` -> `138****5678`: enough for staff to recognise a call-back, not to dial it. */
export function maskContact(contact: string | null | undefined): string | null {
  if (!contact) return null;
  return contact.length >= 7 ? `${contact.slice(0, 3)}****${contact.slice(-4)}` : '****';
}

/**
 * Commits one evaluation in the caller's transaction (a `Store.submit` write). Decides, in
 * order: a repeat of a known id is a duplicate; a rating (level 1..5) from the evaluator
 * without txnId joins the window's open transaction — a level 0 never does; anything for a
 * rated transaction, level 0 included, is kept but refused (PROTOCOL 1.3, one rating per 办件
 * across channels); a rating supersedes its transaction's level-0 records; an unsolicited
 * press soon after another on the same device is flagged misuse.
 */
export function commitEvaluation(db: Db, input: Evaluation, options: CommitOptions): CommitResult {
  // A repeat is answered with what the first was told: a refused rating stays refused (a tablet
  // whose `rejected` ack was lost must not be told `duplicate`, as if it had been counted).
  const known = stmt(db, 'SELECT status FROM evaluations WHERE id = ?').get(input.id) as { status: string } | undefined;
  if (known?.status === 'refused') return { status: 'refused', reason: 'already-evaluated', record: input };
  if (known) return { status: 'duplicate' };
  const record: Evaluation = { ...input, flags: [...input.flags] };
  const receivedMs = Date.parse(record.receivedAt);

  if (!record.txnId && record.level > 0 && record.channel === 'evaluator' && record.windowId) {
    const open = stmt(
      db,
        `SELECT txn_id, matter_code, matter_name, staff_id, staff_name, done_at FROM transactions
         WHERE window_id = ? AND state = 'done' AND rated_by IS NULL ORDER BY done_at DESC LIMIT 1`,
    ).get(record.windowId) as { txn_id: string; matter_code: string; matter_name: string; staff_id: string; staff_name: string; done_at: string } | undefined;
    if (open && receivedMs - Date.parse(open.done_at) <= options.attachWithinMs) {
      record.txnId = open.txn_id;
      record.matterCode ??= open.matter_code;
      record.matterName ??= open.matter_name;
    }
  }

  let txn: { state: string; rated_by: string | null; matter_code: string | null; matter_name: string | null; staff_id: string | null; staff_name: string | null } | undefined;
  if (record.txnId) {
    txn = stmt(db, 'SELECT state, rated_by, matter_code, matter_name, staff_id, staff_name FROM transactions WHERE txn_id = ?').get(record.txnId) as typeof txn;
    if (txn) {
      record.matterCode ??= txn.matter_code;
      record.matterName ??= txn.matter_name;
      if (txn.staff_id) {
        record.staffId = txn.staff_id;
        record.staffName = txn.staff_name;
      }
    }
  }

  if (record.origin === 'unsolicited') {
    const since = new Date(Date.parse(record.evaluatedAt) - options.misuseWindowMs).toISOString();
    const recent = stmt(db, `SELECT 1 FROM evaluations WHERE device_id = ? AND origin = 'unsolicited' AND evaluated_at >= ? AND evaluated_at <= ? LIMIT 1`).get(record.deviceId, since, record.evaluatedAt);
    if (recent && !record.flags.includes('misuse')) record.flags.push('misuse');
  }

  // 评价次数 2 (PROTOCOL 4 [r2] ratingNo) is the one exception to 一事一评: the citizen's rating
  // after a rectified 差评. The 差评 loop (handling.ts) decides when it may come; the unique index
  // evaluations_one_re_rating that it comes once.
  const followUp = record.ratingNo === 2;
  if (followUp && !record.followUpOf) throw new TypeError('input.followUpOf: a ratingNo 2 names the first rating');
  const rated = !followUp && !!record.txnId && !!(txn?.rated_by || isRated(db, record.txnId));
  insert(db, record, rated ? 'refused' : 'accepted', rated ? 'already-evaluated' : null);
  if (rated) return { status: 'refused', reason: 'already-evaluated', record };
  if (!followUp && record.level > 0 && record.txnId) {
    stmt(db, 'UPDATE transactions SET rated_by = ? WHERE txn_id = ?').run(record.id, record.txnId);
    // its prompt's timeout, if one was recorded, is superseded: kept for audit, never counted
    stmt(db, `UPDATE evaluations INDEXED BY evaluations_txn SET superseded_by = ? WHERE txn_id = ? AND level = 0 AND superseded_by IS NULL`).run(record.id, record.txnId);
  }
  return { status: 'ok', record };
}

function isRated(db: Db, txnId: string): boolean {
  // The conditions repeat the partial index evaluations_one_per_txn so SQLite uses it.
  return !!stmt(db, `SELECT 1 FROM evaluations WHERE txn_id = ? AND status = 'accepted' AND level > 0 AND txn_id IS NOT NULL AND txn_id <> '' AND rating_no = 1`).get(txnId);
}

function insert(db: Db, e: Evaluation, status: 'accepted' | 'refused', refusal: string | null): void {
  stmt(
    db,
    `INSERT INTO evaluations (id, channel, level, reasons, comment, contact, txn_id, matter_code, matter_name, window_id, staff_id,
       staff_name, origin, evaluated_at, received_at, device_id, fw_version, prompt_ms, flags, status, refusal, sync_state,
       consent, rating_no, follow_up_of, outbox_json)
     VALUES (@id, @channel, @level, @reasons, @comment, @contact, @txnId, @matterCode, @matterName, @windowId, @staffId,
       @staffName, @origin, @evaluatedAt, @receivedAt, @deviceId, @fwVersion, @promptMs, @flags, @status, @refusal, @syncState,
       @consentFlag, @ratingNo, @followUpOf, @outboxJson)`,
  ).run({
    ...e,
    reasons: JSON.stringify(e.reasons),
    flags: JSON.stringify(e.flags),
    txnId: e.txnId || null,
    matterCode: e.matterCode ?? null,
    matterName: e.matterName ?? null,
    windowId: e.windowId ?? null,
    staffId: e.staffId ?? null,
    staffName: e.staffName ?? null,
    promptMs: e.promptMs ?? null,
    // a contact is kept only with the citizen's consent (PROTOCOL 4)
    contact: e.consent ? (e.contact ?? null) : null,
    consentFlag: e.consent ? 1 : 0,
    ratingNo: e.ratingNo ?? 1,
    followUpOf: e.followUpOf ?? null,
    status,
    refusal,
    syncState: status === 'refused' ? 'local' : 'pending',
    outboxJson: status === 'refused' ? null : outboxJson(e), // what the platform gets, ready for the sync
  });
}

/** A transaction as the hub recorded it from the queue system. */
export interface TransactionRecord {
  txnId: string;
  windowId: string;
  state: 'started' | 'done' | 'cancelled';
  staffId: string | null;
  staffName: string | null;
  ratedBy: string | null;
}

export function findTransaction(db: Db, txnId: string): TransactionRecord | undefined {
  return stmt(db, 'SELECT txn_id AS txnId, window_id AS windowId, state, staff_id AS staffId, staff_name AS staffName, rated_by AS ratedBy FROM transactions WHERE txn_id = ?').get(txnId) as TransactionRecord | undefined;
}

/** Opens, completes or cancels a transaction (一事一评) for a window. */
export function recordService(
  db: Db,
  t: { txnId: string; windowId: string; event: 'started' | 'done' | 'cancelled'; matterCode: string | null; matterName: string | null; staffId: string | null; staffName: string | null; contact?: string | null; at: string },
): void {
  const existing = db.prepare('SELECT state FROM transactions WHERE txn_id = ?').get(t.txnId);
  const state = t.event;
  if (!existing) {
    db.prepare(
      `INSERT INTO transactions (txn_id, window_id, matter_code, matter_name, staff_id, staff_name, state, opened_at, done_at, contact)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(t.txnId, t.windowId, t.matterCode, t.matterName, t.staffId, t.staffName, state, t.at, state === 'done' ? t.at : null, t.contact ?? null);
    return;
  }
  db.prepare(
    `UPDATE transactions SET state = ?, window_id = ?, matter_code = COALESCE(?, matter_code), matter_name = COALESCE(?, matter_name),
       staff_id = COALESCE(?, staff_id), staff_name = COALESCE(?, staff_name), done_at = CASE WHEN ? = 'done' THEN ? ELSE done_at END,
       contact = COALESCE(?, contact)
     WHERE txn_id = ?`,
  ).run(state, t.windowId, t.matterCode, t.matterName, t.staffId, t.staffName, state, t.at, t.contact ?? null, t.txnId);
}

/** Committed evaluations, newest first, `contact` masked (PROTOCOL 5). */
export function listEvaluations(db: Db, hall: HallIdentity, options: { since?: string; limit: number }): ListedEvaluation[] {
  const rows = db
    .prepare(`SELECT * FROM evaluations WHERE received_at >= ? ORDER BY received_at DESC, rowid DESC LIMIT ?`)
    .all(options.since ?? '', options.limit) as EvaluationRow[];
  return rows.map((row) => ({ ...rowToEvaluation(row, hall), contact: maskContact(row.contact), status: row.status, refusal: row.refusal, syncState: row.sync_state }));
}

/** Where the departments of `by: 'department'` come from. */
export interface Departments {
  /** The hall's deptCode (configuration), for every matter without one of its own; '' for none. */
  hall: string;
  /** The department of a matter, where the matter catalogue says (the pushed one has none yet). */
  ofMatter?: (matterCode: string) => string | undefined;
}

export interface StatsOptions {
  from: string;
  to: string;
  by: StatGroup;
  includeMisuse?: boolean;
  /** For `by: 'department'`; without it every rating is under null. */
  departments?: Departments;
}

/**
 * Counts per level, satisfaction rate, 差评 and not-evaluated counts, grouped. Refused
 * (second) ratings never count; misuse-flagged ones count only when asked. Read from the
 * rollups (hub/rollups.ts) and the rows at the range's partial-day edges: the same answer as
 * `statsFromRows`, in a time that does not grow with the range.
 */
export function stats(db: Db, options: StatsOptions): StatRow[] {
  return statRows(countsFromRollups(db, dimOf(options.by), options.from, options.to), options);
}

/** `stats` straight from the rows (one GROUP BY over the range): the reference the rollups answer like. */
export function statsFromRows(db: Db, options: StatsOptions): StatRow[] {
  return statRows(countsFromRows(db, dimOf(options.by), options.from, options.to), options);
}

const dimOf = (by: StatGroup): RollupDim => (by === 'department' ? 'matter' : by);

function statRows(counts: KeyCounts[], options: StatsOptions): StatRow[] {
  const departments = options.departments;
  const departmentOf = (matter: string | null) => (matter && departments?.ofMatter?.(matter)) || departments?.hall || null;
  const groups = new Map<string | null, StatRow>();
  for (const r of counts) {
    const key = options.by === 'department' ? departmentOf(r.key) : r.key;
    let g = groups.get(key);
    if (!g) {
      // a staff member's or matter's name: the largest among the counted rows (MAX, as SQL); a department has none
      g = { key, name: options.by === 'department' ? null : r.name, levels: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 }, rated: 0, notEvaluated: 0, dissatisfied: 0, satisfactionRate: null, misuseExcluded: 0 };
      groups.set(key, g);
    }
    for (const level of [0, 1, 2, 3, 4, 5] as const) {
      const plain = r[`n${level}`];
      const misuse = r[`m${level}`];
      const n = options.includeMisuse ? plain + misuse : plain;
      if (!options.includeMisuse) g.misuseExcluded += misuse;
      if (level === 0) g.notEvaluated += n;
      else {
        g.levels[String(level) as '1'] += n;
        g.rated += n;
        if (isDissatisfied(level)) g.dissatisfied += n;
      }
    }
  }
  for (const g of groups.values()) g.satisfactionRate = g.rated ? Number(((g.rated - g.dissatisfied) / g.rated).toFixed(4)) : null;
  return [...groups.values()].sort((a, b) => byKey.compare(String(a.key), String(b.key)));
}

/** The order of `String.prototype.localeCompare` (the same collation), without building a collator per comparison: a year by hour sorts ~3,000 keys. */
const byKey = new Intl.Collator();

/**
 * Backlog by sync state (PROTOCOL 5 `GET /api/sync`): the counts kept by triggers (sync_counts,
 * hub/rollups.ts), the oldest unsynced from the head of the index evaluations_unsynced.
 */
export function syncSummary(db: Db) {
  const counts = Object.fromEntries((stmt(db, `SELECT state AS s, n FROM sync_counts`).all() as { s: string; n: number }[]).map((r) => [r.s, r.n]));
  const oldest = stmt(
    db,
    `SELECT MIN(t) AS t FROM (SELECT MIN(received_at) AS t FROM evaluations WHERE sync_state = 'pending' UNION ALL SELECT MIN(received_at) FROM evaluations WHERE sync_state = 'sent')`,
  ).get() as { t: string | null };
  return {
    pending: counts['pending'] ?? 0,
    sent: counts['sent'] ?? 0,
    confirmed: counts['confirmed'] ?? 0,
    rejected: counts['rejected'] ?? 0,
    local: counts['local'] ?? 0,
    oldestUnsyncedAt: oldest.t,
  };
}

/** `syncSummary` by counting the rows (a scan): the reference the counters answer like. */
export function syncSummaryFromRows(db: Db) {
  const counts = Object.fromEntries((db.prepare(`SELECT sync_state AS s, COUNT(*) AS n FROM evaluations GROUP BY sync_state`).all() as { s: string; n: number }[]).map((r) => [r.s, r.n]));
  return { ...syncSummary(db), pending: counts['pending'] ?? 0, sent: counts['sent'] ?? 0, confirmed: counts['confirmed'] ?? 0, rejected: counts['rejected'] ?? 0, local: counts['local'] ?? 0 };
}
