import Database from 'better-sqlite3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { STAT_GROUP_NAMES, type StatGroup } from '../protocol/index.js';
import { stats, statsFromRows, syncSummary, syncSummaryFromRows, type Departments } from './evaluations.js';
import { ROLLUP_MIGRATION, planRange, rollupDrift } from './rollups.js';
import { migrate, type Db } from './store.js';

/** Days around two month ends in China Standard Time, and a year end. */
const T0 = Date.parse('2026-01-29T00:00:00+08:00');
const SPAN_MS = 40 * 86_400_000;

/** An instant as the hub writes it, or now and then as another writer might (offset, no ms). */
const instant = fc.tuple(fc.integer({ min: -2 * 86_400_000, max: SPAN_MS + 2 * 86_400_000 }), fc.integer({ min: 0, max: 19 })).map(([ms, style]) => {
  const t = T0 + ms;
  if (style === 0) return new Date(t + 8 * 3_600_000).toISOString().replace(/\.\d+Z$/, '+08:00');
  if (style === 1) return new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');
  return new Date(t).toISOString();
});
/** Range bounds: any instant, or a day or month start in CST (whole rollup buckets), in either notation. */
const bound = fc.oneof(
  instant,
  fc.integer({ min: -2, max: 42 }).map((d) => new Date(T0 + d * 86_400_000).toISOString()),
  fc.integer({ min: -2, max: 42 }).map((d) => new Date(T0 + d * 86_400_000 + 8 * 3_600_000).toISOString().slice(0, 10) + 'T00:00:00+08:00'),
  fc.constantFrom('2026-02-01T00:00:00+08:00', '2026-01-31T16:00:00.000Z', '2026-02-28T16:00:00.000Z', '2026-03-01', '2026-02-01T00:00:00Z'),
);

