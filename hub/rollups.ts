/**
 * Statistics rollups (issue 15): counts of the counted ratings (accepted, not superseded) per
 * grouping key, per day and per month in China Standard Time, kept by SQLite triggers on
 * `evaluations` in the same transaction as every write that changes them (commit, supersede,
 * a flag, prune). `stats` sums whole months and whole days inside a range and reads the rows
 * only for the partial-day edges. The backlog by sync state is kept the same way.
 *
 * A rollup row is `(dim, day|month, key, name)` with one count per level, split by the misuse
 * flag: `n0..n5` not flagged, `m0..m5` flagged. A NULL key or name is stored as the empty blob
 * `x''` (no text equals it), so that the primary key and its upsert see it as one value.
 *
 * Only rows whose `evaluated_at` is canonical (`2026-11-27T02:30:05.200Z`, what the hub writes)
 * are rolled up: for those, the string order that the raw query compares on and the day of the
 * bucket agree. Any other row is read from the table through a partial index.
 */
import type { Db } from './store.js';
import type { Statement } from 'better-sqlite3';

/** Groupings rolled up, with the column (or expression) of their key and name. `department` reads `matter`. */
const DIMS = {
  window: { key: 'window_id', name: null },
  staff: { key: 'staff_id', name: 'staff_name' },
  matter: { key: 'matter_code', name: 'matter_name' },
  channel: { key: 'channel', name: null },
  /** Per hour in China Standard Time; a day holds its hours, so no monthly rows. */
  hour: { key: `strftime('%Y-%m-%dT%H:00', evaluated_at, '+8 hours')`, name: null },
  /** Each element of the `reasons` JSON array; a rating with none under NULL. */
  reason: { key: 'reason.value', name: null },
} as const;
export type RollupDim = keyof typeof DIMS;

const LEVELS = [0, 1, 2, 3, 4, 5] as const;
export const COUNT_COLUMNS = [...LEVELS.map((l) => `n${l}`), ...LEVELS.map((l) => `m${l}`)];

/** True for an `evaluated_at` as `Date.toISOString` writes it (4-digit year). */
export const CANONICAL = (column: string) => `strftime('%Y-%m-%dT%H:%M:%fZ', ${column}) IS ${column}`;
const COUNTED = (ref: string) => `${ref}.status = 'accepted' AND ${ref}.superseded_by IS NULL`;
const MISUSE = (ref: string) => `(${ref}.flags LIKE '%"misuse"%')`;
export const DAY_OF = (column: string) => `date(${column}, '+8 hours')`;

/** The twelve counts of one row `ref`, times `sign`. */
function counts(ref: string, sign: 1 | -1): string {
  const s = sign === 1 ? '' : '-';
  return [...LEVELS.map((l) => `${s}(${ref}.level = ${l} AND NOT ${MISUSE(ref)}) AS n${l}`), ...LEVELS.map((l) => `${s}(${ref}.level = ${l} AND ${MISUSE(ref)}) AS m${l}`)].join(', ');
}

/** `(dim, key, name)` of one row `ref` (NEW or OLD in a trigger): one per grouping, one per reason. */
function bucketsOf(ref: string, withHour: boolean): string {
  const col = (c: string) => c.replace(/evaluated_at/g, `${ref}.evaluated_at`);
  const parts = (Object.keys(DIMS) as RollupDim[])
    .filter((dim) => dim !== 'reason' && (withHour || dim !== 'hour'))
    .map((dim) => {
      const d = DIMS[dim];
      const key = dim === 'hour' ? col(d.key) : `${ref}.${d.key}`;
      return `SELECT '${dim}' AS dim, IFNULL(${key}, x'') AS key, ${d.name ? `IFNULL(${ref}.${d.name}, x'')` : `x''`} AS name`;
    });
  parts.push(`SELECT 'reason', IFNULL(reason.value, x''), x'' FROM (SELECT 1) LEFT JOIN json_each(${ref}.reasons) AS reason`);
  return parts.join(' UNION ALL ');
}

