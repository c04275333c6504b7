/**
 * Export: one month of a year in the national format (GB/T 39046), from a store holding
 * 1,000,000 ratings spread over 365 days (issue 15). Figure: seconds to stream the month's
 * gb39046 export (hub/export.ts, keyset pages, to a Writable with backpressure), and the peak
 * RSS of the export; a year's export's peak RSS shows memory stays flat whatever the range.
 * Baseline: the raw `SELECT` of the same rows with `.iterate()`, each row `join(',')`ed and
 * written to the same kind of sink, in the same run.
 *
 * Environment: `HCP_BENCH_EXPORT_N` sets the number of ratings (default 1,000,000).
 */
import { fork } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { writeExport } from '../../hub/export.js';
import { Store } from '../../hub/store.js';
import { tempDir } from '../../simulators/pty.js';
import { STAFF, seededRating } from './backlog.js';
import { median, result, type BenchResult } from './measure.js';

const DAY = 86_400_000;

export interface YearOptions {
  /** First rating's receipt time, ms since the epoch. Default 2025-10-01T00:30Z. */
  start?: number;
  /** Days the ratings are spread over. Default 365. */
  days?: number;
  /** `confirmed` (synced a few seconds after receipt, as in a year's steady state) or `pending`. Default `confirmed`. */
  syncState?: 'confirmed' | 'pending';
}

/**
 * `n` ratings the way scripts/bench/backlog.ts `seedBacklog` seeds them (64 evaluators taking
 * turns, every 10th a 差评, 85% prompted on a transaction, 5% invited, 10% unsolicited), with
 * the times spread evenly over a year; a quarter of the unsolicited flagged misuse; each
 * confirmed by the platform 5 s after receipt. 50,000 rows a transaction, straight into the store.
 */
export function seedYear(store: Store, n: number, options: YearOptions = {}): void {
  const start = options.start ?? Date.parse('2025-10-01T00:30:00Z');
  const step = ((options.days ?? 365) * DAY) / n;
  const confirmed = (options.syncState ?? 'confirmed') === 'confirmed';
  const db = store.db;
  db.pragma('cache_size = -262144'); // 256 MiB for this connection: the indexes are built as rows go in
  const insert = db.prepare(
    `INSERT INTO evaluations (id, channel, level, reasons, comment, contact, txn_id, matter_code, matter_name, window_id, staff_id, staff_name,
       origin, evaluated_at, received_at, device_id, fw_version, prompt_ms, flags, status, sync_state, batch_id, sent_at, confirmed_at)
     VALUES (?, 'evaluator', ?, '[]', '', NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '1.4.2', ?, ?, 'accepted', ?, ?, ?, ?)`,
  );
  const rows = db.transaction((from: number, to: number) => {
    for (let i = from; i <= to; i++) {
      const { device, counter, windowId, hash, level, origin, onTxn, matter, staff } = seededRating(i);
      const received = Math.round(start + (i - 1) * step);
      const misuse = origin === 'unsolicited' && hash % 4 === 0;
      insert.run(
        `${device}-${counter}`,
        level,
        onTxn ? `430300-${windowId}-${counter}` : null,
        onTxn ? matter[0] : null,
        onTxn ? matter[1] : null,
        windowId,
        `S${String(staff + 1).padStart(4, '0')}`,
        STAFF[staff]!,
        origin,
        new Date(received - 150 - (hash % 50) * 10).toISOString(),
        new Date(received).toISOString(),
        device,
        origin === 'prompted' ? 800 + hash * 40 : null,
        misuse ? '["misuse"]' : '[]',
        confirmed ? 'confirmed' : 'pending',
        null, // the receipt clears batch_id (hub/outbox.ts)
        confirmed ? new Date(received + 2000).toISOString() : null,
        confirmed ? new Date(received + 5000).toISOString() : null,
      );
    }
  });
  for (let from = 1; from <= n; from += 50_000) rows(from, Math.min(n, from + 49_999));
}

const MiB = 1024 * 1024;
const HALL = { hallId: '430300-001', areaCode: '430300', deptCode: '11430300MB1234567X' };
const MONTH = { from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z' };
const YEAR = { from: '2025-01-01T00:00:00.000Z', to: '2027-01-01T00:00:00.000Z' };
const CHILD_ENV = 'HCP_BENCH_EXPORT_CHILD';
const SELF = fileURLToPath(import.meta.url);

/** A sink that throws the bytes away, counting them, its callback in the same turn (a fast client). */
function nullSink(): { sink: Writable; bytes: () => number } {
  let bytes = 0;
  const sink = new Writable({
    decodeStrings: false,
    write(chunk: string, _encoding, done) {
      bytes += chunk.length;
      done();
    },
  });
  return { sink, bytes: () => bytes };
}

/** Runs `work`, sampling this process's RSS every 10 ms; its time, and the peak RSS above the RSS before, MiB. */
async function measured(work: () => Promise<unknown>): Promise<{ ms: number; peakRssMiB: number; rssBeforeMiB: number }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { ms, peakRssMiB: Math.round(peak / MiB), rssBeforeMiB: Math.round(before / MiB) };
}

