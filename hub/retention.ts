/**
 * Retention (`storage.retentionDays`, default 730): what the hub forgets, in small
 * transactions so that ingest never waits behind a long delete.
 *
 * Kept, whatever their age:
 * - every evaluation not confirmed by the platform (pending, sent, rejected) and every refused
 *   one (`local`, never sent: the audit of 一事一评) — nothing unsynced is ever deleted;
 * - an open 差评 (no `resolved` or `re-rated` step yet), and any evaluation with a handling
 *   step the platform has not confirmed: its loop is still somebody's work;
 * - transactions a kept evaluation rates.
 *
 * Forgotten past retention: confirmed evaluations (by `confirmed_at`: the hub's own clock, and
 * never earlier than the rating) with their handling steps, transactions no evaluation refers
 * to (they hold the citizen's number), rejected payloads, suggestions and device events. The
 * 2-year default covers the 好差评 rules' keeping of records (≥ 2 years); a hall that must keep
 * longer sets more days.
 *
 * Each batch is one `store.submit` of at most `batchRows` rows, sized to take about `batchMs`,
 * joined to whatever else commits in that turn; the next batch waits for a turn of the event
 * loop, so ratings arriving meanwhile are committed between batches.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import { stmt, type Db, type Store } from './store.js';

export interface RetentionOptions {
  /** Records older than this are forgotten (the rules above), days. */
  retentionDays: number;
  /** Most rows deleted per transaction. Default 1000. */
  batchRows?: number;
  /**
   * Time a batch's deletes may take, ms: the next batch has fewer rows when one took longer
   * (each row's delete touches a dozen indexes and the statistics triggers), more when it took
   * less, up to `batchRows`. Ratings committed in the same group commit wait this long more.
   * Default 25.
   */
  batchMs?: number;
}

export interface RetentionDeps {
  store: Store;
  clock: Clock;
  log: Logger;
}

/** Rows forgotten by one run, per table. */
export interface PruneCounts {
  evaluations: number;
  handling: number;
  transactions: number;
  rejections: number;
  suggestions: number;
  deviceEvents: number;
  /** Transactions (store commits) the run took. */
  batches: number;
}

const DAY = 86_400_000;

/**
 * Confirmed evaluations past the cutoff that may go: not an open 差评, no handling step the
 * platform has not confirmed. Read through evaluations_confirmed, oldest first.
 */
const PRUNABLE = `SELECT rowid AS rowid, id FROM evaluations INDEXED BY evaluations_confirmed
  WHERE sync_state = 'confirmed' AND confirmed_at < @cutoff
    AND NOT (dissatisfied = 1 AND rating_no = 1
             AND NOT EXISTS (SELECT 1 FROM handling h WHERE h.evaluation_id = evaluations.id AND h.step IN ('resolved', 're-rated')))
    AND NOT EXISTS (SELECT 1 FROM handling h WHERE h.evaluation_id = evaluations.id AND h.sync_state <> 'confirmed')
  ORDER BY confirmed_at LIMIT @limit`;

/** The other tables: rows past the cutoff after a rowid cursor, oldest first. */
const OTHERS = [
  {
    key: 'transactions',
    select: `SELECT rowid AS rowid FROM transactions WHERE rowid > @after AND COALESCE(done_at, opened_at) < @cutoff
      AND NOT EXISTS (SELECT 1 FROM evaluations e INDEXED BY evaluations_txn WHERE e.txn_id = transactions.txn_id) ORDER BY rowid LIMIT @limit`,
    remove: 'DELETE FROM transactions WHERE rowid = ?',
  },
  { key: 'rejections', select: 'SELECT rowid AS rowid FROM rejections WHERE rowid > @after AND last_at < @cutoff ORDER BY rowid LIMIT @limit', remove: 'DELETE FROM rejections WHERE rowid = ?' },
  { key: 'suggestions', select: 'SELECT rowid AS rowid FROM suggestions WHERE rowid > @after AND at < @cutoff ORDER BY rowid LIMIT @limit', remove: 'DELETE FROM suggestions WHERE rowid = ?' },
  { key: 'deviceEvents', select: 'SELECT rowid AS rowid FROM device_events WHERE rowid > @after AND at < @cutoff ORDER BY rowid LIMIT @limit', remove: 'DELETE FROM device_events WHERE rowid = ?' },
] as const;

