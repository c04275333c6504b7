/**
 * Backlog sync: a hall that was offline with 1,000,000 ratings in its store comes back; a real
 * hub process, as a hall server runs it (the build, plain node with the flags of
 * docs/deploy/haochaping-hub.service, as bench idle-rss starts it), publishes them to a real
 * Mosquitto (no persistence, loopback) until every one is confirmed by a receipt of the simulated platform
 * (`PlatformIngest`, shared subscription, in a child process of its own). Figure: ratings
 * confirmed per second, from the hub process's spawn to the last receipt (the hub's own
 * `GET /api/sync` polled every 200 ms says when nothing is pending or sent), with the hub
 * process's RSS (/proc) sampled every second, every sample reported. Baseline: raw mqtt.js QoS 1
 * publishing of the same batch payloads (regenerated from the store in the hub's order and cut
 * the hub's way) to the same Mosquitto, 4 in flight as the hub keeps, until the last PUBACK.
 * Seeding (bulk inserts in a child process) is timed apart as `seedSeconds`.
 *
 * Environment, for investigating: `HCP_BENCH_BACKLOG_N` sets the number of ratings (default
 * 1,000,000); `HCP_BENCH_BACKLOG_LOG=1` prints the hub's log to stderr;
 * `HCP_BENCH_BACKLOG_PROF=DIR` writes a V8 CPU profile of the hub process into DIR (node
 * --cpu-prof, written when the hub stops); `HCP_BENCH_BACKLOG_NODE_ARGS` adds node options for
 * the hub process (`--max-old-space-size=64`); `HCP_BENCH_BACKLOG_MOSQUITTO_DEFAULTS=1` keeps
 * Mosquitto's per-client queue limits, which drop messages for a subscriber that falls behind
 * (see docs/performance.md).
 */
import Database from 'better-sqlite3';
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { MAX_BATCH_BYTES, MAX_BATCH_ITEMS, platformTopics } from '../../protocol/index.js';
import { rowToEvaluation, type EvaluationRow } from '../../hub/evaluations.js';
import { rowJson } from '../../hub/outbox-json.js';
import { Store } from '../../hub/store.js';
import { PlatformIngest } from '../../simulators/platform.js';
import { tempDir } from '../../simulators/pty.js';
import { startMosquitto, type Mosquitto } from '../../tests/support/mosquitto.js';
import { runNode, type RunningProcess } from '../../tests/support/processes.js';
import { buildApp, unitNodeFlags } from './idle-rss.js';
import { median, percentile, result, type BenchResult } from './measure.js';

const HALL = { hallId: '430300-001', areaCode: '430300', deptCode: '11430300MB1234567X' };
const ADMIN_TOKEN = 'bench-admin-token';
const DEVICES = 64;
/** The hub's defaults (hub/sync.ts): batches awaiting PUBACK at once, items per batch. */
const IN_FLIGHT = 4;
/** Longest the sync may take before the bench gives up and says how far it got, ms. */
const SYNC_BUDGET_MS = 330_000;
const MiB = 1024 * 1024;
const CHILD_ENV = 'HCP_BENCH_BACKLOG_CHILD';
const SELF = fileURLToPath(import.meta.url);

interface Backlog {
  pending: number;
  sent: number;
  confirmed: number;
  rejected: number;
}

