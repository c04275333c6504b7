/**
 * Statistics over a year of data (issue 15): 1,000,000 ratings over 365 days in a real store
 * (migrations, WAL), then `stats` for a year, a month and a day (China Standard Time) by each
 * grouping, each query repeated over different periods: half of them whole periods, half up to
 * an instant inside the period's last day (the partial day is read from the rows). Figure: the
 * worst p99 across the 21 kinds (period × grouping), from the rollups; baseline: the same
 * queries answered by the GROUP BY over the rows (`statsFromRows`, the code before the
 * rollups), in a pass of their own after the rollups' pass (a year's GROUP BY evicts the page
 * cache); every answer of the two is compared. Also `syncSummary`
 * (counters) against its former scan, the cost of the triggers on a commit (rows inserted per
 * second with and without them), and migration 12's backfill of the seeded year. Each kind also
 * reports p99 of the process's CPU time per query (`cpuP99`), which other load on the machine
 * inflates far less than the wall time.
 *
 * Environment: `HCP_BENCH_STATS_N` sets the number of ratings (default 1,000,000).
 */
import { rmSync } from 'node:fs';
import { STAT_GROUP_NAMES, type StatGroup } from '../../protocol/index.js';
import { stats, statsFromRows, syncSummary, syncSummaryFromRows, type StatsOptions } from '../../hub/evaluations.js';
import { ROLLUP_MIGRATION } from '../../hub/rollups.js';
import { Store, type Db } from '../../hub/store.js';
import { tempDir } from '../../simulators/pty.js';
import { percentile, result, type BenchResult } from './measure.js';

const DAY_MS = 86_400_000;
const CST_MS = 8 * 3_600_000;
/** 2026-01-01 00:00 in China Standard Time. */
const YEAR_START = Date.parse('2026-01-01T00:00:00+08:00');
const WINDOWS = 64;
const CLERKS = 80;
const MATTERS = 40;
const SURNAMES = ['张', '王', '李', '刘', '陈', '杨', '赵', '黄', '周', '吴'];
const GIVEN = ['伟', '芳', '娜', '洋', '静', '磊', '敏', '强'];
const REASONS = ['attitude', 'wait', 'process', 'environment', 'efficiency', 'other'];
const CHANNELS = ['evaluator', 'evaluator', 'evaluator', 'evaluator', 'evaluator', 'evaluator', 'evaluator', 'tablet', 'tablet', 'qr', 'qr', 'sms'];

/** A deterministic pseudo-random stream (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ROLLUP_OBJECTS = ['TABLE stat_days', 'TABLE stat_months', 'TABLE sync_counts', 'INDEX evaluations_odd_time', 'TRIGGER stat_insert', 'TRIGGER stat_update_out', 'TRIGGER stat_update_in', 'TRIGGER stat_delete', 'TRIGGER sync_count_insert', 'TRIGGER sync_count_update', 'TRIGGER sync_count_delete'];
const dropRollups = (db: Db) => db.exec(ROLLUP_OBJECTS.map((o) => `DROP ${o};`).join('\n'));

/**
 * `n` ratings over 365 days from 2026-01-01 CST, in office hours (08:30-17:30 CST) on working
 * days, at 64 windows with 80 clerks taking turns, 40 matters, four channels; levels mostly 5,
 * one in ten a 差评 (1-2) with one or two reasons, 5% level 0 (a prompt's timeout), half of
 * those superseded by a later rating; 1% refused (a second rating), 1% flagged misuse; sync
 * states as a hall a year on: all confirmed but the last few hundred.
 */
