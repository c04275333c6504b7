/**
 * The platform outbox (PROTOCOL 3): every SQL statement of the sync, and nothing else. The
 * outbox is the evaluations table itself, read in pages through partial indexes, so memory
 * stays flat however long the hall was offline. An evaluation is `pending` until its batch
 * is PUBACKed (`sent`) and `confirmed` when a receipt lists it. A claim marks what is handed
 * to the MQTT client and not yet PUBACKed: for evaluations, in memory (at most the batches in
 * flight: a claim dies with its connection or process, and writing one was a third of the
 * catch-up's writes); for alerts and handling steps, in the row (`alerted_at = 'publishing'`,
 * `batch_id`).
 * [r2] 差评 handling steps go the same way from the handling table, confirmed by their `stepId`.
 */
import { MAX_BATCH_BYTES, STEP_ID, type Alert, type Evaluation, type HandlingStep, type Receipt } from '../protocol/index.js';
import { dueAt } from './deadlines.js';
import { rowToEvaluation, type EvaluationRow, type HallIdentity } from './evaluations.js';
import { hallFields, outboxItem, rowJson } from './outbox-json.js';
import { stmt, type Db, type Store } from './store.js';

/** The deadline an alert carries (PROTOCOL 3 `alerts` [r2]). */
export type AlertDeadline = (e: Evaluation) => { deadlineAt: string; complex: boolean };

/** Without the hall's calendar: 2 working days, Monday to Friday. */
const PLAIN_DEADLINE: AlertDeadline = (e) => ({ deadlineAt: dueAt(e.receivedAt, 2, { holidays: [], workdays: [] }), complex: false });

/**
 * Backlog size from the counts per state the triggers keep (hub/rollups.ts; a COUNT read the
 * whole backlog's index, every second during a catch-up, for the status topic), and age through
 * evaluations_unsynced (a MIN over both states reads the index only).
 */
const BACKLOG_SQL = `SELECT (SELECT COALESCE(SUM(n), 0) FROM sync_counts WHERE state IN ('pending', 'sent')) AS n,
  (SELECT MIN(t) FROM (SELECT MIN(received_at) AS t FROM evaluations WHERE sync_state = 'pending'
                       UNION ALL SELECT MIN(received_at) FROM evaluations WHERE sync_state = 'sent')) AS oldest`;

/** PUBACKed batches awaiting their receipt in memory at most; beyond, the oldest is written `sent`. */
const MAX_ACKED_UNWRITTEN = 16;

export class Outbox {
  constructor(
    private readonly store: Store,
    private readonly hall: HallIdentity,
    /** Each alert's deadline on the hall's calendar. Default: 2 working days, Monday to Friday. */
    private readonly deadline: AlertDeadline = PLAIN_DEADLINE,
  ) {}

  /**
   * Evaluations handed to the client and not yet PUBACKed (rowids by batch), PUBACKed and not
   * yet written `sent` (`acked`, see `markBatchSent`), and all of them.
   */
  private readonly claims = new Map<string, number[]>();
  private readonly acked = new Map<string, { rowids: number[]; at: string }>();
  private readonly claimed = new Set<number>();

  /**
   * Claims of a connection that is gone (or of a hub that stopped): back to the outbox; the
   * PUBACKed batches among them written `sent` first.
   */
  releaseClaims(): void {
    this.claims.clear();
    try {
      this.flushSent();
    } finally {
      this.acked.clear(); // unwritten (a full disk): pending, and published again
      this.claimed.clear();
    }
    this.store.writeNow((db) => {
      // evaluations claimed in the row by a hub before migration 11
      db.prepare(`UPDATE evaluations INDEXED BY evaluations_in_flight SET batch_id = NULL WHERE sync_state = 'pending' AND batch_id IS NOT NULL`).run();
      db.prepare(`UPDATE evaluations INDEXED BY evaluations_alerts_publishing SET alerted_at = NULL WHERE alerted_at = 'publishing'`).run();
      db.prepare(`UPDATE handling INDEXED BY handling_in_flight SET batch_id = NULL WHERE sync_state = 'pending' AND batch_id IS NOT NULL`).run();
    });
  }