export async function backlog(n = Number(process.env.HCP_BENCH_BACKLOG_N ?? 1_000_000)): Promise<BenchResult> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`backlog: n must be a positive integer, got ${n}`);
  const dir = tempDir('bench-backlog');
  const dataDir = join(dir, 'hub');
  let broker: Mosquitto | undefined;
  let ingest: IngestChild | undefined;
  let hub: RunningProcess | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let app: string | undefined;
  try {
    // no queue limits unless HCP_BENCH_BACKLOG_MOSQUITTO_DEFAULTS=1 asks for Mosquitto's own, to see what they drop
    broker = await startMosquitto(dir, { defaultQueueLimits: !!process.env['HCP_BENCH_BACKLOG_MOSQUITTO_DEFAULTS'] });
    app = await buildApp();

    // Seeding in a child, so that its garbage and SQLite cache are in no process measured.
    const seedStart = performance.now();
    await runChild('seed', { dataDir, n });
    const seedSeconds = (performance.now() - seedStart) / 1000;

    ingest = await IngestChild.start(broker.url, join(dir, 'platform.sqlite'));
    const ingestCpu0 = (await ingest.counts()).cpuMs;

    const configFile = join(dir, 'hall.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        ...HALL,
        adminToken: ADMIN_TOKEN,
        dataDir,
        http: { host: '127.0.0.1', port: 0 },
        platform: { url: broker.url },
        sync: { republishAfterS: 120 },
        devices: { discover: { serial: false, hid: false } },
      }),
    );
    const prof = process.env['HCP_BENCH_BACKLOG_PROF'];
    const nodeArgs = [...unitNodeFlags(), ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), ...(process.env['HCP_BENCH_BACKLOG_NODE_ARGS']?.split(' ').filter(Boolean) ?? [])];
    const spawnedAt = performance.now();
    const proc = (hub = runNode(join(app, 'dist/hub/cli.js'), ['--config', configFile], nodeArgs));
    const pid = proc.child.pid!;
    // the hub's RSS every second from its spawn, all of it reported
    const rssSamples: number[] = [];
    sampler = setInterval(() => rssSamples.push(rssMiB(pid)), 1000);
    if (process.env.HCP_BENCH_BACKLOG_LOG) proc.child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    const started = await Promise.race([
      proc.waitStdout((l) => l.includes('"hub started"'), 60_000, 'the hub to start'),
      proc.exited(60_000).then((code) => {
        throw new Error(`backlog: hub exited with ${code}: ${proc.logs.map((e) => e['msg']).join(' | ')}`);
      }),
    ]);
    // The sync starts inside the hub's start, before "hub started": time and CPU from the spawn.
    const t0 = spawnedAt;
    const startedAt = performance.now();
    const startCpuMs = cpuMs(pid);
    const api = `${(JSON.parse(started) as { http: string }).http}/api/sync`;


    const marks = [1, 2, 3, 4].map((k) => Math.round((n * k) / 4));
    const quarters: number[] = [];
    let first: Backlog | undefined;
    let last: Backlog;
    let firstReceiptAt: number | undefined;
    for (;;) {
      const res = await fetch(api, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      last = ((await res.json()) as { backlog: Backlog }).backlog;
      first ??= last;
      const now = performance.now();
      if (last.confirmed > 0) firstReceiptAt ??= now;
      while (quarters.length < marks.length && last.confirmed >= marks[quarters.length]!) quarters.push(now);
      if (last.pending + last.sent === 0) break;
      if (now - t0 > SYNC_BUDGET_MS) throw new Error(`backlog: ${last.confirmed} of ${n} confirmed after ${SYNC_BUDGET_MS / 1000} s (${JSON.stringify(last)}); run with a smaller HCP_BENCH_BACKLOG_N`);
      await new Promise((resolve) => setTimeout(resolve, 200)); // polling the hub's own API: the bench has no other view into its process
    }
    const elapsed = performance.now() - t0;
    const hubCpuMs = cpuMs(pid);
    const ingestCpuMs = (await ingest.counts()).cpuMs - ingestCpu0;
    clearInterval(sampler);
    sampler = undefined;
    rssSamples.push(rssMiB(pid));

    // 差评 also go out one by one on `alerts`, not part of the figure: wait for them to settle,
    // then count those the hub has as delivered (PUBACKed) that the platform never got.
    const db = new Database(join(dataDir, 'hub.sqlite'), { readonly: true });
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    const dissatisfied = count(`SELECT COUNT(*) AS n FROM evaluations WHERE dissatisfied = 1`);
    let platformCounts = await ingest.counts();
    for (let still = 0, i = 0; platformCounts.alerts < dissatisfied && still < 4 && i < 40; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const next = await ingest.counts();
      still = next.alerts === platformCounts.alerts ? still + 1 : 0;
      platformCounts = next;
    }
    const alerted = count(`SELECT COUNT(*) AS n FROM evaluations WHERE dissatisfied = 1 AND alerted_at IS NOT NULL AND alerted_at <> 'publishing'`);
    const confirmed = count(`SELECT COUNT(*) AS n FROM evaluations WHERE sync_state = 'confirmed'`);
    const unsynced = count(`SELECT COUNT(*) AS n FROM evaluations WHERE sync_state IN ('pending', 'sent')`);
    db.close();
    // What the sync logged about trouble: republishing after a missing receipt, lost connections.
    const trouble = { republished: 0, disconnects: 0, unacknowledged: 0 };
    for (const entry of proc.logs) {
      if (entry['msg'] === 'no receipt in time: publishing again') trouble.republished += Number(entry['evaluations']);
      else if (entry['msg'] === 'platform disconnected') trouble.disconnects++;
      else if (entry['msg'] === 'batch not acknowledged') trouble.unacknowledged++;
    }
    proc.child.kill('SIGTERM');
    await proc.exited(60_000);
    hub = undefined;
    const ingestPeakRss = await ingest.close();
    ingest = undefined;
    if (platformCounts.stored !== n || confirmed !== n || unsynced !== 0) {
      throw new Error(`backlog: platform stored ${platformCounts.stored}, hub confirmed ${confirmed} (${unsynced} unsynced), expected ${n} each`);
    }

    // Baseline: the same batch payloads, with no subscriber left (the ingest is gone).
    const payloads = batchPayloads(dataDir);
    const payloadBytes = payloads.reduce((sum, p) => sum + p.length, 0);
    const rounds: number[] = [];
    for (let round = 0; round < 3; round++) rounds.push(await rawPublishRate(broker.url, payloads, n));

    const quarterRates = quarters.map((t, i) => Math.round(((marks[i]! - (marks[i - 1] ?? 0)) * 1000) / (t - (quarters[i - 1] ?? t0))));
    return result({
      bench: 'backlog',
      figure: Math.round((n * 1000) / elapsed),
      unit: 'evaluations/s confirmed by receipt, from the spawn of the hub process with the whole backlog in the store',
      baseline: Math.round(median(rounds)),
      baselineName: `raw mqtt.js QoS 1 publish of the same ${payloads.length} batch payloads, ${IN_FLIGHT} in flight, to the same Mosquitto, until the last PUBACK`,
      n,
      seconds: Number((elapsed / 1000).toFixed(1)),
      hubStartSeconds: Number(((startedAt - spawnedAt) / 1000).toFixed(1)),
      hubStartCpuSeconds: Number((startCpuMs / 1000).toFixed(1)),
      confirmedAtStart: first!.confirmed,
      firstReceiptSeconds: Number((((firstReceiptAt ?? t0) - t0) / 1000).toFixed(2)),
      quarterRates,
      // the hub process's RSS, MiB, once a second from its spawn to the last receipt
      rssMiB: { max: Math.max(...rssSamples), p50: percentile(rssSamples, 50), p90: percentile(rssSamples, 90), min: Math.min(...rssSamples), samples: rssSamples },
      ingestPeakRssMiB: Math.round(ingestPeakRss / MiB),
      // CPU seconds from the spawn to the last receipt: the hub process (its start included), and the platform ingest's
      hubCpuSeconds: Number((hubCpuMs / 1000).toFixed(1)),
      hubCpuMicrosPerRating: Math.round((hubCpuMs * 1000) / n),
      ingestCpuSeconds: Number((ingestCpuMs / 1000).toFixed(1)),
      seedSeconds: Number(seedSeconds.toFixed(1)),
      batches: payloads.length,
      payloadMiB: Number((payloadBytes / MiB).toFixed(1)),
      baselineRounds: rounds.map(Math.round),
      ...trouble,
      alerts: { dissatisfied, delivered: alerted, platform: platformCounts.alerts, lost: alerted - platformCounts.alerts },
      counts: {
        stored: platformCounts.stored,
        confirmed,
        platformBatches: platformCounts.batches,
        repeats: platformCounts.repeats,
        rejected: platformCounts.rejected,
      },
    });
  } finally {
    clearInterval(sampler);
    if (hub) {
      hub.child.kill('SIGKILL');
      await hub.exited(10_000).catch(() => {});
    }
    await ingest?.close().catch(() => {});
    await broker?.kill();
    rmSync(dir, { recursive: true, force: true });
    if (app) rmSync(app, { recursive: true, force: true });
  }
}