export async function exportBench(n = Number(process.env.HCP_BENCH_EXPORT_N ?? 1_000_000), rounds = 5): Promise<BenchResult> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`export: n must be a positive integer, got ${n}`);
  const dir = tempDir('bench-export');
  const dataDir = join(dir, 'hub');
  try {
    // seeded in a child: its garbage and SQLite cache are not in the RSS measured here
    const seedStart = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = fork(SELF, [JSON.stringify({ dataDir, n })], { env: { ...process.env, [CHILD_ENV]: 'seed' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.once('error', reject);
      child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`export: seed child exited with ${code ?? signal}`))));
    });
    const seedSeconds = (performance.now() - seedStart) / 1000;
    const store = new Store({ dataDir });
    try {
      const range = { ...MONTH, format: 'gb39046' as const };
      // Baseline: the same rows, the plainest read and render there is, to the same kind of sink.
      const baselineSql = `SELECT txn_id, channel, evaluated_at, level, comment, rating_no, flags FROM evaluations
        WHERE status = 'accepted' AND superseded_by IS NULL AND evaluated_at >= ? AND evaluated_at < ? ORDER BY evaluated_at, id`;
      const baseline = async () => {
        const { sink } = nullSink();
        for (const row of store.db.prepare(baselineSql).raw().iterate(range.from, range.to)) sink.write(`${(row as unknown[]).join(',')}\r\n`);
      };
      let rows = 0;
      let bytes = 0;
      const project = async () => {
        const sink = nullSink();
        rows = await writeExport(store, HALL, range, sink.sink);
        bytes = sink.bytes();
      };
      await project(); // warm the page cache and the JIT for both
      await baseline();
      const figures: number[] = [];
      const baselines: number[] = [];
      let monthPeak = 0;
      let baselinePeak = 0;
      for (let i = 0; i < rounds; i++) {
        const p = await measured(project);
        figures.push(p.ms);
        monthPeak = Math.max(monthPeak, p.peakRssMiB - p.rssBeforeMiB);
        const b = await measured(baseline);
        baselines.push(b.ms);
        baselinePeak = Math.max(baselinePeak, b.peakRssMiB - b.rssBeforeMiB);
      }
      // A year (every rating in the store), once: memory must stay what a month's took.
      let yearRows = 0;
      const year = await measured(async () => {
        yearRows = await writeExport(store, HALL, { ...YEAR, format: 'gb39046' }, nullSink().sink);
      });
      let yearJsonRows = 0;
      const yearJson = await measured(async () => {
        yearJsonRows = await writeExport(store, HALL, { ...YEAR, format: 'json' }, nullSink().sink);
      });
      const size = storeSize(store);
      return result({
        bench: 'export',
        figure: Number((median(figures) / 1000).toFixed(3)),
        unit: `s to stream one month (${rows} rows) of a ${n}-rating year in gb39046 (hub/export.ts) to a Writable`,
        baseline: Number((median(baselines) / 1000).toFixed(3)),
        baselineName: 'raw SELECT of the same rows with .iterate(), each row join(",") and written to the same kind of sink',
        n,
        monthRows: rows,
        monthBytes: bytes,
        roundsMs: figures.map(Math.round),
        baselineRoundsMs: baselines.map(Math.round),
        monthPeakRssAboveMiB: monthPeak,
        baselinePeakRssAboveMiB: baselinePeak,
        yearRows,
        yearSeconds: Number((year.ms / 1000).toFixed(2)),
        yearPeakRssAboveMiB: year.peakRssMiB - year.rssBeforeMiB,
        yearJsonRows,
        yearJsonSeconds: Number((yearJson.ms / 1000).toFixed(2)),
        yearJsonPeakRssAboveMiB: yearJson.peakRssMiB - yearJson.rssBeforeMiB,
        rssBeforeMiB: year.rssBeforeMiB,
        ...size,
        seedSeconds: Number(seedSeconds.toFixed(1)),
      });
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The store's size: pages in use, the files on disk (database and WAL), bytes per rating. */
export function storeSize(store: Store): { dbMiB: number; filesMiB: number; walMiB: number; bytesPerRating: number; ratings: number } {
  const pageSize = store.db.pragma('page_size', { simple: true }) as number;
  const pageCount = store.db.pragma('page_count', { simple: true }) as number;
  const ratings = (store.db.prepare('SELECT COUNT(*) AS n FROM evaluations').get() as { n: number }).n;
  const file = (suffix: string) => (existsSync(store.path + suffix) ? statSync(store.path + suffix).size : 0);
  const wal = file('-wal');
  return {
    dbMiB: Number(((pageSize * pageCount) / MiB).toFixed(1)),
    filesMiB: Number(((file('') + wal + file('-shm')) / MiB).toFixed(1)),
    walMiB: Number((wal / MiB).toFixed(1)),
    bytesPerRating: ratings ? Math.round((pageSize * pageCount) / ratings) : 0,
    ratings,
  };
}

if (process.env[CHILD_ENV] === 'seed' && process.argv[1] === SELF) {
  const args = JSON.parse(process.argv[2] ?? '{}') as { dataDir: string; n: number };
  const store = new Store({ dataDir: args.dataDir });
  seedYear(store, args.n);
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.close();
  process.exit(0);
}