const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null, freq: 6 });
const rating = fc.record({
  level: fc.integer({ min: 0, max: 5 }),
  channel: fc.constantFrom('evaluator', 'tablet', 'qr', 'sms'),
  reasons: fc.array(fc.constantFrom('attitude', 'wait', 'process'), { maxLength: 3 }),
  window: maybe(fc.constantFrom('A01', 'A02', 'B01')),
  staff: maybe(fc.constantFrom('S1', 'S2')),
  staffName: maybe(fc.constantFrom('李明', '王芳', 'Li')),
  matter: maybe(fc.constantFrom('M1', 'M2', 'M3')),
  matterName: maybe(fc.constantFrom('营业执照', '社保')),
  misuse: fc.boolean(),
  refused: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  at: instant,
});
const op = fc.oneof(
  { arbitrary: rating.map((r) => ({ kind: 'insert' as const, r })), weight: 8 },
  { arbitrary: fc.nat().map((i) => ({ kind: 'supersede' as const, i })), weight: 2 },
  { arbitrary: fc.nat().map((i) => ({ kind: 'flag' as const, i })), weight: 1 },
  { arbitrary: fc.nat().map((i) => ({ kind: 'refuse' as const, i })), weight: 1 },
  { arbitrary: fc.nat().map((i) => ({ kind: 'delete' as const, i })), weight: 2 },
  { arbitrary: fc.tuple(fc.nat(), rating).map(([i, r]) => ({ kind: 'edit' as const, i, r })), weight: 1 },
  { arbitrary: fc.tuple(fc.nat(), fc.constantFrom('pending', 'sent', 'confirmed', 'rejected', 'local')).map(([i, s]) => ({ kind: 'sync' as const, i, s })), weight: 2 },
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function fresh(): Db {
  const db = new Database(':memory:');
  migrate(db);
  return db;
}

let ids = 0;
/** Applies one operation the way the hub's writers do (commit, supersede, flag, prune, sync), by plain SQL. */
function run(db: Db, o: Op): void {
  const pick = (i: number) => {
    const rows = db.prepare('SELECT id FROM evaluations ORDER BY rowid').all() as { id: string }[];
    return rows.length ? rows[i % rows.length]!.id : undefined;
  };
  const values = (r: (Op & { kind: 'insert' })['r']) => ({
    level: r.level,
    channel: r.channel,
    reasons: JSON.stringify(r.reasons),
    window: r.window,
    staff: r.staff,
    staffName: r.staffName,
    matter: r.matter,
    matterName: r.matterName,
    flags: JSON.stringify(r.misuse ? ['misuse'] : []),
    status: r.refused ? 'refused' : 'accepted',
    at: r.at,
  });
  switch (o.kind) {
    case 'insert':
      db.prepare(
        `INSERT INTO evaluations (id, channel, level, reasons, origin, evaluated_at, received_at, device_id, window_id, staff_id, staff_name, matter_code, matter_name, flags, status, sync_state)
         VALUES (@id, @channel, @level, @reasons, 'prompted', @at, @at, 'D1', @window, @staff, @staffName, @matter, @matterName, @flags, @status, CASE WHEN @status = 'refused' THEN 'local' ELSE 'pending' END)`,
      ).run({ id: `E${++ids}`, ...values(o.r) });
      return;
    case 'supersede': {
      const id = pick(o.i);
      if (id) db.prepare('UPDATE evaluations SET superseded_by = ? WHERE id = ? AND superseded_by IS NULL').run('later', id);
      return;
    }
    case 'flag': {
      const id = pick(o.i);
      if (id) db.prepare(`UPDATE evaluations SET flags = '["misuse"]' WHERE id = ?`).run(id);
      return;
    }
    case 'refuse': {
      const id = pick(o.i);
      if (id) db.prepare(`UPDATE evaluations SET status = CASE status WHEN 'accepted' THEN 'refused' ELSE 'accepted' END WHERE id = ?`).run(id);
      return;
    }
    case 'delete': {
      const id = pick(o.i);
      if (id) db.prepare('DELETE FROM evaluations WHERE id = ?').run(id);
      return;
    }
    case 'edit': {
      const id = pick(o.i);
      if (id)
        db.prepare(
          `UPDATE evaluations SET level = @level, channel = @channel, reasons = @reasons, window_id = @window, staff_id = @staff, staff_name = @staffName,
             matter_code = @matter, matter_name = @matterName, flags = @flags, evaluated_at = @at WHERE id = @id`,
        ).run({ id, ...values(o.r) });
      return;
    }
    case 'sync': {
      const id = pick(o.i);
      if (id) db.prepare('UPDATE evaluations SET sync_state = ? WHERE id = ?').run(o.s, id);
      return;
    }
    default:
      o satisfies never;
  }
}

const departments: Departments = { hall: 'D-HALL', ofMatter: (m) => (m === 'M1' ? 'D-1' : undefined) };
const query = fc.record({ from: bound, to: bound, by: fc.constantFrom(...(STAT_GROUP_NAMES as readonly StatGroup[])), includeMisuse: fc.boolean() });

describe('statistics from the rollups', () => {
  it('answer exactly what the GROUP BY over the rows answers, for every grouping and any range, after any writes', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), fc.array(query, { minLength: 1, maxLength: 12 }), (ops, queries) => {
        const db = fresh();
        try {
          for (const o of ops) db.transaction(() => run(db, o))();
          for (const q of queries) {
            const options = { ...q, departments };
            expect(stats(db, options), JSON.stringify(q)).toEqual(statsFromRows(db, options));
          }
          expect(rollupDrift(db)).toEqual([]);
          expect(syncSummary(db)).toEqual(syncSummaryFromRows(db));
        } finally {
          db.close();
        }
      }),
      { numRuns: 100 },
    );
  });

  it('a write that rolls back leaves the rollups as they were', () => {
    const db = fresh();
    run(db, { kind: 'insert', r: { level: 5, channel: 'evaluator', reasons: [], window: 'A01', staff: 'S1', staffName: '李明', matter: null, matterName: null, misuse: false, refused: false, at: new Date(T0).toISOString() } });
    const before = db.prepare('SELECT * FROM stat_days ORDER BY dim, day, key').all();
    expect(() =>
      db.transaction(() => {
        run(db, { kind: 'delete', i: 0 });
        throw new Error('the commit fails');
      })(),
    ).toThrow('the commit fails');
    expect(db.prepare('SELECT * FROM stat_days ORDER BY dim, day, key').all()).toEqual(before);
    expect(rollupDrift(db)).toEqual([]);
    db.close();
  });

  it('the migration fills them from the rows already stored', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
        const db = fresh();
        try {
          // the rows as a hub before the rollups stored them: no tables, no triggers
          db.exec(`DROP TABLE stat_days; DROP TABLE stat_months; DROP TABLE sync_counts; DROP INDEX evaluations_odd_time;
            DROP TRIGGER stat_insert; DROP TRIGGER stat_update_out; DROP TRIGGER stat_update_in; DROP TRIGGER stat_delete;
            DROP TRIGGER sync_count_insert; DROP TRIGGER sync_count_update; DROP TRIGGER sync_count_delete;`);
          for (const o of ops) run(db, o);
          db.exec(ROLLUP_MIGRATION);
          expect(rollupDrift(db)).toEqual([]);
          expect(syncSummary(db)).toEqual(syncSummaryFromRows(db));
          const year = { from: '2025-12-31T16:00:00.000Z', to: '2026-12-31T16:00:00.000Z' };
          for (const by of STAT_GROUP_NAMES) expect(stats(db, { ...year, by, departments })).toEqual(statsFromRows(db, { ...year, by, departments }));
        } finally {
          db.close();
        }
      }),
      { numRuns: 30 },
    );
  });

  it('sums whole months and whole CST days and reads the rows only at the partial-day edges', () => {
    // a CST year: twelve months, nothing else
    expect(planRange('2025-12-31T16:00:00.000Z', '2026-12-31T16:00:00.000Z')).toEqual({
      wholeStart: '2025-12-31T16:00:00.000Z',
      wholeEnd: '2026-12-31T16:00:00.000Z',
      monthFrom: '2026-01',
      monthTo: '2026-12',
      days: [['2026-01-01', '2025-12-31'], ['2027-01-01', '2026-12-31']],
    });
    // UTC midnights: 8 hours of rows at the start, 16 at the end, the days of the partial months between
    expect(planRange('2026-01-15T00:00:00.000Z', '2026-03-10T00:00:00.000Z')).toEqual({
      wholeStart: '2026-01-15T16:00:00.000Z',
      wholeEnd: '2026-03-09T16:00:00.000Z',
      monthFrom: '2026-02',
      monthTo: '2026-02',
      days: [['2026-01-16', '2026-01-31'], ['2026-03-01', '2026-03-09']],
    });
    // a CST day in +08:00 notation: the strings compare, so its start is not whole ('…T00:00:00+08:00' sorts after '…T16:00:00.000Z' of the day before)
    expect(planRange('2026-03-05T00:00:00+08:00', '2026-03-07T00:00:00+08:00')).toEqual({
      wholeStart: '2026-03-05T16:00:00.000Z',
      wholeEnd: '2026-03-06T16:00:00.000Z',
      monthFrom: '1',
      monthTo: '0',
      days: [['2026-03-06', '2026-03-06'], ['1', '0']],
    });
    expect(planRange('2026-03-05T10:00:00.000Z', '2026-03-06T10:00:00.000Z')).toBeUndefined(); // no whole day
    expect(planRange('yesterday', '2026-03-06T10:00:00.000Z')).toBeUndefined();
  });
});