/** Adds (`sign` 1) or takes away (-1) row `ref` in the daily and monthly rollups. */
function apply(ref: string, sign: 1 | -1): string {
  const set = COUNT_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ');
  const day = DAY_OF(`${ref}.evaluated_at`);
  const zero = COUNT_COLUMNS.join(' + ');
  let sql = `
    INSERT INTO stat_days (dim, day, key, name, ${COUNT_COLUMNS.join(', ')})
      SELECT dim, ${day}, key, name, ${counts(ref, sign)} FROM (${bucketsOf(ref, true)}) WHERE true
      ON CONFLICT DO UPDATE SET ${set};
    INSERT INTO stat_months (dim, month, key, name, ${COUNT_COLUMNS.join(', ')})
      SELECT dim, substr(${day}, 1, 7), key, name, ${counts(ref, sign)} FROM (${bucketsOf(ref, false)}) WHERE true
      ON CONFLICT DO UPDATE SET ${set};`;
  if (sign === -1) {
    // a bucket emptied (pruned, superseded) goes, so that old days do not pile up as zeros
    sql += `
    DELETE FROM stat_days WHERE (dim, day, key, name) IN (SELECT dim, ${day}, key, name FROM (${bucketsOf(ref, true)})) AND ${zero} = 0;
    DELETE FROM stat_months WHERE (dim, month, key, name) IN (SELECT dim, substr(${day}, 1, 7), key, name FROM (${bucketsOf(ref, false)})) AND ${zero} = 0;`;
  }
  return sql;
}

/** The columns whose change can move a rating between buckets or in or out of the counts. */
const WATCHED = 'status, superseded_by, level, flags, channel, reasons, window_id, staff_id, staff_name, matter_code, matter_name, evaluated_at';

/** The daily rollup as recomputed from the rows: `(dim, day, key, name, n0..m5)`. */
export function recomputedDaysSql(): string {
  const sums = COUNT_COLUMNS.map((c, i) => {
    const level = i % 6;
    return `SUM(level = ${level} AND ${i < 6 ? 'NOT ' : ''}${MISUSE('evaluations')}) AS ${c}`;
  }).join(', ');
  const where = `WHERE ${COUNTED('evaluations')} AND ${CANONICAL('evaluated_at')}`;
  return (Object.keys(DIMS) as RollupDim[])
    .map((dim) => {
      const d = DIMS[dim];
      const join = dim === 'reason' ? 'LEFT JOIN json_each(evaluations.reasons) AS reason' : '';
      return `SELECT '${dim}' AS dim, ${DAY_OF('evaluated_at')} AS day, IFNULL(${d.key}, x'') AS key, ${d.name ? `IFNULL(${d.name}, x'')` : `x''`} AS name, ${sums}
        FROM evaluations ${join} ${where} GROUP BY 2, 3, 4`;
    })
    .join(' UNION ALL ');
}

/** The monthly rollup from a daily one (a table or a subquery). */
function monthsFromDaysSql(days: string): string {
  return `SELECT dim, substr(day, 1, 7) AS month, key, name, ${COUNT_COLUMNS.map((c) => `SUM(${c}) AS ${c}`).join(', ')}
    FROM ${days} WHERE dim <> 'hour' GROUP BY 1, 2, 3, 4`;
}

/**
 * Migration: the rollup tables and their triggers, filled from the rows already stored; the
 * counts per sync state and theirs. Frozen once released (it is a migration).
 */
