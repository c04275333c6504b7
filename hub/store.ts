/**
 * The hub's durable store (DESIGN "Store"): better-sqlite3 on one file, WAL, synchronous=FULL,
 * versioned migrations, one writer. Writes go through `submit`, which groups every write
 * submitted in the same turn of the event loop into one transaction: one fsync for many
 * ratings under load, and each caller's promise resolves only after the commit is on disk
 * (PROTOCOL 1.3: ACK only after commit).
 */
import Database from 'better-sqlite3';
import { StoreError } from '../protocol/index.js';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROLLUP_MIGRATION } from './rollups.js';

export { StoreError };

/** Schema versions, applied in order; never edited once released, only appended. */
const MIGRATIONS: string[] = [
  // 1: evaluations, transactions, devices, window staff, events, rejections, audit
  `
  CREATE TABLE evaluations (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 5),
    reasons TEXT NOT NULL DEFAULT '[]',
    comment TEXT NOT NULL DEFAULT '',
    contact TEXT,
    txn_id TEXT,
    matter_code TEXT,
    matter_name TEXT,
    window_id TEXT,
    staff_id TEXT,
    staff_name TEXT,
    origin TEXT NOT NULL,
    evaluated_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    device_id TEXT NOT NULL,
    fw_version TEXT NOT NULL DEFAULT '',
    prompt_ms INTEGER,
    flags TEXT NOT NULL DEFAULT '[]',
    -- accepted: counts; refused: a second rating of a rated transaction, kept for audit (一事一评)
    status TEXT NOT NULL DEFAULT 'accepted' CHECK (status IN ('accepted', 'refused')),
    refusal TEXT,
    -- PROTOCOL 3: pending -> sent -> confirmed, or rejected; local: never sent (refused ones)
    sync_state TEXT NOT NULL DEFAULT 'pending' CHECK (sync_state IN ('pending', 'sent', 'confirmed', 'rejected', 'local')),
    sync_reason TEXT,
    batch_id TEXT,
    sent_at TEXT,
    confirmed_at TEXT
  );
  CREATE INDEX evaluations_received ON evaluations (received_at);
  CREATE INDEX evaluations_evaluated ON evaluations (evaluated_at);
  CREATE INDEX evaluations_sync ON evaluations (sync_state, level);
  CREATE INDEX evaluations_device ON evaluations (device_id, evaluated_at);
  CREATE UNIQUE INDEX evaluations_one_per_txn ON evaluations (txn_id) WHERE status = 'accepted' AND level > 0 AND txn_id IS NOT NULL AND txn_id <> '';

  CREATE TABLE transactions (
    txn_id TEXT PRIMARY KEY,
    window_id TEXT NOT NULL,
    matter_code TEXT,
    matter_name TEXT,
    staff_id TEXT,
    staff_name TEXT,
    state TEXT NOT NULL CHECK (state IN ('started', 'done', 'cancelled')),
    opened_at TEXT NOT NULL,
    done_at TEXT,
    rated_by TEXT
  );
  CREATE INDEX transactions_window ON transactions (window_id, done_at);

  CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('evaluator', 'tablet')),
    window_id TEXT,
    paired INTEGER NOT NULL DEFAULT 0,
    model TEXT NOT NULL DEFAULT '',
    fw_version TEXT NOT NULL DEFAULT '',
    token_hash TEXT,
    settings TEXT,
    first_seen_at TEXT,
    last_seen_at TEXT,
    boot_count INTEGER,
    state TEXT,
    queued INTEGER
  );

  CREATE TABLE window_staff (
    window_id TEXT PRIMARY KEY,
    duty TEXT NOT NULL CHECK (duty IN ('on', 'paused', 'off')),
    staff_id TEXT NOT NULL DEFAULT '',
    staff_name TEXT NOT NULL DEFAULT '',
    staff_title TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
  );

  CREATE TABLE device_events (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    code INTEGER NOT NULL,
    arg INTEGER NOT NULL,
    text TEXT NOT NULL,
    at TEXT NOT NULL
  );

  -- PROTOCOL 1.3: the hub keeps every message it rejects, with the reason
  CREATE TABLE rejections (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    message TEXT NOT NULL,
    reason TEXT NOT NULL,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    times INTEGER NOT NULL DEFAULT 1,
    UNIQUE (device_id, message, reason)
  );

  CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
  );
  `,
  // 2: the platform outbox: 差评 first, read in pages through partial indexes; alerts; pushed config
  `
  ALTER TABLE evaluations ADD COLUMN urgent INTEGER GENERATED ALWAYS AS (level IN (1, 2) AND status = 'accepted') VIRTUAL;
  ALTER TABLE evaluations ADD COLUMN alerted_at TEXT;
  CREATE INDEX evaluations_outbox ON evaluations (urgent DESC, received_at) WHERE sync_state = 'pending' AND batch_id IS NULL;
  CREATE INDEX evaluations_in_flight ON evaluations (batch_id) WHERE sync_state = 'pending' AND batch_id IS NOT NULL;
  CREATE INDEX evaluations_sent ON evaluations (sent_at) WHERE sync_state = 'sent';
  CREATE INDEX evaluations_alerts ON evaluations (received_at) WHERE urgent = 1 AND alerted_at IS NULL;
  CREATE INDEX evaluations_confirmed ON evaluations (confirmed_at) WHERE sync_state = 'confirmed';
  CREATE TABLE hall_config (
    version INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    config TEXT NOT NULL
  );
  CREATE TABLE handling (
    id INTEGER PRIMARY KEY,
    evaluation_id TEXT NOT NULL,
    step TEXT NOT NULL,
    at TEXT NOT NULL,
    by TEXT,
    note TEXT,
    synced_at TEXT
  );
  `,
  // 3: suggestions (意见建议) left on the tablet
  `
  CREATE TABLE suggestions (
    id INTEGER PRIMARY KEY,
    tablet_id TEXT NOT NULL,
    text TEXT NOT NULL,
    contact TEXT,
    at TEXT NOT NULL
  );
  CREATE INDEX handling_evaluation ON handling (evaluation_id);
  `,
  // 4: the backlog's age and in-flight alerts without reading the table
  `
  CREATE INDEX evaluations_unsynced ON evaluations (sync_state, received_at);
  CREATE INDEX evaluations_alerts_publishing ON evaluations (id) WHERE alerted_at = 'publishing';
  `,
  // 5: one vocabulary: a 差评 is \`dissatisfied\` (the column was \`urgent\`); its indexes follow the rename
  `
  ALTER TABLE evaluations RENAME COLUMN urgent TO dissatisfied;
  `,
  // 6: revision 2 of the record (consent, 评价次数, the rating followed up), and a level-0 record
  // superseded by a later rating of its transaction (kept for audit, out of counts and export)
  `
  ALTER TABLE evaluations ADD COLUMN consent INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE evaluations ADD COLUMN rating_no INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE evaluations ADD COLUMN follow_up_of TEXT;
  ALTER TABLE evaluations ADD COLUMN superseded_by TEXT;
  CREATE INDEX evaluations_txn ON evaluations (txn_id) WHERE txn_id IS NOT NULL;
  UPDATE suggestions SET contact = NULL; -- a suggestion is anonymous: no number was consented to
  `,
  // 7: people and roles (PROTOCOL 5 [r2]): a token per person, stored hashed, revocable
  `
  CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('queue', 'handler', 'manager', 'admin')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TEXT
  );
  -- the citizen's number from the queue system, kept only with consent (PROTOCOL 5 [r2] service)
  ALTER TABLE transactions ADD COLUMN contact TEXT;
  `,
  // 8: the SMS follow-up (PROTOCOL 7, hub/sms.ts): the outbox (queued -> sending -> submitted ->
  // sent; unknown when it may have gone out, never sent again), replies by the hash of number,
  // time stamp and text (a message read twice is taken once; a number only when it answers an
  // invitation), the numbers that texted TD as hashes; transactions with a contact by done_at
  `
  CREATE TABLE sms_outbox (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL,
    text TEXT NOT NULL,
    purpose TEXT NOT NULL,
    txn_id TEXT,
    state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'submitted', 'sent', 'unknown', 'failed', 'skipped', 'cancelled', 'expired')),
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TEXT NOT NULL,
    day TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    submitted_at TEXT,
    sent_at TEXT,
    mr INTEGER
  );
  CREATE UNIQUE INDEX sms_one_invitation ON sms_outbox (txn_id) WHERE purpose = 'invitation';
  CREATE INDEX sms_due ON sms_outbox (not_before, id) WHERE state = 'queued';
  CREATE INDEX sms_in_flight ON sms_outbox (id) WHERE state IN ('sending', 'submitted');
  CREATE INDEX sms_by_number ON sms_outbox (number, day) WHERE purpose = 'invitation';
  CREATE INDEX sms_to_number ON sms_outbox (number, submitted_at) WHERE submitted_at IS NOT NULL;
  CREATE TABLE sms_inbox (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    text TEXT,
    received_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    txn_id TEXT,
    evaluation_id TEXT
  );
  CREATE INDEX sms_inbox_evaluation ON sms_inbox (evaluation_id) WHERE evaluation_id IS NOT NULL;
  CREATE TABLE sms_optout (
    number_hash TEXT PRIMARY KEY,
    at TEXT NOT NULL
  );
  CREATE INDEX transactions_sms_due ON transactions (done_at) WHERE contact IS NOT NULL;
  `,
  // 9: the 差评 loop (PROTOCOL 3 handling, 5): each step with its id, the deadline in effect
  // after it and a handler's complex mark, delivered in batches like evaluations (pending ->
  // sent -> confirmed by a receipt, or rejected); steps PUBACKed before receipts existed count
  // as delivered. One re-rating (评价次数 2) per first rating, outside 一事一评; it is no new 差评
  // to alert or handle. Open 差评 read through a partial index.
  `
  ALTER TABLE handling ADD COLUMN step_id TEXT;
  ALTER TABLE handling ADD COLUMN deadline_at TEXT;
  ALTER TABLE handling ADD COLUMN complex INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE handling ADD COLUMN sync_state TEXT NOT NULL DEFAULT 'pending' CHECK (sync_state IN ('pending', 'sent', 'confirmed', 'rejected'));
  ALTER TABLE handling ADD COLUMN sync_reason TEXT;
  ALTER TABLE handling ADD COLUMN batch_id TEXT;
  ALTER TABLE handling ADD COLUMN sent_at TEXT;
  ALTER TABLE handling ADD COLUMN confirmed_at TEXT;
  UPDATE handling SET step_id = evaluation_id || '#' || (SELECT COUNT(*) FROM handling h WHERE h.evaluation_id = handling.evaluation_id AND h.id <= handling.id);
  UPDATE handling SET sync_state = 'confirmed', confirmed_at = synced_at WHERE synced_at IS NOT NULL AND synced_at <> 'publishing';
  UPDATE handling SET synced_at = NULL WHERE synced_at = 'publishing';
  CREATE UNIQUE INDEX handling_step_id ON handling (step_id);
  CREATE INDEX handling_outbox ON handling (id) WHERE sync_state = 'pending' AND batch_id IS NULL;
  CREATE INDEX handling_in_flight ON handling (batch_id) WHERE sync_state = 'pending' AND batch_id IS NOT NULL;
  CREATE INDEX handling_sent ON handling (sent_at) WHERE sync_state = 'sent';
  DROP INDEX evaluations_one_per_txn;
  CREATE UNIQUE INDEX evaluations_one_per_txn ON evaluations (txn_id) WHERE status = 'accepted' AND level > 0 AND txn_id IS NOT NULL AND txn_id <> '' AND rating_no = 1;
  CREATE UNIQUE INDEX evaluations_one_re_rating ON evaluations (follow_up_of) WHERE status = 'accepted' AND rating_no = 2;
  DROP INDEX evaluations_alerts;
  CREATE INDEX evaluations_alerts ON evaluations (received_at) WHERE dissatisfied = 1 AND alerted_at IS NULL AND rating_no = 1;
  CREATE INDEX evaluations_loops ON evaluations (received_at) WHERE dissatisfied = 1 AND rating_no = 1;
  `,
  // 10: reserved for the QR and telephone channels (PROTOCOL 8)
  `SELECT 1;`,
  // 11: the platform JSON of a rating kept ready from its commit to its receipt (hub/outbox-json.ts)
  `
  ALTER TABLE evaluations ADD COLUMN outbox_json TEXT;
  `,
  // 12: statistics rollups per day and month and counts per sync state, kept by triggers (hub/rollups.ts)
  ROLLUP_MIGRATION,
  // 13: size on disk (issue 15): evaluations_sync (sync_state, level) is read by no query that
  // evaluations_unsynced (sync_state, received_at) does not serve; the misuse check reads
  // evaluations_device only for unsolicited presses, so it holds only those (~10% of ratings):
  // about 68 of 640 bytes a rating
  `
  DROP INDEX evaluations_sync;
  DROP INDEX evaluations_device;
  CREATE INDEX evaluations_device ON evaluations (device_id, evaluated_at) WHERE origin = 'unsolicited';
  `,
];