  /** The next page of 差评 not yet alerted, claimed in one transaction, each with its deadline. */
  claimAlerts(limit: number): Alert[] {
    // a second rating (评价次数 2) closes a loop: it is no new 差评 to alert
    const rows = this.store.read((db) => stmt(db, `SELECT * FROM evaluations INDEXED BY evaluations_alerts WHERE dissatisfied = 1 AND alerted_at IS NULL AND rating_no = 1 ORDER BY received_at LIMIT ?`).all(limit)) as EvaluationRow[];
    if (rows.length === 0) return [];
    const page = rows.map((row) => {
      const e = rowToEvaluation(row, this.hall);
      return { ...e, ...this.deadline(e) };
    });
    this.lightWrite((db) => {
      const claim = stmt(db, `UPDATE evaluations SET alerted_at = 'publishing' WHERE id = ? AND alerted_at IS NULL`);
      for (const e of page) claim.run(e.id);
    });
    return page;
  }

  /** PUBACKed alerts, marked in one light write (lost in a power cut, they are alerted again). */
  markAlerted(ids: readonly string[], at: string): Promise<void> {
    return this.light((db) => {
      const mark = stmt(db, `UPDATE evaluations SET alerted_at = ? WHERE id = ? AND alerted_at = 'publishing'`);
      for (const id of ids) mark.run(at, id);
    });
  }

  /**
   * [r2] The next batch of handling steps (PROTOCOL 3 `handling`), oldest first, claimed for
   * `batchId`; empty when none is pending.
   */
  claimStepBatch(batchId: string, maxItems: number): HandlingStep[] {
    const rows = this.store.read((db) =>
      stmt(
        db,
        `SELECT id, step_id AS stepId, evaluation_id AS evaluationId, step, by, note, at, deadline_at AS deadlineAt FROM handling INDEXED BY handling_outbox
         WHERE sync_state = 'pending' AND batch_id IS NULL ORDER BY id LIMIT ?`,
      ).all(maxItems),
    ) as (HandlingStep & { id: number })[];
    const items: (HandlingStep & { id: number })[] = [];
    let bytes = 80 + batchId.length + this.hall.hallId.length;
    for (const row of rows) {
      // steps recorded before migration 9 have no deadline or person: the hub's words for them
      const step = { ...row, by: row.by ?? 'dashboard', deadlineAt: row.deadlineAt ?? row.at };
      const size = Buffer.byteLength(JSON.stringify(step)) + 1;
      if (items.length > 0 && bytes + size > MAX_BATCH_BYTES) break;
      bytes += size;
      items.push(step);
    }
    if (items.length === 0) return [];
    this.store.writeNow((db) => {
      const claim = stmt(db, 'UPDATE handling SET batch_id = ? WHERE id = ?');
      for (const r of items) claim.run(batchId, r.id);
    });
    return items.map(({ id: _id, ...step }) => step);
  }

  /** Handling steps published and not yet confirmed by a receipt (the next batch waits for them). */
  stepsUnconfirmed(): boolean {
    // two partial indexes, one probe each: the sync asks on every pump, a catch-up pumps thousands of times
    return this.store.read(
      (db) =>
        !!stmt(db, `SELECT 1 FROM handling INDEXED BY handling_sent WHERE sync_state = 'sent' LIMIT 1`).get() ||
        !!stmt(db, `SELECT 1 FROM handling INDEXED BY handling_in_flight WHERE sync_state = 'pending' AND batch_id IS NOT NULL LIMIT 1`).get(),
    );
  }

  /** The step batch was PUBACKed: its steps are `sent`. */
  markStepBatchSent(batchId: string, at: string): Promise<void> {
    return this.store.submit((db) => {
      stmt(db, `UPDATE handling INDEXED BY handling_in_flight SET sync_state = 'sent', sent_at = ? WHERE batch_id = ? AND sync_state = 'pending'`).run(at, batchId);
    });
  }

