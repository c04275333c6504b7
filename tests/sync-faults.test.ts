/**
 * Platform sync under faults (PROTOCOL 3, 4, 6), against real Mosquitto processes: the broker
 * killed mid catch-up, the hub process killed mid catch-up, lost receipts, 差评 ahead of a
 * backlog, a hall's credentials used for another hall (ACL), mqtts with and without the CA, and
 * a refused pushed configuration. Every wait is on an event or a condition with a deadline.
 */
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { parseConfig, type HubConfig } from '../hub/config.js';
import { commitEvaluation, syncSummary } from '../hub/evaluations.js';
import { Hub, type LogEntry } from '../hub/hub.js';
import { Store } from '../hub/store.js';
import { hallTopics, platformTopics, type Evaluation, type HallConfig, type PublicConfig } from '../protocol/index.js';
import { PlatformIngest, type PlatformOptions } from '../simulators/platform.js';
import { startHub, type HubProcess } from './support/hub.js';
import { makeCertificates, startMosquitto, type MosquittoOptions } from './support/mosquitto.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { evaluation } from './support/evaluation.js';
import { waitFor } from './support/processes.js';
import { HALL, seedOffline } from './support/seed.js';

const OTHER_HALL = '430300-002';

const cleanups = cleanupsAfterEach();

// ---- fixtures: each registers its own cleanup ----

async function mosquitto(dir: string, options: MosquittoOptions = {}) {
  const broker = await startMosquitto(dir, options);
  cleanups.push(() => broker.stop());
  return broker;
}

async function platform(options: PlatformOptions): Promise<PlatformIngest> {
  const ingest = await PlatformIngest.start(options);
  cleanups.push(() => ingest.close());
  return ingest;
}

function hubConfig(dataDir: string, overrides: Record<string, unknown>): HubConfig {
  return parseConfig({
    hallId: HALL,
    areaCode: '430300',
    adminToken: 'hall-test-token-7f3a9c',
    dataDir,
    http: { port: 0 },
    devices: { discover: { serial: false, hid: false } },
    windows: [{ id: 'A01' }],
    sync: { republishAfterS: 3 },
    ...overrides,
  });
}