/** A process's resident set, MiB, from /proc. */
function rssMiB(pid: number): number {
  return Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024);
}

/** A process's CPU time so far (user + system), ms, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

// ---- seeding ----

/** The matters and clerks of the seeded hall (shared with the other year-sized benches). */
export const MATTERS: [string, string][] = [
  ['11430300MB1234567X4000123001', '不动产登记（转移登记）'],
  ['11430300MB1234567X4000123002', '社会保障卡申领'],
  ['11430300MB1234567X4000123003', '个体工商户设立登记'],
  ['11430300MB1234567X4000123004', '城乡居民基本医疗保险参保登记'],
  ['11430300MB1234567X4000123005', '居住证办理'],
  ['11430300MB1234567X4000123006', '住房公积金提取'],
];
export const STAFF = ['张伟', '王芳', '李娜', '刘洋', '陈静', '杨磊', '赵敏', '黄强'];

/**
 * The `i`-th seeded rating (from 1): 64 evaluators on 64 windows taking turns; every 10th a
 * 差评 (1 or 2), the others 3-5 (mostly 5); 85% prompted on a transaction with a matter, 5%
 * invited, 10% unsolicited; clerks rotating. `hash` is the rating's pseudo-random 0..99.
 */
export function seededRating(i: number) {
  const d = (i - 1) % DEVICES;
  const counter = Math.floor((i - 1) / DEVICES) + 1;
  const hash = (i * 2654435761) % 100;
  const origin = hash % 20 < 17 ? 'prompted' : hash % 20 === 17 ? 'invited' : 'unsolicited';
  return {
    device: `HCP5-430300-${String(d + 1).padStart(2, '0')}`,
    counter,
    windowId: `W${String(d + 1).padStart(2, '0')}`,
    hash,
    level: i % 10 === 0 ? (i % 20 === 0 ? 1 : 2) : hash < 70 ? 5 : hash < 90 ? 4 : 3,
    origin,
    onTxn: origin !== 'unsolicited',
    matter: MATTERS[counter % MATTERS.length]!,
    staff: (d * 3 + Math.floor(counter / 500)) % STAFF.length,
  };
}