  /** Sent steps without a receipt since `cutoff` go back to pending. Returns how many. */
  requeueUnconfirmedSteps(cutoff: string): number {
    return this.store.writeNow((db) => stmt(db, `UPDATE handling INDEXED BY handling_sent SET sync_state = 'pending', batch_id = NULL WHERE sync_state = 'sent' AND sent_at < ?`).run(cutoff).changes);
  }

  /**
   * The next batch: pending evaluations not in flight, 差评 first, at most `maxItems` and
   * PROTOCOL 3's 256 KiB, claimed for `batchId`, as the items' JSON texts (joined by
   * `batchPayload` of hub/outbox-json.ts). Empty when nothing is pending. The texts are the ready ones of
   * `outbox_json` (hub/outbox-json.ts); a row without one is built from its columns.
   */
  claimBatch(batchId: string, maxItems: number): string[] {
    const hall = hallFields(this.hall);
    let bytes = 80 + batchId.length + this.hall.hallId.length;
    const items: string[] = [];
    const rowids: number[] = [];
    this.store.read((db) => {
      // the page's rowids from the index alone, past the ones in flight (still pending, first in order)
      const page = stmt(db, `SELECT rowid FROM evaluations INDEXED BY evaluations_outbox WHERE sync_state = 'pending' AND batch_id IS NULL ORDER BY dissatisfied DESC, received_at LIMIT ?`)
        .pluck(true)
        .all(maxItems + this.claimed.size) as number[];
      const row = stmt(db, 'SELECT id, outbox_json FROM evaluations WHERE rowid = ?').raw(true);
      for (const rowid of page) {
        if (this.claimed.has(rowid)) continue;
        const [id, json] = row.get(rowid) as [string, string | null];
        const item = outboxItem(id, hall, json ?? rowJson(stmt(db, 'SELECT * FROM evaluations WHERE rowid = ?').get(rowid) as EvaluationRow));
        const size = Buffer.byteLength(item) + 1;
        if (items.length === maxItems || (items.length > 0 && bytes + size > MAX_BATCH_BYTES)) break;
        bytes += size;
        items.push(item);
        rowids.push(rowid);
      }
    });
    if (items.length === 0) return items;
    this.claims.set(batchId, rowids);
    for (const rowid of rowids) this.claimed.add(rowid);
    return items;
  }

  /**
   * A write whose loss in a power cut loses nothing (claims, PUBACKs, receipts: the sync's own
   * progress, done again after a loss): one transaction now, without an fsync of its own. The
   * WAL keeps commits in order, so the next durable commit (a rating's) makes it durable too.
   */
  private lightWrite<T>(write: (db: Db) => T): T {
    const db = this.store.db;
    const mode = db.pragma('synchronous', { simple: true }) as number;
    db.pragma('synchronous = NORMAL');
    try {
      return this.store.writeNow(write);
    } finally {
      db.pragma(`synchronous = ${mode}`);
    }
  }

