/**
 * Prune: a hub whose store holds a year of confirmed ratings all past retention (1,000,000 by
 * default, seeded as scripts/bench/export.ts `seedYear` does, the year ending 731 days ago)
 * forgets them (hub/retention.ts, batches of 1000 rows a transaction) while 64 evaluators on
 * in-memory pipes each send an EVAL, wait for its ACK, pause 100 ms and send the next. Figure:
 * p99 EVAL→ACK while pruning, ms. Every 差评 of the year is closed (a confirmed step), so all of it is due. Baseline: p99 EVAL→ACK of the same evaluators on the same
 * hub without pruning, measured before and after the prune in the same run. Also reported:
 * the store's size with the year in it (pages in use and files on disk), bytes per rating, and
 * the prune's duration and rate.
 *
 * Environment: `HCP_BENCH_PRUNE_N` sets the number of ratings (default 100,000: pruning a million takes 11-48 minutes on the 2-core machine).
 */
import { fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AckStatus } from '../../protocol/index.js';
import { systemClock, type Clock } from '../../hub/clock.js';
import { parseConfig } from '../../hub/config.js';
import { Hub } from '../../hub/hub.js';
import { Store } from '../../hub/store.js';
import { bytePipePair } from '../../simulators/memory-link.js';
import { tempDir } from '../../simulators/pty.js';
import { seedYear, storeSize } from './export.js';
import { BenchEvaluator } from './ingest.js';
import { percentile, result, type BenchResult } from './measure.js';

const DEVICES = 64;
const DAY = 86_400_000;
const RETENTION_DAYS = 730;
/** Each evaluator's pause between an ACK and its next EVAL, ms. */
const PAUSE_MS = 100;
/** How long each phase without pruning lasts, ms. */
const QUIET_MS = 8_000;
const CHILD_ENV = 'HCP_BENCH_PRUNE_CHILD';
const SELF = fileURLToPath(import.meta.url);