/** An in-process hub; its log entries are kept and can be waited on. */
async function runHub(config: HubConfig) {
  const entries: LogEntry[] = [];
  const listeners = new Set<(e: LogEntry) => void>();
  const hub = new Hub({
    config,
    log: (e) => {
      entries.push(e);
      for (const l of [...listeners]) l(e);
    },
  });
  await hub.start();
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= hub.stop());
  cleanups.push(stop);
  const nextLog = (predicate: (e: LogEntry) => boolean, ms: number, what: string): Promise<LogEntry> => {
    const seen = entries.find(predicate);
    if (seen) return Promise.resolve(seen);
    return waitFor<LogEntry>((l) => (listeners.add(l), () => listeners.delete(l)), predicate, ms, what);
  };
  const api = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${hub.port}${path}`, { headers: { authorization: `Bearer ${config.adminToken}` } });
    return { status: res.status, json: (await res.json()) as any };
  };
  return { hub, entries, nextLog, api, stop };
}

/** A hub process; killed at cleanup if still running. */
async function hubProcess(dir: string, config: Record<string, unknown>): Promise<HubProcess> {
  const hub = await startHub(dir, config);
  cleanups.push(async () => {
    if (hub.proc.child.exitCode !== null || hub.proc.child.signalCode !== null) return;
    hub.proc.child.kill('SIGKILL');
    await hub.proc.exited(10_000);
  });
  return hub;
}

/** Resolves when the hub's store has at least `n` confirmed, checked on each receipt. */
function confirmed(hub: Hub, n: number, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sync = hub.platform!;
    const check = () => {
      if (hub.store.read(syncSummary).confirmed < n) return;
      sync.off('confirmed', check);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      sync.off('confirmed', check);
      reject(new Error(`timed out after ${ms} ms waiting for ${n} confirmed: hub ${JSON.stringify(hub.store.read(syncSummary))}`));
    }, ms);
    sync.on('confirmed', check);
    check();
  });
}

/** The next `connected` of a hub's platform sync, with a deadline. */
function connected(hub: Hub, ms: number, what: string): Promise<void> {
  const sync = hub.platform!;
  return waitFor<void>((l) => (sync.on('connected', l), () => sync.off('connected', l)), () => true, ms, what);
}

/**
 * For state behind a process boundary that announces nothing (another process's HTTP API):
 * re-reads until `ok` holds, failing with the last value after `ms`.
 */
async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function platformIds(ingest: PlatformIngest, hallId: string): string[] {
  return (ingest.db.prepare('SELECT id FROM evaluations WHERE hall_id = ? ORDER BY id').all(hallId) as { id: string }[]).map((r) => r.id);
}

function storeIds(db: { prepare(sql: string): { all(): unknown[] } }): string[] {
  return (db.prepare(`SELECT id FROM evaluations ORDER BY id`).all() as { id: string }[]).map((r) => r.id);
}

/** Every id on both sides, none twice at the platform, none missing or extra. */
function expectSameIds(platform: string[], hub: string[]): void {
  expect(new Set(platform).size, 'distinct ids at the platform').toBe(platform.length);
  const atPlatform = new Set(platform);
  const atHub = new Set(hub);
  expect(hub.filter((id) => !atPlatform.has(id)).slice(0, 5), 'hub ids missing at the platform').toEqual([]);
  expect(platform.filter((id) => !atHub.has(id)).slice(0, 5), 'platform ids the hub never had').toEqual([]);
}

const rating = (id: string, level: number, evaluatedAt: string): Evaluation => evaluation({ id, level, evaluatedAt, hallId: HALL, origin: 'invited' });

/** Commits ratings into a hub's store in one transaction, as an offline hall would have. */
async function seed(dataDir: string, ratings: Evaluation[]): Promise<void> {
  const store = new Store({ dataDir });
  try {
    await Promise.all(ratings.map((e) => store.submit((db) => commitEvaluation(db, e, { attachWithinMs: 0, misuseWindowMs: 0 }))));
  } finally {
    store.close();
  }
}

describe('platform sync under faults (real Mosquitto)', () => {
  it('Mosquitto killed 3 times during a catch-up of 20,000: each rating stored once, all confirmed', async () => {
    const n = 20_000;
    const d = tempDir(cleanups, 'sync-broker-kill');
    const broker = await mosquitto(d);
    const dataDir = join(d, 'hub');
    await seedOffline(dataDir, n);
    const ingest = await platform({ brokerUrl: broker.url, dbFile: join(d, 'platform.sqlite'), shared: true });
    const { hub } = await runHub(hubConfig(dataDir, { platform: { url: broker.url } }));

    const atKill: { stored: number; confirmed: number }[] = [];
    for (let k = 1; k <= 3; k++) {
      // Kill while the catch-up is under way: some stored, not all.
      await ingest.until(() => ingest.counts.stored >= (k * n) / 4, 60_000, `${k}/4 of the backlog stored before kill ${k}`);
      await broker.kill(); // no persistence: whatever the broker held is gone
      atKill.push({ stored: ingest.counts.stored, confirmed: hub.store.read(syncSummary).confirmed });
      const back = connected(hub, 20_000, `the hub to reconnect after restart ${k}`);
      await broker.start();
      await back;
    }
    for (const at of atKill) {
      expect(at.stored, 'each kill lands mid catch-up').toBeLessThan(n);
      expect(at.confirmed).toBeLessThan(n);
    }

    await confirmed(hub, n, 60_000);
    expect(hub.store.read(syncSummary)).toMatchObject({ pending: 0, sent: 0, confirmed: n, rejected: 0 });
    expect(ingest.stored(HALL)).toBe(n);
    expect((ingest.db.prepare('SELECT COUNT(DISTINCT id) AS n FROM evaluations').get() as { n: number }).n).toBe(n);
    expectSameIds(platformIds(ingest, HALL), hub.store.read((db) => storeIds(db)));
    // What was sent twice was deduplicated, not counted twice.
    expect(ingest.counts.stored).toBe(n);
    expect(ingest.counts.items).toBe(n + ingest.counts.repeats);
  }, 120_000);

  it('the hub process killed with SIGKILL 4 times during a catch-up of 20,000: the platform counts each once, the hub ends all confirmed', async () => {
    const n = 20_000;
    const KILLS = 4;
    const d = tempDir(cleanups, 'sync-hub-kill');
    const broker = await mosquitto(d);
    await seedOffline(join(d, 'data'), n); // startHub's dataDir
    const ingest = await platform({ brokerUrl: broker.url, dbFile: join(d, 'platform.sqlite'), shared: true });
    const config = { hallId: HALL, areaCode: '430300', platform: { url: broker.url }, windows: [{ id: 'A01' }], sync: { republishAfterS: 3 } };

    const storedAtKill: number[] = [];
    for (let k = 1; k <= KILLS; k++) {
      const proc = await hubProcess(d, config);
      await ingest.until(() => ingest.counts.stored >= (k * n) / (KILLS + 1), 60_000, `${k}/${KILLS + 1} of the backlog stored before kill ${k}`);
      proc.proc.child.kill('SIGKILL');
      await proc.proc.exited(10_000);
      storedAtKill.push(ingest.counts.stored);
    }
    for (const stored of storedAtKill) expect(stored, 'each kill lands mid catch-up').toBeLessThan(n);

    const hub = await hubProcess(d, config);
    await ingest.until(() => ingest.counts.stored >= n, 60_000, 'the whole backlog stored');
    const sync = await eventually(() => hub.api('GET', '/api/sync'), (r) => r.json?.backlog?.confirmed === n, 30_000, 'GET /api/sync to show every rating confirmed');
    expect(sync.json.backlog).toMatchObject({ pending: 0, sent: 0, confirmed: n, rejected: 0 });

    expect(ingest.stored(HALL)).toBe(n);
    expect((ingest.db.prepare('SELECT COUNT(DISTINCT id) AS n FROM evaluations').get() as { n: number }).n).toBe(n);
    // Batches in flight at each kill arrived again after the restart: repeats, absorbed on id.
    const repeats = (ingest.db.prepare('SELECT COALESCE(SUM(repeats), 0) AS r FROM evaluations').get() as { r: number }).r;
    expect(ingest.counts.repeats, 'some ratings arrived twice (kills landed with batches in flight)').toBeGreaterThan(0);
    expect(repeats).toBe(ingest.counts.repeats);
    expect(ingest.counts.items, 'every item that arrived was either stored once or counted as a repeat').toBe(n + repeats);

    const db = new Database(join(d, 'data', 'hub.sqlite'), { readonly: true });
    try {
      expectSameIds(platformIds(ingest, HALL), storeIds(db));
      expect(db.prepare(`SELECT COUNT(*) AS n FROM evaluations WHERE sync_state <> 'confirmed'`).get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  }, 150_000);

  it('lost receipts: the batches are published again after republishAfterS, stored once, all confirmed', async () => {
    const n = 3000;
    const DROPS = 3;
    const d = tempDir(cleanups, 'sync-receipts');
    const broker = await mosquitto(d);
    const dataDir = join(d, 'hub');
    await seedOffline(dataDir, n);
    let itemsSeen = 0;
    let droppedItems = 0;
    const dropped: string[] = [];
    const ingest: PlatformIngest = await platform({
      brokerUrl: broker.url,
      dbFile: join(d, 'platform.sqlite'),
      shared: true,
      // Called once per batch, after its items were stored: drop the receipts of the first batches.
      dropReceipt: (batchId) => {
        const items = ingest.counts.items - itemsSeen;
        itemsSeen = ingest.counts.items;
        if (dropped.length >= DROPS) return false;
        dropped.push(batchId);
        droppedItems += items;
        return true;
      },
    });
    const { hub } = await runHub(hubConfig(dataDir, { platform: { url: broker.url }, sync: { republishAfterS: 3 } }));

    await ingest.until(() => ingest.counts.receiptsDropped >= DROPS, 30_000, `${DROPS} receipts dropped`);
    expect(droppedItems).toBeGreaterThan(0);
    // PROTOCOL 3: PUBACKed is only `sent` (written at the sync's next housekeeping, every 5 s at
    // most, unless the receipt came first); without a receipt nothing is confirmed.
    await confirmed(hub, n - droppedItems, 30_000);
    const waiting = await eventually(async () => hub.store.read(syncSummary), (s) => s.sent === droppedItems, 10_000, 'the unreceipted batches written sent');
    expect(waiting, 'the batches whose receipt was lost wait as sent').toMatchObject({ confirmed: n - droppedItems, sent: droppedItems, pending: 0 });

    await confirmed(hub, n, 30_000);
    expect(hub.store.read(syncSummary)).toMatchObject({ pending: 0, sent: 0, confirmed: n, rejected: 0 });
    expect(ingest.stored(HALL)).toBe(n);
    expectSameIds(platformIds(ingest, HALL), hub.store.read((db) => storeIds(db)));
    expect(ingest.counts.repeats, 'the unreceipted items were published again').toBeGreaterThanOrEqual(droppedItems);
    // Exactly the unreceipted ones came twice; nothing with a receipt was republished.
    expect((ingest.db.prepare('SELECT COUNT(*) AS n FROM evaluations WHERE repeats > 0').get() as { n: number }).n).toBe(droppedItems);
    expect(ingest.counts.receiptsDropped).toBe(DROPS);
  }, 90_000);

  it('差评 reach alerts before a backlog of 30,000 good ratings drains, though they are the newest', async () => {
    const n = 30_000;
    const d = tempDir(cleanups, 'sync-alerts');
    const broker = await mosquitto(d);
    const dataDir = join(d, 'hub');
    const base = Date.parse('2026-11-20T01:00:00Z');
    const good = Array.from({ length: n }, (_, i) => rating(`HCP5-GOOD-${i + 1}`, 4 + (i % 2), new Date(base + i * 1000).toISOString()));
    // The 差评 are the last committed: highest counters, latest receivedAt.
    const bad = Array.from({ length: 5 }, (_, i) => rating(`HCP5-LATE-${i + 1}`, 1 + (i % 2), new Date(base + (n + i + 1) * 1000).toISOString()));
    await seed(dataDir, good);
    await seed(dataDir, bad);
    const ingest = await platform({ brokerUrl: broker.url, dbFile: join(d, 'platform.sqlite'), shared: true });

    // A second subscriber records the arrival order across both topics.
    const spy: MqttClient = await mqtt.connectAsync(broker.url, { clientId: `spy-${process.pid}`, reconnectPeriod: 0 });
    cleanups.push(() => spy.endAsync(true));
    let ordinarySeen = 0;
    const alertAfter = new Map<string, number>();
    spy.on('message', (topic, payload) => {
      if (topic === platformTopics.alerts(HALL)) {
        const e = JSON.parse(payload.toString()) as Evaluation;
        if (!alertAfter.has(e.id)) alertAfter.set(e.id, ordinarySeen);
      } else if (topic === platformTopics.evaluations(HALL)) {
        for (const e of (JSON.parse(payload.toString()) as { items: Evaluation[] }).items) if (e.level > 2) ordinarySeen++;
      }
    });
    await spy.subscribeAsync([platformTopics.alerts(HALL), platformTopics.evaluations(HALL)], { qos: 1 });

    const { hub } = await runHub(hubConfig(dataDir, { platform: { url: broker.url } }));
    await confirmed(hub, n + bad.length, 60_000);
    const spyDone = () => ordinarySeen >= n && alertAfter.size >= bad.length;
    if (!spyDone()) await waitFor<unknown>((l) => (spy.on('message', l), () => spy.off('message', l)), spyDone, 10_000, `the spy to see the backlog (saw ${ordinarySeen}, alerts ${alertAfter.size})`);

    for (const e of bad) {
      const before = alertAfter.get(e.id);
      expect(before, `差评 ${e.id} published on alerts`).toBeDefined();
      // Ahead of the backlog, not behind it: fewer than a tenth of the good ratings went first.
      expect(before!, `good ratings that reached the platform before the alert of ${e.id}`).toBeLessThan(n / 10);
    }
    // The platform's own record agrees: every 差评 on alerts, and each stored before the ordinary ones.
    await ingest.until(() => ingest.counts.alerts >= bad.length, 10_000, 'the alerts at the platform');
    const alerted = (ingest.db.prepare('SELECT DISTINCT id FROM alerts WHERE hall_id = ? ORDER BY id').all(HALL) as { id: string }[]).map((r) => r.id);
    expect(alerted).toEqual(bad.map((e) => e.id).sort());
    const lastOrdinary = ingest.db.prepare('SELECT MAX(received_at) AS at, MIN(rowid) AS first FROM evaluations WHERE level > 2').get() as { at: string; first: number };
    const lastAlert = ingest.db.prepare('SELECT MAX(at) AS at FROM alerts WHERE hall_id = ?').get(HALL) as { at: string };
    expect(lastAlert.at <= lastOrdinary.at, 'every alert before the last ordinary rating was stored').toBe(true);
    const lastUrgent = ingest.db.prepare('SELECT MAX(rowid) AS r FROM evaluations WHERE level <= 2').get() as { r: number };
    expect(lastUrgent.r, '差评 lead the batches too').toBeLessThan(lastOrdinary.first);
    expect(ingest.stored(HALL)).toBe(n + bad.length);
  }, 120_000);

  it("ACL: a hall's credentials sync its own root; used for another hall they are refused, nothing leaks, nothing is lost", async () => {
    const d = tempDir(cleanups, 'sync-acl');
    const users = [
      { name: HALL, password: 'secret-001' },
      { name: OTHER_HALL, password: 'secret-002' },
      { name: 'platform', password: 'secret-platform' },
    ];
    // Mosquitto 2.0 ACL file: `pattern` lines apply to every user (%u = username); the
    // `user` section gives the platform every hall's root.
    const acl = ['pattern readwrite hcp/v1/%u/#', '', 'user platform', 'topic readwrite hcp/v1/#', ''].join('\n');
    const broker = await mosquitto(d, { users, acl });
    const ingest = await platform({ brokerUrl: broker.url, dbFile: join(d, 'platform.sqlite'), shared: true, username: 'platform', password: 'secret-platform' });

    const nA = 1000;
    const nB = 500;
    const dirA = join(d, 'hub-a');
    const dirB = join(d, 'hub-b');
    await seedOffline(dirA, nA, 'HCP5-A', HALL);
    await seedOffline(dirB, nB, 'HCP5-B', OTHER_HALL);
    const a = await runHub(hubConfig(dirA, { platform: { url: broker.url, username: HALL, password: 'secret-001' } }));
    // Hall 002 configured with hall 001's credentials.
    const b = await runHub(hubConfig(dirB, { hallId: OTHER_HALL, platform: { url: broker.url, username: HALL, password: 'secret-001' } }));

    await confirmed(a.hub, nA, 30_000);
    expect(ingest.stored(HALL)).toBe(nA);
    // Hub 002 has had its go: refused outright, or connected and published into the ACL.
    await b.nextLog((e) => /platform/.test(e.msg), 15_000, 'hub 002 to reach the broker');
    // GET /api/sync says why (checked last, after what must hold either way).
    const sync = await eventually(() => b.api('/api/sync'), (r) => r.json.refusal !== null, 10_000, 'GET /api/sync of hub 002 to give the refusal').catch((error: Error) => error);

    expect(ingest.stored(OTHER_HALL), 'nothing of hall 002 reached the platform').toBe(0);
    expect(ingest.db.prepare('SELECT COUNT(*) AS n FROM alerts WHERE hall_id = ?').get(OTHER_HALL)).toEqual({ n: 0 });
    expect(ingest.db.prepare('SELECT COUNT(*) AS n FROM statuses WHERE hall_id = ?').get(OTHER_HALL)).toEqual({ n: 0 });
    // Never lost, never confirmed: every rating of hall 002 still waits at its hub.
    const b2 = b.hub.store.read(syncSummary);
    expect(b2).toMatchObject({ confirmed: 0, rejected: 0 });
    expect(b2.pending + b2.sent).toBe(nB);
    expect(ingest.stored(HALL), 'hall 001 untouched by hall 002').toBe(nA);

    if (sync instanceof Error) throw sync;
    expect(sync.json.platformConnected).toBe(false);
    expect(sync.json.refusal).toMatch(/430300-002/);
    expect(sync.json.progress.words).toContain(sync.json.refusal);
    expect(b.hub.platform!.state.refusal).toBe(sync.json.refusal);
  }, 60_000);

  it('mqtts: a hub with the CA syncs over TLS; one without it does not connect and keeps everything pending', async () => {
    const d = tempDir(cleanups, 'sync-tls');
    const certs = makeCertificates(d);
    const broker = await mosquitto(d, { tls: certs });
    expect(broker.url).toMatch(/^mqtts:\/\/localhost:\d+$/);
    const ingest = await platform({ brokerUrl: broker.url, dbFile: join(d, 'platform.sqlite'), ca: readFileSync(certs.ca) });

    const nA = 1000;
    const nB = 300;
    const dirA = join(d, 'hub-a');
    const dirB = join(d, 'hub-b');
    await seedOffline(dirA, nA, 'HCP5-A', HALL);
    await seedOffline(dirB, nB, 'HCP5-B', OTHER_HALL);

    // Without the CA first: the broker's certificate is not trusted.
    const b = await runHub(hubConfig(dirB, { hallId: OTHER_HALL, platform: { url: broker.url } }));
    const failure = await b.nextLog((e) => e.msg === 'platform connection error', 15_000, 'the hub without the CA to fail the TLS handshake');
    expect(String(failure['error'])).toMatch(/certificate/i);

    const a = await runHub(hubConfig(dirA, { platform: { url: broker.url, caFile: certs.ca } }));
    await confirmed(a.hub, nA, 30_000);
    expect(ingest.stored(HALL)).toBe(nA);
    expect(a.hub.store.read(syncSummary)).toMatchObject({ pending: 0, sent: 0, confirmed: nA });

    expect(b.hub.platform!.state.connected).toBe(false);
    expect(b.hub.platform!.state.lastConnectedAt).toBeNull();
    expect(ingest.stored(OTHER_HALL)).toBe(0);
    expect(b.hub.store.read(syncSummary)).toMatchObject({ pending: nB, sent: 0, confirmed: 0 });
  }, 60_000);

  describe('configuration pushed by the platform', () => {
    const v1: HallConfig = {
      version: 1,
      hallName: '湘潭市政务服务中心（新区）',
      windows: [
        { id: 'A01', name: 'A01 综合受理' },
        { id: 'B07', name: 'B07 不动产登记' },
      ],
      staff: [{ id: 'S001', name: '张三', windowId: 'B07' }],
      matters: [],
      reasons: [{ code: 'long-wait', zh: '等候时间长', en: 'Long wait' }],
    };

    async function setup() {
      const d = tempDir(cleanups, 'sync-config');
      const broker = await mosquitto(d);
      const ingest = await platform({ brokerUrl: broker.url, dbFile: join(d, 'platform.sqlite') });
      const config = hubConfig(join(d, 'hub'), { platform: { url: broker.url } });
      return { d, broker, ingest, config };
    }

    /** Public configs the hub publishes to its tablets from now on. */
    function watchPublicConfig(hub: Hub): PublicConfig[] {
      const seen: PublicConfig[] = [];
      hub.broker.aedes.on('publish', (packet) => {
        if (packet.topic === hallTopics.publicConfig(HALL)) seen.push(JSON.parse(packet.payload.toString()) as PublicConfig);
      });
      return seen;
    }

    it('an invalid config is refused whole and the previous one stays in effect', async () => {
      const { ingest, config } = await setup();
      const { hub } = await runHub(config);
      await connected(hub, 10_000, 'the hub to connect');
      const published = watchPublicConfig(hub);
      const state = hub.platform!.state;

      // The hub force-publishes its status after handling a config: the ingest re-checks then.
      await ingest.pushConfig(HALL, v1);
      await ingest.until(() => state.configVersion === 1, 10_000, 'config 1 applied');
      expect(state.configError).toBeNull();
      expect(hub.registry.windows.get('B07')?.name).toBe('B07 不动产登记');
      const applied = published.at(-1);
      expect(applied?.windows.map((w) => w.id)).toEqual(['A01', 'B07']);
      expect(applied?.hallName).toBe(v1.hallName);
      expect(applied?.reasons).toEqual(v1.reasons);
      const publishedAfterV1 = published.length;

      // Valid JSON for the schema, but a window id that cannot be a topic segment.
      await ingest.pushConfig(HALL, { ...v1, version: 2, hallName: 'should not apply', windows: [...v1.windows, { id: 'C/09', name: 'C09' }] });
      await ingest.until(() => state.configError !== null, 10_000, 'config 2 refused');
      expect(state.configError).toMatch(/C\/09/);
      expect(state.configVersion).toBe(1);
      expect(hub.registry.windows.has('C/09')).toBe(false);
      expect(published.length, 'nothing new published to the tablets').toBe(publishedAfterV1);

      // A required field missing: refused by the schema.
      const { staff: _staff, ...noStaff } = v1;
      const previousError = state.configError;
      await ingest.pushConfig(HALL, { ...noStaff, version: 3 });
      await ingest.until(() => state.configError !== previousError, 10_000, 'config 3 refused');
      expect(state.configError).toMatch(/staff/);
      expect(state.configVersion).toBe(1);
      expect(published.length).toBe(publishedAfterV1);
      expect(hub.views.syncStatus().config).toEqual({ version: 1, error: state.configError });
      const versions = hub.store.read((db) => db.prepare('SELECT version FROM hall_config ORDER BY version').all());
      expect(versions).toEqual([{ version: 1 }]);
      expect(hub.registry.windows.get('B07')?.name).toBe('B07 不动产登记');

      // A later valid config is applied again: a refusal does not wedge the channel.
      await ingest.pushConfig(HALL, { ...v1, version: 4, windows: [...v1.windows, { id: 'C09', name: 'C09 社保' }] });
      await ingest.until(() => state.configVersion === 4, 10_000, 'config 4 applied');
      expect(state.configError).toBeNull();
      expect(published.at(-1)?.windows.map((w) => w.id)).toEqual(['A01', 'B07', 'C09']);
    }, 60_000);

    it('the applied config is still in effect after the hub restarts', async () => {
      const { ingest, config } = await setup();
      const first = await runHub(config);
      await connected(first.hub, 10_000, 'the hub to connect');
      await ingest.pushConfig(HALL, v1);
      await ingest.until(() => first.hub.platform!.state.configVersion === 1, 10_000, 'config 1 applied');
      expect(first.hub.registry.windows.has('B07')).toBe(true);
      const statusOf = () => {
        const row = ingest.db.prepare('SELECT payload FROM statuses WHERE hall_id = ?').get(HALL) as { payload: string } | undefined;
        return row ? (JSON.parse(row.payload) as { online: boolean; startedAt?: string }) : undefined;
      };
      const firstStartedAt = statusOf()?.startedAt;
      expect(firstStartedAt).toBeDefined();
      await first.stop();

      const { hub } = await runHub(config);
      await connected(hub, 10_000, 'the restarted hub to connect');
      // Its first status comes after its subscriptions, so the retained config 1 was delivered again.
      await ingest.until(() => statusOf()?.online === true && statusOf()?.startedAt !== firstStartedAt, 10_000, 'the status of the restarted hub');
      expect(hub.platform!.state.configVersion).toBe(1);
      expect(hub.views.syncStatus().config).toEqual({ version: 1, error: null });
      // The version the hub reports is the config it runs: window B07 of config 1.
      expect(hub.registry.windows.get('B07')?.name, 'config 1 windows after a restart').toBe('B07 不动产登记');
    }, 60_000);
  });
});