  /** `lightWrite` for a caller that awaits: a write that fails rejects. */
  private light<T>(write: (db: Db) => T): Promise<T> {
    try {
      return Promise.resolve(this.lightWrite(write));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /**
   * The batch was PUBACKed: its evaluations are `sent`. A light write: lost in a power cut, the
   * rows are pending again and go out again (the platform deduplicates on `id`).
   */
  markBatchSent(batchId: string, at: string): Promise<void> {
    const rowids = this.claims.get(batchId);
    if (!rowids) return Promise.resolve(); // its connection is gone: released
    this.claims.delete(batchId);
    // Written when its receipt has not come by the next `flushSent` (the sync's housekeeping):
    // the receipt, usually within the second, then takes the rows from pending to confirmed in
    // one write instead of two. Still claimed meanwhile, so not published again.
    this.acked.set(batchId, { rowids, at });
    if (this.acked.size <= MAX_ACKED_UNWRITTEN) return Promise.resolve();
    const [oldest] = this.acked.keys();
    return this.light((db) => this.writeSent(db, oldest!));
  }

  /** PUBACKed batches still without a receipt: written `sent` now (a receipt may never come). */
  flushSent(): void {
    if (this.acked.size === 0) return;
    this.lightWrite((db) => {
      for (const batchId of [...this.acked.keys()]) this.writeSent(db, batchId);
    });
  }

  private writeSent(db: Db, batchId: string): void {
    const batch = this.acked.get(batchId)!;
    stmt(db, `UPDATE evaluations SET sync_state = 'sent', sent_at = ?, batch_id = ? WHERE rowid IN (SELECT value FROM json_each(?)) AND +sync_state = 'pending'`).run(
      batch.at,
      batchId,
      JSON.stringify(batch.rowids),
    );
    this.acked.delete(batchId);
    for (const rowid of batch.rowids) this.claimed.delete(rowid);
  }

  /**
   * Applies a receipt: listed ids confirmed or rejected with the platform's reason, evaluations
   * and [r2] handling steps (an id of the shape `{evaluationId}#{n}`). Resolves with how many
   * of each were confirmed. A light write: lost in a power cut, the rows are `sent` again and
   * go out again after the republish timeout, and the platform's next receipt confirms them.
   */
  applyReceipt(receipt: Receipt, at: string): Promise<{ evaluations: number; steps: number }> {
    // one statement for each list, whatever its length: SQLite walks the ids (json_each) through
    // the primary key; `+sync_state` keeps it off the sync_state index (a scan of the backlog)
    const accepted = JSON.stringify(receipt.accepted);
    const acceptedSteps = receipt.accepted.filter((id) => STEP_ID.test(id));
    const batch = this.acked.get(receipt.batchId);
    return this.light((db) => {
      if (batch) {
        // pending rows of a PUBACKed batch not yet written sent: what the receipt does not list goes out again
        this.acked.delete(receipt.batchId);
        for (const rowid of batch.rowids) this.claimed.delete(rowid);
      }
      const evaluations = stmt(
        db,
        `UPDATE evaluations SET sync_state = 'confirmed', confirmed_at = ?, sent_at = COALESCE(sent_at, ?), batch_id = NULL, outbox_json = NULL
         WHERE id IN (SELECT value FROM json_each(?)) AND +sync_state IN ('pending', 'sent')`,
      ).run(at, batch?.at ?? at, accepted).changes; // sent_at: the PUBACK's time, for a restarted hub's "last PUBACK"
      let steps = 0;
      if (acceptedSteps.length > 0) {
        steps = stmt(db, `UPDATE handling SET sync_state = 'confirmed', confirmed_at = ?, batch_id = NULL WHERE step_id IN (SELECT value FROM json_each(?)) AND +sync_state IN ('pending', 'sent')`).run(
          at,
          JSON.stringify(acceptedSteps),
        ).changes;
      }
      const reject = stmt(db, `UPDATE evaluations SET sync_state = 'rejected', sync_reason = ?, batch_id = NULL, outbox_json = NULL WHERE id = ? AND sync_state IN ('pending', 'sent')`);
      const rejectStep = stmt(db, `UPDATE handling SET sync_state = 'rejected', sync_reason = ?, batch_id = NULL WHERE step_id = ? AND sync_state IN ('pending', 'sent')`);
      for (const r of receipt.rejected) {
        reject.run(r.reason, r.id);
        if (STEP_ID.test(r.id)) rejectStep.run(r.reason, r.id);
      }
      return { evaluations, steps };
    });
  }

  /** Sent evaluations without a receipt since `cutoff` go back to pending. Returns how many. */
  requeueUnconfirmed(cutoff: string): number {
    return this.store.writeNow((db) =>
      stmt(db, `UPDATE evaluations INDEXED BY evaluations_sent SET sync_state = 'pending', batch_id = NULL WHERE sync_state = 'sent' AND sent_at < ?`).run(cutoff).changes,
    );
  }

  /** How many evaluations the platform has not confirmed, and the oldest one's receipt time. */
  backlog(): { n: number; oldest: string | null } {
    return this.store.read((db) => stmt(db, BACKLOG_SQL).get()) as { n: number; oldest: string | null };
  }
}