export const ROLLUP_MIGRATION = `
  CREATE TABLE stat_days (dim TEXT NOT NULL, day TEXT NOT NULL, key NOT NULL, name NOT NULL,
    ${COUNT_COLUMNS.map((c) => `${c} INTEGER NOT NULL DEFAULT 0`).join(', ')},
    PRIMARY KEY (dim, day, key, name)) WITHOUT ROWID;
  CREATE TABLE stat_months (dim TEXT NOT NULL, month TEXT NOT NULL, key NOT NULL, name NOT NULL,
    ${COUNT_COLUMNS.map((c) => `${c} INTEGER NOT NULL DEFAULT 0`).join(', ')},
    PRIMARY KEY (dim, month, key, name)) WITHOUT ROWID;
  INSERT INTO stat_days ${recomputedDaysSql()};
  INSERT INTO stat_months ${monthsFromDaysSql('stat_days')};
  -- rows the rollups leave out (an evaluated_at not written by Date.toISOString), read by range
  CREATE INDEX evaluations_odd_time ON evaluations (evaluated_at) WHERE NOT (${CANONICAL('evaluated_at')});

  CREATE TRIGGER stat_insert AFTER INSERT ON evaluations
    WHEN ${COUNTED('NEW')} AND ${CANONICAL('NEW.evaluated_at')}
  BEGIN ${apply('NEW', 1)} END;
  CREATE TRIGGER stat_update_out AFTER UPDATE OF ${WATCHED} ON evaluations
    WHEN ${COUNTED('OLD')} AND ${CANONICAL('OLD.evaluated_at')}
  BEGIN ${apply('OLD', -1)} END;
  CREATE TRIGGER stat_update_in AFTER UPDATE OF ${WATCHED} ON evaluations
    WHEN ${COUNTED('NEW')} AND ${CANONICAL('NEW.evaluated_at')}
  BEGIN ${apply('NEW', 1)} END;
  CREATE TRIGGER stat_delete AFTER DELETE ON evaluations
    WHEN ${COUNTED('OLD')} AND ${CANONICAL('OLD.evaluated_at')}
  BEGIN ${apply('OLD', -1)} END;

  CREATE TABLE sync_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
  INSERT INTO sync_counts (state, n) SELECT s.state, (SELECT COUNT(*) FROM evaluations WHERE sync_state = s.state)
    FROM (SELECT 'pending' AS state UNION ALL SELECT 'sent' UNION ALL SELECT 'confirmed' UNION ALL SELECT 'rejected' UNION ALL SELECT 'local') AS s;
  CREATE TRIGGER sync_count_insert AFTER INSERT ON evaluations
  BEGIN UPDATE sync_counts SET n = n + 1 WHERE state = NEW.sync_state; END;
  CREATE TRIGGER sync_count_update AFTER UPDATE OF sync_state ON evaluations WHEN OLD.sync_state IS NOT NEW.sync_state
  BEGIN UPDATE sync_counts SET n = n + (state = NEW.sync_state) - (state = OLD.sync_state) WHERE state IN (OLD.sync_state, NEW.sync_state); END;
  CREATE TRIGGER sync_count_delete AFTER DELETE ON evaluations
  BEGIN UPDATE sync_counts SET n = n - 1 WHERE state = OLD.sync_state; END;
`;

/**
 * Where the stored rollups and sync counts differ from a recount over the rows (none when they
 * are right): for the kill -9 campaign, the tests and a technician's check. Reads every row.
 */
export function rollupDrift(db: Db): string[] {
  const cols = `dim, day, quote(key), quote(name), ${COUNT_COLUMNS.join(', ')}`;
  const days = `(${recomputedDaysSql()})`;
  const nonzero = `${COUNT_COLUMNS.join(' + ')} <> 0`;
  const describe = (where: string) => (r: Record<string, unknown>) => `${where}: ${Object.values(r).join(' ')}`;
  const drift: string[] = [
    ...db.prepare(`SELECT ${cols} FROM ${days} EXCEPT SELECT ${cols} FROM stat_days LIMIT 20`).all().map((r) => describe('stat_days missing')(r as Record<string, unknown>)),
    ...db.prepare(`SELECT ${cols} FROM stat_days WHERE ${nonzero} EXCEPT SELECT ${cols} FROM ${days} LIMIT 20`).all().map((r) => describe('stat_days extra')(r as Record<string, unknown>)),
    ...db.prepare(`SELECT ${cols} FROM stat_days WHERE NOT (${nonzero}) LIMIT 20`).all().map((r) => describe('stat_days empty row kept')(r as Record<string, unknown>)),
  ];
  const mcols = `dim, month, quote(key), quote(name), ${COUNT_COLUMNS.join(', ')}`;
  const months = `(${monthsFromDaysSql(days)})`;
  drift.push(
    ...db.prepare(`SELECT ${mcols} FROM ${months} EXCEPT SELECT ${mcols} FROM stat_months LIMIT 20`).all().map((r) => describe('stat_months missing')(r as Record<string, unknown>)),
    ...db.prepare(`SELECT ${mcols} FROM stat_months WHERE ${nonzero} EXCEPT SELECT ${mcols} FROM ${months} LIMIT 20`).all().map((r) => describe('stat_months extra')(r as Record<string, unknown>)),
    ...db.prepare(`SELECT ${mcols} FROM stat_months WHERE NOT (${nonzero}) LIMIT 20`).all().map((r) => describe('stat_months empty row kept')(r as Record<string, unknown>)),
  );
  const recount = `SELECT s.state, (SELECT COUNT(*) FROM evaluations WHERE sync_state = s.state) AS n FROM sync_counts AS s`;
  drift.push(...db.prepare(`${recount} EXCEPT SELECT state, n FROM sync_counts`).all().map((r) => describe('sync_counts')(r as Record<string, unknown>)));
  return drift;
}