/**
 * `n` ratings as the hub commits them while the platform is unreachable: 64 evaluators on 64
 * windows taking turns, ids `{device}-{counter}`, one every 2 s; every 10th a 差评 (1 or 2),
 * the others 3-5 (mostly 5); 85% prompted on a transaction with a matter, 5% invited, 10%
 * unsolicited. Each with its platform JSON ready, as `commitEvaluation` writes it. One
 * prepared statement, 50,000 rows a transaction, straight into the store.
 */
export function seedBacklog(store: Store, n: number, base = Date.parse('2026-10-01T00:30:00Z')): void {
  const db = store.db;
  db.pragma('cache_size = -262144'); // 256 MiB for this connection: the indexes are built as rows go in
  const insert = db.prepare(
    `INSERT INTO evaluations (id, channel, level, reasons, comment, contact, txn_id, matter_code, matter_name, window_id, staff_id, staff_name,
       origin, evaluated_at, received_at, device_id, fw_version, prompt_ms, flags, status, sync_state, outbox_json)
     VALUES (@id, @channel, @level, @reasons, @comment, @contact, @txn_id, @matter_code, @matter_name, @window_id, @staff_id, @staff_name,
       @origin, @evaluated_at, @received_at, @device_id, @fw_version, @prompt_ms, @flags, 'accepted', 'pending', @outbox_json)`,
  );
  const rows = db.transaction((from: number, to: number) => {
    for (let i = from; i <= to; i++) {
      const { device, counter, windowId, hash, level, origin, onTxn, matter, staff } = seededRating(i);
      const received = base + i * 2000;
      const row = {
        id: `${device}-${counter}`,
        channel: 'evaluator',
        level,
        reasons: '[]',
        comment: '',
        contact: null,
        txn_id: onTxn ? `430300-${windowId}-${counter}` : null,
        matter_code: onTxn ? matter[0] : null,
        matter_name: onTxn ? matter[1] : null,
        window_id: windowId,
        staff_id: `S${String(staff + 1).padStart(4, '0')}`,
        staff_name: STAFF[staff]!,
        origin,
        evaluated_at: new Date(received - 150 - (hash % 50) * 10).toISOString(),
        received_at: new Date(received).toISOString(),
        device_id: device,
        fw_version: '1.4.2',
        prompt_ms: origin === 'prompted' ? 800 + hash * 40 : null,
        flags: '[]',
        consent: 0,
        rating_no: 1,
        follow_up_of: null,
      };
      insert.run({ ...row, outbox_json: rowJson(row as EvaluationRow) });
    }
  });
  for (let from = 1; from <= n; from += 50_000) rows(from, Math.min(n, from + 49_999));
}