function seed(db: Db, n: number, first = 1): void {
  const insert = db.prepare(
    `INSERT INTO evaluations (id, channel, level, reasons, comment, txn_id, matter_code, matter_name, window_id, staff_id, staff_name,
       origin, evaluated_at, received_at, device_id, fw_version, flags, status, refusal, sync_state, superseded_by)
     VALUES (?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '1.4.2', ?, ?, ?, ?, ?)`,
  );
  const workdays: number[] = [];
  for (let d = 0; d < 365; d++) {
    const weekday = new Date(YEAR_START + d * DAY_MS + CST_MS).getUTCDay();
    if (weekday !== 0 && weekday !== 6) workdays.push(d);
  }
  const rows = db.transaction((from: number, to: number) => {
    for (let i = from; i <= to; i++) {
      const r = random(i);
      // the i-th rating of the year, in order: its day, then a time in office hours
      const day = workdays[Math.min(workdays.length - 1, Math.floor(((i - 1) / n) * workdays.length))]!;
      const at = YEAR_START + day * DAY_MS + 8.5 * 3_600_000 + Math.floor(r() * 9 * 3_600_000);
      const w = Math.floor(r() * WINDOWS);
      const clerk = (w + Math.floor(day / 30) * 7 + (r() < 0.1 ? 1 : 0)) % CLERKS;
      const matter = Math.floor(r() * r() * MATTERS);
      const channel = CHANNELS[Math.floor(r() * CHANNELS.length)]!;
      const x = r();
      const level = x < 0.05 ? 0 : x < 0.1 ? 1 + Math.floor(r() * 2) : x < 0.2 ? 3 : x < 0.35 ? 4 : 5;
      const reasons = level === 1 || level === 2 ? [REASONS[Math.floor(r() * REASONS.length)]!, ...(r() < 0.3 ? [REASONS[Math.floor(r() * REASONS.length)]!] : [])] : [];
      const refused = r() < 0.01;
      const misuse = r() < 0.01;
      const superseded = level === 0 && r() < 0.5;
      const confirmed = i <= n - 300;
      insert.run(
        `B-${i}`,
        channel,
        level,
        JSON.stringify(reasons),
        `T-${i}`,
        `M${String(matter + 1).padStart(3, '0')}`,
        `事项${matter + 1}`,
        `W${String(w + 1).padStart(2, '0')}`,
        `S${String(clerk + 1).padStart(4, '0')}`,
        `${SURNAMES[clerk % SURNAMES.length]}${GIVEN[Math.floor(clerk / SURNAMES.length) % GIVEN.length]}`,
        channel === 'evaluator' ? 'prompted' : 'invited',
        new Date(at).toISOString(),
        new Date(at + 200).toISOString(),
        channel === 'evaluator' ? `HCP5-430300-${String(w + 1).padStart(2, '0')}` : channel,
        JSON.stringify(misuse ? ['misuse'] : []),
        refused ? 'refused' : 'accepted',
        refused ? 'already-evaluated' : null,
        refused ? 'local' : confirmed ? 'confirmed' : i % 3 === 0 ? 'sent' : 'pending',
        superseded ? `B-${i + 1}` : null,
      );
    }
  });
  for (let from = first; from < first + n; from += 50_000) rows(from, Math.min(first + n - 1, from + 49_999));
}

interface Kind {
  name: string;
  by: StatGroup;
  ranges: { from: string; to: string }[];
}

/** The queries: a year, months, days (CST), each whole or up to an instant in its last day. */
function kinds(reps: { year: number; month: number; day: number }): Kind[] {
  const r = random(42);
  const iso = (ms: number) => new Date(ms).toISOString();
  const cstMonthStart = (m: number) => Date.parse(`${m >= 12 ? 2027 : 2026}-${String((m % 12) + 1).padStart(2, '0')}-01T00:00:00+08:00`);
  const periods = {
    year: Array.from({ length: reps.year }, () => [YEAR_START, cstMonthStart(12)] as const),
    month: Array.from({ length: reps.month }, () => {
      const m = Math.floor(r() * 12);
      return [cstMonthStart(m), cstMonthStart(m + 1)] as const;
    }),
    day: Array.from({ length: reps.day }, () => {
      const d = Math.floor(r() * 365);
      return [YEAR_START + d * DAY_MS, YEAR_START + (d + 1) * DAY_MS] as const;
    }),
  };
  const out: Kind[] = [];
  for (const [period, list] of Object.entries(periods)) {
    for (const by of STAT_GROUP_NAMES) {
      out.push({
        name: `${period}/${by}`,
        by,
        // odd ones end inside the last day, as "so far" on a dashboard: a partial day read from the rows
        ranges: list.map(([from, to], i) => ({ from: iso(from), to: iso(i % 2 === 0 ? to : to - DAY_MS + Math.floor(r() * DAY_MS)) })),
      });
    }
  }
  return out;
}

function time<T>(f: () => T): [number, T] {
  const start = performance.now();
  const value = f();
  return [performance.now() - start, value];
}

/** Wall time, the process's CPU time (less sensitive to other load on the machine) and the value, ms. */
function timeCpu<T>(f: () => T): [number, number, T] {
  const cpu = process.cpuUsage();
  const [ms, value] = time(f);
  const used = process.cpuUsage(cpu);
  return [ms, (used.user + used.system) / 1000, value];
}