const prepared = new WeakMap<Db, Map<string, Statement>>();
/** Prepared once per connection (this file cannot use store.ts's `stmt`: store.ts imports the migration from here). */
function prepare(db: Db, sql: string): Statement {
  let cache = prepared.get(db);
  if (!cache) prepared.set(db, (cache = new Map()));
  let s = cache.get(sql);
  if (!s) cache.set(sql, (s = db.prepare(sql)));
  return s;
}

// ---- reading: whole months, whole days, and the rows at the edges ----

const DAY_MS = 86_400_000;
const CST_MS = 8 * 3_600_000;
/** Day number (days since 1970-01-01) in China Standard Time of an instant. */
const cstDay = (ms: number) => Math.floor((ms + CST_MS) / DAY_MS);
/** The instant a CST day starts, as the canonical string the rows are compared with. */
const dayStart = (day: number) => new Date(day * DAY_MS - CST_MS).toISOString();
const dayName = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);
const FIRST_DAY = cstDay(Date.parse('0001-01-02T00:00:00Z'));
const LAST_DAY = cstDay(Date.parse('9999-12-30T00:00:00Z'));

/** How a range [from, to) splits: rows in [from, wholeStart) and [wholeEnd, to), rollups between. */
export interface RangePlan {
  wholeStart: string;
  wholeEnd: string;
  /** Whole months, inclusive (`YYYY-MM`); empty when `monthFrom > monthTo`. */
  monthFrom: string;
  monthTo: string;
  /** Whole days outside those months, two inclusive ranges (`YYYY-MM-DD`), either possibly empty. */
  days: [string, string][];
}

/**
 * The whole CST days inside [from, to) as the strings compare (the raw query compares the
 * strings), or undefined when there is none or the bounds are not plain dates: the caller then
 * reads the rows.
 */
export function planRange(from: string, to: string): RangePlan | undefined {
  if (!/^[\x20-\x7e]*$/.test(from) || !/^[\x20-\x7e]*$/.test(to)) return undefined;
  const lo = Date.parse(from);
  const hi = Date.parse(to);
  if (Number.isNaN(lo) || Number.isNaN(hi)) return undefined;
  // first day starting at or after `from`; last day ending at or before `to` (a few steps at most: offsets are < 1 day)
  let first = cstDay(lo);
  let last = cstDay(hi);
  if (first < FIRST_DAY + 3 || last > LAST_DAY - 3) return undefined;
  for (let i = 0; i < 4 && dayStart(first - 1) >= from; i++) first--;
  for (let i = 0; i < 4 && dayStart(first) < from; i++) first++;
  for (let i = 0; i < 4 && dayStart(last + 1) > to; i++) last--;
  for (let i = 0; i < 4 && dayStart(last + 2) <= to; i++) last++;
  if (dayStart(first) < from || dayStart(first - 1) >= from || dayStart(last + 1) > to || dayStart(last + 2) <= to) return undefined;
  if (first > last) return undefined;
  const firstName = dayName(first);
  const lastName = dayName(last);
  // whole months: from the first month starting on or after `first` to the last ending on or before `last`
  const monthFromDay = firstName.endsWith('-01') ? first : cstDay(Date.parse(`${monthAfter(firstName.slice(0, 7))}-01T00:00:00+08:00`));
  const lastEndsMonth = dayName(last + 1).endsWith('-01');
  const monthToDay = lastEndsMonth ? last : cstDay(Date.parse(`${lastName.slice(0, 7)}-01T00:00:00+08:00`)) - 1;
  if (monthFromDay > monthToDay) {
    return { wholeStart: dayStart(first), wholeEnd: dayStart(last + 1), monthFrom: '1', monthTo: '0', days: [[firstName, lastName], ['1', '0']] };
  }
  return {
    wholeStart: dayStart(first),
    wholeEnd: dayStart(last + 1),
    monthFrom: dayName(monthFromDay).slice(0, 7),
    monthTo: dayName(monthToDay).slice(0, 7),
    days: [
      [firstName, dayName(monthFromDay - 1)],
      [dayName(monthToDay + 1), lastName],
    ],
  };
}