export class Retention {
  private running: Promise<PruneCounts> | undefined;
  private stopped = false;
  private readonly batchRows: number;
  private readonly batchMs: number;
  /** Rows the next batch takes (adapted to `batchMs`). */
  private rows: number;
  /** How long the last batch's deletes took, ms: the pause before the next. */
  private lastMs = 0;

  constructor(
    private readonly deps: RetentionDeps,
    private readonly options: RetentionOptions,
  ) {
    this.batchRows = options.batchRows ?? 1000;
    this.batchMs = options.batchMs ?? 25;
    if (!Number.isInteger(this.batchRows) || this.batchRows < 1) throw new TypeError(`options.batchRows must be a positive integer, got ${options.batchRows}`);
    if (!(this.batchMs > 0)) throw new TypeError(`options.batchMs must be a positive number, got ${options.batchMs}`);
    this.rows = Math.min(this.batchRows, 100);
  }

  /** Prunes what is past retention now; a run already going is joined, not started twice. */
  run(): Promise<PruneCounts> {
    this.running ??= this.prune().finally(() => (this.running = undefined));
    return this.running;
  }

  /** The run in progress stops after its current batch. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Between batches, as long as the last one's deletes took: ratings that came meanwhile are
   * committed on their own, with no deletes in their transaction, and pruning takes at most
   * about half of the hub's time.
   */
  private pause(): Promise<void> {
    return sleep(Math.min(this.lastMs, this.batchMs * 2));
  }

  /** Runs one batch's deletes and sizes the next batch by the time they took. */
  private timed<T>(deletes: () => T): T {
    const start = performance.now();
    const out = deletes();
    const ms = Math.max(0.1, performance.now() - start);
    this.lastMs = ms;
    // at most double or halve at a time: one slow batch (a checkpoint, a busy machine) is no trend
    this.rows = Math.max(1, Math.min(this.batchRows, Math.round(this.rows * Math.min(2, Math.max(0.5, this.batchMs / ms)))));
    return out;
  }

  private async prune(): Promise<PruneCounts> {
    const cutoff = new Date(this.deps.clock.now() - this.options.retentionDays * DAY).toISOString();
    const counts: PruneCounts = { evaluations: 0, handling: 0, transactions: 0, rejections: 0, suggestions: 0, deviceEvents: 0, batches: 0 };
    try {
      for (;;) {
        if (this.stopped) return counts;
        const limit = this.rows;
        const done = await this.deps.store.submit((db) => this.timed(() => deleteEvaluations(db, cutoff, limit)));
        counts.batches++;
        counts.evaluations += done.evaluations;
        counts.handling += done.handling;
        if (done.evaluations < limit) break;
        await this.pause();
      }
      for (const table of OTHERS) {
        let after = 0;
        for (;;) {
          if (this.stopped) return counts;
          const from = after;
          const limit = this.rows;
          const done = await this.deps.store.submit((db) =>
            this.timed(() => {
              const rows = stmt(db, table.select).all({ after: from, cutoff, limit }) as { rowid: number }[];
              const remove = stmt(db, table.remove);
              for (const r of rows) remove.run(r.rowid);
              return { n: rows.length, last: rows[rows.length - 1]?.rowid ?? from };
            }),
          );
          counts.batches++;
          counts[table.key] += done.n;
          after = done.last;
          if (done.n < limit) break;
          await this.pause();
        }
      }
    } catch (error) {
      // a closed store (the hub stopping) or a failed commit: nothing of that batch was deleted; the next run goes on
      this.deps.log({ level: 'warn', msg: 'pruning stopped', error: (error as Error).message, ...counts });
      return counts;
    }
    if (counts.evaluations + counts.transactions + counts.rejections + counts.suggestions + counts.deviceEvents > 0) {
      this.deps.log({ level: 'info', msg: 'pruned records past retention', retentionDays: this.options.retentionDays, ...counts });
    }
    return counts;
  }
}

/** One batch of evaluations and their (confirmed) handling steps. */
function deleteEvaluations(db: Db, cutoff: string, limit: number): { evaluations: number; handling: number } {
  const rows = stmt(db, PRUNABLE).all({ cutoff, limit }) as { rowid: number; id: string }[];
  const steps = stmt(db, 'DELETE FROM handling WHERE evaluation_id = ?');
  const remove = stmt(db, 'DELETE FROM evaluations WHERE rowid = ?');
  let handling = 0;
  for (const r of rows) {
    handling += steps.run(r.id).changes;
    remove.run(r.rowid);
  }
  return { evaluations: rows.length, handling };
}