// ---- baseline ----

/** The hub's batch payloads, regenerated: its page order, its item cut at 256 KiB, its JSON. */
function batchPayloads(dataDir: string): Buffer[] {
  const db = new Database(join(dataDir, 'hub.sqlite'), { readonly: true });
  try {
    const bootId = Date.now().toString(36);
    const out: Buffer[] = [];
    let items: unknown[] = [];
    let bytes = 0;
    let batchId = '';
    const open = () => {
      batchId = `${HALL.hallId}-${bootId}-${out.length + 1}`;
      items = [];
      bytes = 80 + batchId.length + HALL.hallId.length;
    };
    const close = () => out.push(Buffer.from(JSON.stringify({ batchId, hallId: HALL.hallId, sentAt: new Date().toISOString(), items })));
    open();
    // The hub selects 500 rows and publishes the ones that fit; the next page starts at the first left out.
    for (const row of db.prepare('SELECT * FROM evaluations ORDER BY dissatisfied DESC, received_at').iterate()) {
      const e = rowToEvaluation(row as never, HALL);
      const size = Buffer.byteLength(JSON.stringify(e)) + 1;
      if (items.length === MAX_BATCH_ITEMS || (items.length > 0 && bytes + size > MAX_BATCH_BYTES)) {
        close();
        open();
      }
      bytes += size;
      items.push(e);
    }
    if (items.length > 0) close();
    return out;
  } finally {
    db.close();
  }
}

/** Items per second of a fresh mqtt.js client publishing `payloads` QoS 1, IN_FLIGHT at a time. */
async function rawPublishRate(url: string, payloads: Buffer[], items: number): Promise<number> {
  const client = await mqtt.connectAsync(url, { clientId: `bench-raw-${process.pid}`, protocolVersion: 4, clean: true, reconnectPeriod: 0 });
  try {
    const topic = platformTopics.evaluations(HALL.hallId);
    const start = performance.now();
    await new Promise<void>((resolve, reject) => {
      let next = 0;
      let acked = 0;
      let inFlight = 0;
      const pump = () => {
        while (inFlight < IN_FLIGHT && next < payloads.length) {
          inFlight++;
          client.publish(topic, payloads[next++]!, { qos: 1 }, (error) => {
            if (error) return reject(error);
            inFlight--;
            if (++acked === payloads.length) resolve();
            else pump();
          });
        }
      };
      pump();
    });
    return (items * 1000) / (performance.now() - start);
  } finally {
    await client.endAsync(true).catch(() => {});
  }
}