function monthAfter(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return m === 12 ? `${String(y + 1).padStart(4, '0')}-01` : `${String(y).padStart(4, '0')}-${String(m + 1).padStart(2, '0')}`;
}

/** Per key of a grouping: the largest name among its counted rows, and the twelve counts. */
export interface KeyCounts {
  key: string | null;
  name: string | null;
  n0: number; n1: number; n2: number; n3: number; n4: number; n5: number;
  m0: number; m1: number; m2: number; m3: number; m4: number; m5: number;
}

/** The counted rows of [from, to) (and `extra` conditions), as `(key, name, n0..m5)` parts, one per row. */
function rowsSql(dim: RollupDim, extra: string): string {
  const d = DIMS[dim];
  const join = dim === 'reason' ? 'LEFT JOIN json_each(evaluations.reasons) AS reason' : '';
  return `SELECT IFNULL(${d.key}, x'') AS key, ${d.name ? `IFNULL(${d.name}, x'')` : `x''`} AS name, ${counts('evaluations', 1)}
    FROM evaluations ${join} WHERE ${COUNTED('evaluations')} AND ${extra}`;
}

const fold = (parts: string) => `SELECT NULLIF(key, x'') AS key,
    MAX(CASE WHEN ${COUNT_COLUMNS.join(' + ')} <> 0 THEN NULLIF(name, x'') END) AS name,
    ${COUNT_COLUMNS.map((c) => `SUM(${c}) AS ${c}`).join(', ')}
  FROM (${parts}) GROUP BY key`;

/** Counts per key over [from, to), straight from the rows (the reference, and the fallback). */
export function countsFromRows(db: Db, dim: RollupDim, from: string, to: string): KeyCounts[] {
  return prepare(db, fold(rowsSql(dim, 'evaluated_at >= @from AND evaluated_at < @to'))).all({ from, to }) as KeyCounts[];
}

const rollupSql = new Map<RollupDim, string>();

/** Counts per key over [from, to) from the rollups plus the rows at the edges; the same answer as `countsFromRows`. */
export function countsFromRollups(db: Db, dim: RollupDim, from: string, to: string): KeyCounts[] {
  const plan = planRange(from, to);
  if (!plan) return countsFromRows(db, dim, from, to);
  let sql = rollupSql.get(dim);
  if (!sql) {
    const cols = `key, name, ${COUNT_COLUMNS.join(', ')}`;
    sql = fold(
      [
        dim === 'hour' ? `SELECT ${cols} FROM stat_days WHERE dim = @dim AND day >= @monthFrom || '-01' AND day <= @monthTo || '-31'`
          : `SELECT ${cols} FROM stat_months WHERE dim = @dim AND month BETWEEN @monthFrom AND @monthTo`,
        `SELECT ${cols} FROM stat_days WHERE dim = @dim AND day BETWEEN @day0 AND @day1`,
        `SELECT ${cols} FROM stat_days WHERE dim = @dim AND day BETWEEN @day2 AND @day3`,
        rowsSql(dim, 'evaluated_at >= @from AND evaluated_at < @wholeStart'),
        rowsSql(dim, 'evaluated_at >= @wholeEnd AND evaluated_at < @to'),
        // rows left out of the rollups (see evaluations_odd_time)
        rowsSql(dim, `evaluated_at >= @wholeStart AND evaluated_at < @wholeEnd AND NOT (${CANONICAL('evaluated_at')})`),
      ].join(' UNION ALL '),
    );
    rollupSql.set(dim, sql);
  }
  const [[day0, day1], [day2, day3]] = plan.days as [[string, string], [string, string]];
  return prepare(db, sql).all({ dim, from, to, wholeStart: plan.wholeStart, wholeEnd: plan.wholeEnd, monthFrom: plan.monthFrom, monthTo: plan.monthTo, day0, day1, day2, day3 }) as KeyCounts[];
}