export async function pruneBench(n = Number(process.env.HCP_BENCH_PRUNE_N ?? 100_000)): Promise<BenchResult> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`prune: n must be a positive integer, got ${n}`);
  const dir = tempDir('bench-prune');
  const dataDir = join(dir, 'hub');
  // the year ends a day past retention: every rating of it is due
  const start = Date.now() - (RETENTION_DAYS + 1 + 365) * DAY;
  const seedStart = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = fork(SELF, [JSON.stringify({ dataDir, n, start })], { env: { ...process.env, [CHILD_ENV]: 'seed' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`prune: seed child exited with ${code ?? signal}`))));
  });
  const seedSeconds = (performance.now() - seedStart) / 1000;

  // Until the prune phase the hub's clock runs two years behind: the prune at start finds nothing due.
  let offset = -2 * 365 * DAY;
  const clock: Clock = { ...systemClock, now: () => Date.now() + offset };
  const windows = Array.from({ length: DEVICES }, (_, i) => ({ id: `W${String(i + 1).padStart(2, '0')}`, name: `窗口 ${i + 1}` }));
  const hub = new Hub({
    clock,
    config: parseConfig({
      hallId: '430300-001',
      areaCode: '430300',
      adminToken: 'bench-admin-token',
      dataDir,
      http: { host: '127.0.0.1', port: 0 },
      devices: { discover: { serial: false, hid: false } },
      storage: { retentionDays: RETENTION_DAYS, minFreeMiB: 1 },
      windows,
    }),
  });
  let running = false;
  try {
    const yearSize = storeSize(hub.store);
    await hub.start();
    const devices: BenchEvaluator[] = [];
    await Promise.all(windows.map((w, i) => hub.pair(`HCP5-PRUNE-${String(i + 1).padStart(2, '0')}`, w.id, 'bench', 'evaluator')));
    for (let i = 0; i < DEVICES; i++) {
      const pipe = bytePipePair(`mem-${i}`);
      await hub.attach(pipe.b, `mem-${i}`);
      await pipe.a.open();
      devices.push(new BenchEvaluator(`HCP5-PRUNE-${String(i + 1).padStart(2, '0')}`, pipe.a));
    }
    await Promise.all(devices.map((d) => d.hello()));

    // Each evaluator: one EVAL in flight, the next PAUSE_MS after its ACK; latencies go to `sink`.
    let sink: number[] = [];
    let failures = 0;
    running = true;
    devices.forEach((d, i) => {
      const sentAt = new Map<number, number>();
      let txn = 0;
      const next = () => {
        if (!running) return;
        const counter = d.evaluate(((txn + i) % 5) + 1, `P-${i}-${++txn}`);
        sentAt.set(counter, performance.now());
        d.pump();
      };
      d.on('ack', (_seq, status, _reason, item) => {
        if (!item) return;
        const t = sentAt.get(item.counter);
        sentAt.delete(item.counter);
        if (status !== AckStatus.OK) failures++;
        else if (t !== undefined) sink.push(performance.now() - t);
        setTimeout(next, PAUSE_MS);
      });
      setTimeout(next, (i * PAUSE_MS) / DEVICES); // spread the evaluators over the pause
    });
    const retransmitter = setInterval(() => devices.forEach((d) => d.pump()), 50); // retransmissions, if any are due
    const quiet = async () => {
      const samples: number[] = [];
      sink = samples;
      await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
      return samples;
    };

    await new Promise((resolve) => setTimeout(resolve, 1000)); // warm up
    const before = await quiet();

    const pruning: number[] = [];
    sink = pruning;
    offset = 0;
    const t0 = performance.now();
    const counts = await hub.retention.run();
    const pruneMs = performance.now() - t0;

    const after = await quiet();
    running = false;
    clearInterval(retransmitter);
    const afterSize = storeSize(hub.store);
    if (counts.evaluations !== n) throw new Error(`prune: ${counts.evaluations} of ${n} ratings pruned`);
    const quietSamples = [...before, ...after];
    return result({
      bench: 'prune',
      figure: Number(percentile(pruning, 99).toFixed(1)),
      unit: `ms p99 EVAL→ACK while pruning ${n} confirmed ratings past retention, ${DEVICES} evaluators, one EVAL each then ${PAUSE_MS} ms`,
      baseline: Number(percentile(quietSamples, 99).toFixed(1)),
      baselineName: 'p99 EVAL→ACK of the same evaluators on the same hub without pruning (before and after it)',
      n,
      p50Ms: Number(percentile(pruning, 50).toFixed(1)),
      baselineP50Ms: Number(percentile(quietSamples, 50).toFixed(1)),
      maxMs: Number(pruning.reduce((a, b) => Math.max(a, b), 0).toFixed(1)),
      baselineMaxMs: Number(quietSamples.reduce((a, b) => Math.max(a, b), 0).toFixed(1)),
      evalsWhilePruning: pruning.length,
      evalsWithout: quietSamples.length,
      notAcked: failures,
      pruneSeconds: Number((pruneMs / 1000).toFixed(1)),
      prunedPerSecond: Math.round((counts.evaluations * 1000) / pruneMs),
      batches: counts.batches,
      year: yearSize,
      afterPrune: afterSize,
      bytesPerRating: yearSize.bytesPerRating,
      yearDbMiB: yearSize.dbMiB,
      yearFilesMiB: yearSize.filesMiB,
      seedSeconds: Number(seedSeconds.toFixed(1)),
    });
  } finally {
    running = false;
    await hub.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env[CHILD_ENV] === 'seed' && process.argv[1] === SELF) {
  const args = JSON.parse(process.argv[2] ?? '{}') as { dataDir: string; n: number; start: number };
  const store = new Store({ dataDir: args.dataDir });
  seedYear(store, args.n, { start: args.start });
  // every 差评 of the year was handled and closed, its step confirmed (an open one is kept: retention.ts)
  for (const [n, step] of [[1, 'acknowledged'], [2, 'resolved']] as const) {
    store.db
      .prepare(`INSERT INTO handling (evaluation_id, step, at, by, step_id, sync_state, confirmed_at)
        SELECT id, ?, received_at, 'bench', id || '#' || ?, 'confirmed', confirmed_at FROM evaluations WHERE dissatisfied = 1`)
      .run(step, n);
  }
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.close();
  process.exit(0);
}