export type Db = Database.Database;

/**
 * One hub per data directory: `hub.lock` names the running hub by pid and the process's start
 * time (from /proc), written whole to a temporary file and linked into place (atomic, and
 * exclusive: link fails if the lock exists). A lock whose process is gone, whose pid now
 * belongs to another process (pids are reused after kill -9 or a reboot), or that a power cut
 * left torn, is taken over; one held by the live hub is refused. The technician CLI reads and
 * writes through SQLite without it (SQLite serialises writers).
 */
export function lockDataDir(dataDir: string): { release(): void } {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, 'hub.lock');
  const mine = `${process.pid} ${startTime(process.pid) ?? 0}\n`;
  const tmp = `${path}.${process.pid}`;
  writeFileSync(tmp, mine);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(tmp, path);
        return { release: () => rmSync(path, { force: true }) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new StoreError('unavailable', `cannot lock ${dataDir}: ${(error as Error).message}`);
        let holder = '';
        try {
          holder = readFileSync(path, 'utf8');
        } catch {
          continue; // released meanwhile
        }
        const m = /^(\d+) (\d+)\n$/.exec(holder);
        if (m && Number(m[1]) !== process.pid && startTime(Number(m[1])) === Number(m[2])) {
          throw new StoreError('locked', `another hub (pid ${m[1]}) is using ${dataDir}; stop it first (or remove ${path} if no hub runs)`);
        }
        rmSync(path, { force: true }); // its hub is gone, or the lock is torn: take it over
      }
    }
    throw new StoreError('locked', `cannot lock ${dataDir}: ${path} keeps coming back`);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** When a process started (clock ticks since boot, /proc/{pid}/stat field 22), or undefined if it does not exist. */
function startTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const value = Number(fields[19]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export interface StoreOptions {
  /** Directory of `hub.sqlite`. */
  dataDir: string;
  /** Most writes grouped into one transaction. Default 1000. */
  maxBatch?: number;
}

interface PendingWrite {
  run: (db: Db) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class Store {
  readonly db: Db;
  readonly path: string;
  private queue: PendingWrite[] = [];
  private scheduled = false;
  private readonly maxBatch: number;
  /** Commits made and writes grouped into them, for the benchmark and `status`. */
  readonly commits = { transactions: 0, writes: 0 };
  private closed = false;
  private readonly savepoints: { savepoint: Database.Statement; release: Database.Statement; rollbackTo: Database.Statement };

  constructor(options: StoreOptions) {
    mkdirSync(options.dataDir, { recursive: true });
    this.path = join(options.dataDir, 'hub.sqlite');
    this.maxBatch = options.maxBatch ?? 1000;
    this.db = new Database(this.path, { timeout: 5000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    // Memory, chosen (issue 15): SQLite's page cache belongs to this connection and counts in the
    // hub's RSS once filled. 2 MiB (SQLite's default, set here on purpose) holds the inner pages
    // of every index at a million ratings; the leaves an insert or a query needs come from the
    // kernel's page cache, which is not the hub's RSS. No memory map: a mapped file counts in
    // RSS for every page a query has touched, so a year's export would show as hundreds of MiB.
    // Temporary structures in memory: every write of a group commit is a savepoint, and every
    // insert fires the rollup triggers, so SQLite keeps statement journals for them; in temp
    // files they cost the ingest half its speed (bench ingest 0.32 -> 0.80 of the raw insert).
    // They are small (a write's pages); no query of the hub sorts without an index.
    this.db.pragma('cache_size = -2048');
    this.db.pragma('mmap_size = 0');
    this.db.pragma('temp_store = MEMORY');
    migrate(this.db);
    this.savepoints = { savepoint: this.db.prepare('SAVEPOINT write'), release: this.db.prepare('RELEASE write'), rollbackTo: this.db.prepare('ROLLBACK TO write') };
  }

  /**
   * Runs `write` in the next group commit; resolves with its result after the commit. A write
   * that throws rolls back alone (a savepoint) and rejects; the others still commit.
   */
  submit<T>(write: (db: Db) => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('unavailable', 'store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run: write, resolve: resolve as (v: unknown) => void, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Reads run at once on the one connection (they see every committed write). */
  read<T>(query: (db: Db) => T): T {
    return query(this.db);
  }

  /**
   * A write that must be done before the caller goes on (the sync's claims, taken before a
   * publish is handed to the client): one transaction, now, on the same single writer.
   */
  writeNow<T>(write: (db: Db) => T): T {
    return this.db.transaction(write)(this.db);
  }

  close(): void {
    this.flush();
    this.closed = true;
    this.db.close();
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const results: ({ ok: true; value: unknown } | { ok: false; error: Error })[] = [];
    // One savepoint per write, on statements prepared once (db.transaction(fn) per write built
    // a wrapper and looked up its statements every time: a few percent of the ingest).
    const { savepoint, release, rollbackTo } = this.savepoints;
    try {
      this.db.transaction(() => {
        for (const item of batch) {
          savepoint.run();
          try {
            const value = item.run(this.db);
            release.run();
            results.push({ ok: true, value });
          } catch (error) {
            if (this.db.inTransaction) {
              // (an I/O error or a full disk may have rolled back the whole transaction already)
              rollbackTo.run();
              release.run();
            }
            results.push({ ok: false, error: error as Error });
          }
        }
      })();
    } catch (error) {
      // The commit itself failed (disk full, I/O error): nothing of this batch is durable.
      const failure = new StoreError('unavailable', `commit failed: ${(error as Error).message}`);
      for (const item of batch) item.reject(failure);
      return;
    }
    this.commits.transactions++;
    this.commits.writes += batch.length;
    batch.forEach((item, i) => {
      const r = results[i]!;
      if (r.ok) item.resolve(r.value);
      else item.reject(r.error);
    });
  }
}

/**
 * Brings the schema up to date, one migration per transaction. Each step takes the write lock
 * first (BEGIN IMMEDIATE) and reads the version under it, so a CLI command opening the store
 * while the hub starts waits for the hub's migration instead of running it a second time.
 */
export function migrate(db: Db): void {
  const step = db.transaction((): boolean => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    const version = row?.version ?? 0;
    if (version > MIGRATIONS.length) {
      throw new StoreError('migration', `database schema ${version} is newer than this hub (${MIGRATIONS.length}); upgrade the hub`);
    }
    if (version === MIGRATIONS.length) return false;
    db.exec(MIGRATIONS[version]!);
    if (!row) db.prepare('INSERT INTO schema_version (version) VALUES (1)').run();
    else db.prepare('UPDATE schema_version SET version = ?').run(version + 1);
    return true;
  });
  while (step.immediate()) {
    /* one migration applied; look again under the lock */
  }
}

const statements = new WeakMap<Db, Map<string, Database.Statement>>();

/** A prepared statement, prepared once per connection (the hot write path reuses it). */
export function stmt(db: Db, sql: string): Database.Statement {
  let cache = statements.get(db);
  if (!cache) statements.set(db, (cache = new Map()));
  let s = cache.get(sql);
  if (!s) cache.set(sql, (s = db.prepare(sql)));
  return s;
}

/** Appends to the audit table (who, what, when). Call inside a write. */
export function audit(db: Db, actor: string, action: string, detail: Record<string, unknown>, at = new Date().toISOString()): void {
  db.prepare('INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)').run(at, actor, action, JSON.stringify(detail));
}