// ---- child processes: the seeding, and the platform ingest ----

type ChildRequest = { type: 'counts' } | { type: 'close' };
type ChildReply = { type: 'ready' } | { type: 'counts'; counts: PlatformIngest['counts']; stored: number; cpuMs: number } | { type: 'closed'; peakRss: number };

function forkChild(role: 'seed' | 'ingest', args: Record<string, unknown>): ChildProcess {
  // fork keeps process.execArgv, so the child runs this file under tsx too
  return fork(SELF, [JSON.stringify(args)], { env: { ...process.env, [CHILD_ENV]: role }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function runChild(role: 'seed', args: Record<string, unknown>): Promise<void> {
  const child = forkChild(role, args);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`backlog: ${role} child exited with ${code ?? signal}`))));
  });
}

/** The platform ingest in a child process, driven over IPC. */
class IngestChild {
  private constructor(private readonly child: ChildProcess) {}

  static async start(brokerUrl: string, dbFile: string): Promise<IngestChild> {
    const child = forkChild('ingest', { brokerUrl, dbFile });
    const ingest = new IngestChild(child);
    await ingest.reply('ready');
    return ingest;
  }

  /** The ingest's counters, `stored` read from its database, and its CPU time so far, ms. */
  async counts(): Promise<PlatformIngest['counts'] & { cpuMs: number }> {
    this.child.send({ type: 'counts' } satisfies ChildRequest);
    const r = (await this.reply('counts')) as Extract<ChildReply, { type: 'counts' }>;
    return { ...r.counts, stored: r.stored, cpuMs: r.cpuMs };
  }

  /** Closes the ingest and waits for the child to exit; its peak RSS. */
  async close(): Promise<number> {
    if (this.child.exitCode !== null || !this.child.connected) return 0;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ type: 'close' } satisfies ChildRequest);
    const r = (await Promise.race([this.reply('closed'), exited.then(() => ({ type: 'closed', peakRss: 0 }) as const)])) as Extract<ChildReply, { type: 'closed' }>;
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
    return r.peakRss;
  }

  private reply(type: ChildReply['type']): Promise<ChildReply> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: ChildReply) => {
        if (m.type !== type) return;
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        resolve(m);
      };
      const onExit = (code: number | null) => {
        this.child.off('message', onMessage);
        reject(new Error(`backlog: ingest child exited with ${code} before ${type}`));
      };
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
    });
  }
}

async function childMain(role: string, args: Record<string, string | number>): Promise<void> {
  if (role === 'seed') {
    const store = new Store({ dataDir: String(args['dataDir']) });
    seedBacklog(store, Number(args['n']));
    store.close();
    process.exit(0);
  }
  if (role === 'ingest') {
    const ingest = await PlatformIngest.start({ brokerUrl: String(args['brokerUrl']), dbFile: String(args['dbFile']), shared: true });
    let peakRss = process.memoryUsage().rss;
    setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
    process.on('message', (m: ChildRequest) => {
      if (m.type === 'counts') {
        const cpu = process.cpuUsage();
        process.send!({ type: 'counts', counts: ingest.counts, stored: ingest.stored(), cpuMs: (cpu.user + cpu.system) / 1000 } satisfies ChildReply);
      }
      else if (m.type === 'close') {
        void ingest.close().then(() => process.send!({ type: 'closed', peakRss } satisfies ChildReply, () => process.exit(0)));
      }
    });
    process.on('disconnect', () => process.exit(0)); // the bench went away
    process.send!({ type: 'ready' } satisfies ChildReply);
    return;
  }
  throw new Error(`unknown child role ${role}`);
}

if (process.env[CHILD_ENV] && process.argv[1] === SELF) {
  childMain(process.env[CHILD_ENV], JSON.parse(process.argv[2] ?? '{}') as Record<string, string | number>).catch((error: Error) => {
    console.error(error);
    process.exit(1);
  });
}