/** Rows inserted per second into a fresh store, with the rollup triggers and without. */
function insertCost(n: number): { withTriggers: number; without: number } {
  const rate = (drop: boolean) => {
    const dir = tempDir('bench-stats-insert');
    const store = new Store({ dataDir: dir });
    try {
      if (drop) dropRollups(store.db);
      const [ms] = time(() => seed(store.db, n));
      return Math.round((n * 1000) / ms);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
  rate(true); // warm up
  return { withTriggers: rate(false), without: rate(true) };
}

export async function statsBench(): Promise<BenchResult> {
  const n = Number(process.env['HCP_BENCH_STATS_N'] ?? 1_000_000);
  const dir = tempDir('bench-stats');
  const store = new Store({ dataDir: dir });
  try {
    const db = store.db;
    db.pragma('cache_size = -262144'); // 256 MiB for this connection, as a hub's page cache would hold after a while
    // seed without the triggers, then build the rollups as migration 12 does on an upgraded hub
    dropRollups(db);
    const [seedMs] = time(() => seed(db, n));
    const [migrationMs] = time(() => db.transaction(() => db.exec(ROLLUP_MIGRATION))());
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.exec('ANALYZE');

    const big = n >= 500_000;
    const list = kinds({ year: big ? 12 : 20, month: 30, day: 40 });
    const perKind: Record<string, { p99: number; rawP99: number; cpuP99: number; rawCpuP99: number }> = {};
    let mismatches = 0;
    for (const kind of list) {
      const a: number[] = [];
      const b: number[] = [];
      const ca: number[] = [];
      const cb: number[] = [];
      // the rollups' pass, then the rows' pass: a GROUP BY over a year evicts the page cache, which a
      // hub that no longer runs it would not see before its next stats query; one untimed query first
      const optionsOf = (range: { from: string; to: string }): StatsOptions => ({ ...range, by: kind.by, departments: { hall: '11430300MB1234567X', ofMatter: (m) => (m < 'M010' ? 'D-A' : undefined) } });
      const answers: string[] = [];
      stats(db, optionsOf(kind.ranges[0]!));
      for (const range of kind.ranges) {
        const [ta, cpuA, ra] = timeCpu(() => stats(db, optionsOf(range)));
        a.push(ta);
        ca.push(cpuA);
        answers.push(JSON.stringify(ra));
      }
      statsFromRows(db, optionsOf(kind.ranges[0]!));
      kind.ranges.forEach((range, i) => {
        const [tb, cpuB, rb] = timeCpu(() => statsFromRows(db, optionsOf(range)));
        b.push(tb);
        cb.push(cpuB);
        if (JSON.stringify(rb) !== answers[i]) mismatches++;
      });
      perKind[kind.name] = { p99: round(percentile(a, 99)), rawP99: round(percentile(b, 99)), cpuP99: round(percentile(ca, 99)), rawCpuP99: round(percentile(cb, 99)) };
    }
    if (mismatches > 0) throw new Error(`stats: ${mismatches} answers differ from the GROUP BY over the rows`);

    const s: number[] = [];
    const sRaw: number[] = [];
    for (let i = 0; i < (big ? 30 : 100); i++) {
      const [ta, ra] = time(() => syncSummary(db));
      const [tb, rb] = time(() => syncSummaryFromRows(db));
      s.push(ta);
      sRaw.push(tb);
      if (JSON.stringify(ra) !== JSON.stringify(rb)) throw new Error('syncSummary differs from the recount');
    }

    const worst = Object.entries(perKind).reduce((w, e) => (e[1].p99 > w[1].p99 ? e : w));
    const worstRaw = Object.entries(perKind).reduce((w, e) => (e[1].rawP99 > w[1].rawP99 ? e : w));
    const worstCpu = Object.entries(perKind).reduce((w, e) => (e[1].cpuP99 > w[1].cpuP99 ? e : w));
    const worstRawCpu = Object.entries(perKind).reduce((w, e) => (e[1].rawCpuP99 > w[1].rawCpuP99 ? e : w));
    const inserts = insertCost(Math.min(50_000, n));
    const rollupRows = db.prepare(`SELECT (SELECT COUNT(*) FROM stat_days) AS days, (SELECT COUNT(*) FROM stat_months) AS months`).get();
    return result({
      bench: 'stats',
      figure: worst[1].p99,
      unit: 'ms p99 of stats(), worst kind (year/month/day x grouping)',
      baseline: worstRaw[1].rawP99,
      baselineName: 'the same queries by GROUP BY over the rows (statsFromRows), worst kind',
      ratings: n,
      worstKind: worst[0],
      worstRawKind: worstRaw[0],
      // the same in CPU time of the process: what a busy 2-core machine's scheduling adds to the wall time is left out
      cpuP99: { figure: worstCpu[1].cpuP99, kind: worstCpu[0], baseline: worstRawCpu[1].rawCpuP99, baselineKind: worstRawCpu[0] },
      kinds: perKind,
      syncSummary: { p99: round(percentile(s, 99)), scanP99: round(percentile(sRaw, 99)) },
      insertsPerSecond: inserts,
      seedSeconds: round(seedMs / 1000),
      migrationSeconds: round(migrationMs / 1000),
      rollupRows,
    });
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const round = (x: number) => Number(x.toFixed(2));
