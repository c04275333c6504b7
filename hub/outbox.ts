/**
 * The platform outbox (PROTOCOL 3): every SQL statement of the sync, and nothing else. The
 * outbox is the evaluations table itself, read in pages through partial indexes, so memory
 * stays flat however long the hall was offline. An evaluation is `pending` until its batch
 * is PUBACKed (`sent`) and `confirmed` when a receipt lists it; a claim (`batch_id`, or
 * `alerted_at = 'publishing'`) marks what is handed to the MQTT client and not yet PUBACKed.
 */
import { MAX_BATCH_BYTES, type Evaluation, type Receipt } from '../protocol/index.js';
import { rowToEvaluation, type EvaluationRow, type HallIdentity } from './evaluations.js';
import { stmt, type Store } from './store.js';

/** A handling step of a 差评 awaiting publication. */
export interface OutboxStep {
  id: number;
  evaluationId: string;
  step: string;
  at: string;
  by: string | null;
  note: string | null;
}

/** Backlog size and age through evaluations_unsynced (a MIN over both states reads the index only). */
const BACKLOG_SQL = `SELECT (SELECT COUNT(*) FROM evaluations WHERE sync_state IN ('pending', 'sent')) AS n,
  (SELECT MIN(t) FROM (SELECT MIN(received_at) AS t FROM evaluations WHERE sync_state = 'pending'
                       UNION ALL SELECT MIN(received_at) FROM evaluations WHERE sync_state = 'sent')) AS oldest`;

export class Outbox {
  constructor(
    private readonly store: Store,
    private readonly hall: HallIdentity,
  ) {}

  /** Claims of a connection that is gone (or of a hub that stopped): back to the outbox. */
  releaseClaims(): void {
    this.store.writeNow((db) => {
      db.prepare(`UPDATE evaluations INDEXED BY evaluations_in_flight SET batch_id = NULL WHERE sync_state = 'pending' AND batch_id IS NOT NULL`).run();
      db.prepare(`UPDATE evaluations INDEXED BY evaluations_alerts_publishing SET alerted_at = NULL WHERE alerted_at = 'publishing'`).run();
      db.prepare(`UPDATE handling SET synced_at = NULL WHERE synced_at = 'publishing'`).run();
    });
  }

  /** The next page of 差评 not yet alerted, claimed in one transaction. */
  claimAlerts(limit: number): Evaluation[] {
    const rows = this.store.read((db) => stmt(db, `SELECT * FROM evaluations INDEXED BY evaluations_alerts WHERE dissatisfied = 1 AND alerted_at IS NULL ORDER BY received_at LIMIT ?`).all(limit)) as EvaluationRow[];
    if (rows.length === 0) return [];
    const page = rows.map((row) => rowToEvaluation(row, this.hall));
    this.store.writeNow((db) => {
      const claim = stmt(db, `UPDATE evaluations SET alerted_at = 'publishing' WHERE id = ? AND alerted_at IS NULL`);
      for (const e of page) claim.run(e.id);
    });
    return page;
  }

  /** PUBACKed alerts, marked in one commit. */
  markAlerted(ids: readonly string[], at: string): Promise<void> {
    return this.store.submit((db) => {
      const mark = stmt(db, `UPDATE evaluations SET alerted_at = ? WHERE id = ? AND alerted_at = 'publishing'`);
      for (const id of ids) mark.run(at, id);
    });
  }

  /** Handling steps not yet published, each claimed. */
  claimSteps(limit: number): OutboxStep[] {
    const rows = this.store.read((db) => stmt(db, `SELECT id, evaluation_id AS evaluationId, step, at, by, note FROM handling WHERE synced_at IS NULL ORDER BY id LIMIT ?`).all(limit)) as OutboxStep[];
    if (rows.length === 0) return rows;
    this.store.writeNow((db) => {
      const claim = stmt(db, `UPDATE handling SET synced_at = 'publishing' WHERE id = ?`);
      for (const r of rows) claim.run(r.id);
    });
    return rows;
  }

  markStepSent(id: number, at: string): Promise<void> {
    return this.store.submit((db) => {
      stmt(db, `UPDATE handling SET synced_at = ? WHERE id = ? AND synced_at = 'publishing'`).run(at, id);
    });
  }

  /**
   * The next batch: pending evaluations not in flight, 差评 first, at most `maxItems` and
   * PROTOCOL 3's 256 KiB, claimed for `batchId`. Empty when nothing is pending.
   */
  claimBatch(batchId: string, maxItems: number): Evaluation[] {
    const rows = this.store.read((db) =>
      stmt(db, `SELECT * FROM evaluations INDEXED BY evaluations_outbox WHERE sync_state = 'pending' AND batch_id IS NULL ORDER BY dissatisfied DESC, received_at LIMIT ?`).all(maxItems),
    ) as EvaluationRow[];
    const items: Evaluation[] = [];
    let bytes = 80 + batchId.length + this.hall.hallId.length;
    for (const row of rows) {
      const e = rowToEvaluation(row, this.hall);
      const size = Buffer.byteLength(JSON.stringify(e)) + 1;
      if (items.length > 0 && bytes + size > MAX_BATCH_BYTES) break;
      bytes += size;
      items.push(e);
    }
    if (items.length === 0) return items;
    this.store.writeNow((db) => {
      const claim = stmt(db, 'UPDATE evaluations SET batch_id = ? WHERE id = ?');
      for (const e of items) claim.run(batchId, e.id);
    });
    return items;
  }

  /** The batch was PUBACKed: its evaluations are `sent`. */
  markBatchSent(batchId: string, at: string): Promise<void> {
    return this.store.submit((db) => {
      stmt(db, `UPDATE evaluations SET sync_state = 'sent', sent_at = ? WHERE batch_id = ? AND sync_state = 'pending'`).run(at, batchId);
    });
  }

  /** Applies a receipt: listed ids confirmed or rejected with the platform's reason. Resolves with how many were confirmed. */
  applyReceipt(receipt: Receipt, at: string): Promise<number> {
    return this.store.submit((db) => {
      let n = 0;
      const confirm = stmt(db, `UPDATE evaluations SET sync_state = 'confirmed', confirmed_at = ?, batch_id = NULL WHERE id = ? AND sync_state IN ('pending', 'sent')`);
      for (const id of receipt.accepted) n += confirm.run(at, id).changes;
      const reject = stmt(db, `UPDATE evaluations SET sync_state = 'rejected', sync_reason = ?, batch_id = NULL WHERE id = ? AND sync_state IN ('pending', 'sent')`);
      for (const r of receipt.rejected) reject.run(r.reason, r.id);
      return n;
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
