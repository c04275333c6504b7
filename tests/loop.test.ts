/**
 * The 差评 loop end to end (PROTOCOL 3 `alerts`, `handling`, `receipts`; 4 `ratingNo`; 5
 * handling and re-rating routes), against a real Mosquitto: one 差评 from the hall tablet is
 * alerted with its deadline, handled step by step by a person with a handler's token, carried
 * through a broker outage and a lost receipt, escalated (督办) when the deadline passes on the
 * hand-moved clock and again by a hub that was down at the next one, rectified, fed back, and
 * closed by the citizen's second rating. A platform subscriber records every `handling` batch
 * and answers with receipts: it must get every step, each first arriving once and in order.
 * Every wait is on an event (an MQTT message, a log line, a sync event) with a deadline.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { parseConfig, type HubConfig } from '../hub/config.js';
import { commitEvaluation } from '../hub/evaluations.js';
import { Hub, type LogEntry } from '../hub/hub.js';
import { hallTopics, platformTopics, type Alert, type Evaluation, type HandlingStep } from '../protocol/index.js';
import { parsePayload } from '../protocol/schemas.js';
import { ManualClock } from '../simulators/manual-clock.js';
import { PlatformIngest } from '../simulators/platform.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { evaluation } from './support/evaluation.js';
import { startMosquitto } from './support/mosquitto.js';
import { waitFor } from './support/processes.js';

const HALL = '430300-001';
const ADMIN = 'loop-test-admin-token-3b7e';
const MS = 15_000;
const cleanups = cleanupsAfterEach();

/** Resolves with the first value `read()` gives that `ok` accepts, re-read on each `event` of `emitter`. */
function when<T>(emitter: { on(e: string, l: () => void): unknown; off(e: string, l: () => void): unknown }, event: string, read: () => T, ok: (v: T) => boolean, what: string): Promise<T> {
  const now = read();
  if (ok(now)) return Promise.resolve(now);
  return waitFor<T>(
    (l) => {
      const listener = () => l(read());
      emitter.on(event, listener);
      return () => emitter.off(event, listener);
    },
    ok,
    MS,
    what,
  );
}

/**
 * The city platform as this test sees it: validates and records every batch on `handling`
 * (each step's first arrival in order, repeats apart), alerts and evaluation batches, and
 * answers each batch with a receipt, except the ones it is told to withhold (a lost receipt).
 */
async function platform(url: string) {
  const seen = new EventEmitter();
  const state = {
    firstArrivals: [] as HandlingStep[],
    repeats: [] as string[],
    handlingBatches: 0,
    alerts: [] as Alert[],
    evaluations: new Map<string, Evaluation>(),
    errors: [] as string[],
    withhold: 0,
  };
  let client: MqttClient | undefined;
  const onMessage = (c: MqttClient, topic: string, payload: Buffer) => {
    try {
      if (topic === platformTopics.handling(HALL)) {
        const batch = parsePayload('handling-batch', JSON.parse(payload.toString()));
        state.handlingBatches++;
        for (const s of batch.items) {
          if (state.firstArrivals.some((f) => f.stepId === s.stepId)) state.repeats.push(s.stepId);
          else state.firstArrivals.push(s);
        }
        if (state.withhold > 0) state.withhold--;
        else c.publish(platformTopics.receipts(HALL), JSON.stringify({ batchId: batch.batchId, accepted: batch.items.map((s) => s.stepId), rejected: [] }), { qos: 1 });
      } else if (topic === platformTopics.alerts(HALL)) {
        state.alerts.push(parsePayload('alert', JSON.parse(payload.toString())));
      } else if (topic === platformTopics.evaluations(HALL)) {
        const batch = parsePayload('batch', JSON.parse(payload.toString()));
        for (const e of batch.items) state.evaluations.set(e.id, e);
        c.publish(platformTopics.receipts(HALL), JSON.stringify({ batchId: batch.batchId, accepted: batch.items.map((e) => e.id), rejected: [] }), { qos: 1 });
      }
    } catch (error) {
      state.errors.push(`${topic}: ${(error as Error).message}`);
    }
    seen.emit('message');
  };
  /** Connects (again, after an outage) and resolves once subscribed. */
  const connect = async () => {
    const c = await mqtt.connectAsync(url, { clientId: `loop-platform-${process.pid}`, reconnectPeriod: 0, connectTimeout: MS });
    c.on('error', () => {});
    c.on('message', (topic, payload) => onMessage(c, topic, payload));
    await c.subscribeAsync([platformTopics.handling(HALL), platformTopics.alerts(HALL), platformTopics.evaluations(HALL)], { qos: 1 });
    client = c;
  };
  await connect();
  cleanups.push(() => client?.endAsync(true));
  const until = <T>(read: () => T, ok: (v: T) => boolean, what: string) => when(seen, 'message', read, ok, what);
  return { state, connect, until };
}

function hubConfig(dataDir: string, platformUrl: string): HubConfig {
  return parseConfig({
    hallId: HALL,
    areaCode: '430300',
    adminToken: ADMIN,
    dataDir,
    http: { port: 0 },
    devices: { discover: { serial: false, hid: false } },
    windows: [{ id: 'A01', name: 'A01 综合受理' }],
    platform: { url: platformUrl },
    sync: { republishAfterS: 3 },
    // a made-up 调休: Friday 4 December off, Saturday 5 December worked
    calendar: { holidays: ['2026-12-04'], workdays: ['2026-12-05'] },
  });
}

describe('the 差评 loop against a real Mosquitto (issue 14)', () => {
  it('one 差评 from alert to second rating: every step at the platform once and in order, through an outage, a lost receipt, 督办 and a restart', async () => {
    const dir = tempDir(cleanups, 'loop');
    const broker = await startMosquitto(dir);
    cleanups.push(() => broker.stop());
    const p = await platform(broker.url);
    // Thursday 3 December 2026, 09:30 China time
    const clock = new ManualClock(Date.parse('2026-12-03T01:30:00Z'));
    const config = hubConfig(join(dir, 'hub'), broker.url);

    /** A hub on the shared clock; its reconnects wait on the clock, moved only while the broker is up. */
    let brokerUp = true;
    let pendingWait = 0;
    const logs = new EventEmitter();
    const entries: LogEntry[] = [];
    const startHub = async () => {
      const hub = new Hub({ config, clock, log: (e) => (entries.push(e), logs.emit('entry')), syncTiming: { reconnectMinMs: 500, reconnectMaxMs: 2000 } });
      await hub.start();
      let stopping: Promise<void> | undefined;
      const stop = () => (stopping ??= hub.stop());
      cleanups.push(stop);
      hub.platform!.on('reconnecting', (wait) => {
        pendingWait = wait;
        if (brokerUp) setImmediate(() => clock.advance(wait));
      });
      return { hub, stop };
    };
    let { hub, stop } = await startHub();
    const connected = (h: Hub) => when(h.platform!, 'connected', () => h.platform!.state.connected, Boolean, 'the hub to connect to the platform');
    await connected(hub);

    const api = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(`http://127.0.0.1:${hub.port}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, json: (await res.json()) as any };
    };
    const handler = (await api('POST', '/api/users', ADMIN, { name: '王科长', role: 'handler' })).json.token as string;
    const step = (name: string, extra: Record<string, unknown> = {}) => api('POST', '/api/evaluations/TAB-01-1/handling', handler, { step: name, ...extra });
    const card = async () => ((await api('GET', '/api/dissatisfied', handler)).json.dissatisfied as any[]).find((d) => d.evaluation.id === 'TAB-01-1');
    const hubSteps = () => hub.store.read((db) => db.prepare(`SELECT step_id AS stepId, step, by, note, at, deadline_at AS deadlineAt, sync_state AS state FROM handling WHERE evaluation_id = 'TAB-01-1' ORDER BY id`).all()) as (HandlingStep & { state: string })[];
    const arrived = (n: number, what: string) => p.until(() => p.state.firstArrivals.length, (k) => k >= n, what);
    const confirmed = (n: number, what: string) => when(hub.platform!, 'stepsConfirmed', () => hubSteps().filter((s) => s.state === 'confirmed').length, (k) => k >= n, what);

    // ---- the 差评: the queue system's transaction with a consented number, rated 非常不满意 on the tablet ----
    const tabletToken = (await api('POST', '/api/devices/TAB-01/pair', ADMIN, { windowId: 'A01' })).json.token as string;
    expect((await api('POST', '/api/windows/A01/service', ADMIN, { event: 'done', txnId: 'T-LOOP-1', matterCode: 'M-BL', matterName: '营业执照变更', contact: '13812345678', contactConsent: true })).status).toBe(202);
    const tablet = await mqtt.connectAsync(`ws://127.0.0.1:${hub.port}/mqtt`, { username: 'TAB-01', password: tabletToken, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: MS });
    cleanups.push(() => tablet.endAsync(true));
    await tablet.subscribeAsync(hallTopics.tablet(HALL, 'TAB-01', 'acks'), { qos: 1 });
    const acked = waitFor<string>((l) => (tablet.on('message', (_t, m) => l(m.toString())), () => tablet.removeAllListeners('message')), (m) => JSON.parse(m).id === 'TAB-01-1', MS, 'the tablet ack');
    const rating = { id: 'TAB-01-1', level: 1, reasons: ['too-many-documents'], comment: '材料要求反复变', txnId: 'T-LOOP-1', windowId: 'A01', evaluatedAt: new Date(clock.now()).toISOString() };
    await tablet.publishAsync(hallTopics.tablet(HALL, 'TAB-01', 'evaluations'), JSON.stringify(rating), { qos: 1 });
    expect(JSON.parse(await acked)).toEqual({ id: 'TAB-01-1', status: 'ok' });

    // ---- the alert, at once, with its deadline: Saturday (调休) and Monday are the 2 working days ----
    const [alert] = await p.until(() => p.state.alerts, (a) => a.length >= 1, 'the alert at the platform');
    expect(alert).toMatchObject({ id: 'TAB-01-1', level: 1, txnId: 'T-LOOP-1', deadlineAt: '2026-12-07T16:00:00.000Z', complex: false });
    expect(await card()).toMatchObject({ deadlineAt: '2026-12-07T16:00:00.000Z', overdue: false, phase: 'new', next: ['acknowledged', 'resolved-on-the-spot'], resolved: false });

    // ---- steps in the order the loop allows; out of order is 409 with the reason ----
    expect(await step('resolved')).toMatchObject({ status: 409, json: { error: { code: 'out-of-order', message: 'resolved before acknowledged: a 差评 is acknowledged (or resolved on the spot) first' } } });
    const ack = await step('acknowledged', { note: '已受理，联系群众核实' });
    expect(ack).toMatchObject({ status: 201, json: { stepId: 'TAB-01-1#1', step: 'acknowledged', by: '王科长', note: '已受理，联系群众核实', deadlineAt: '2026-12-07T16:00:00.000Z', phase: 'working' } });
    expect(await step('acknowledged')).toMatchObject({ status: 409, json: { error: { message: 'the 差评 was acknowledged already' } } });
    await arrived(1, 'acknowledged at the platform');
    await confirmed(1, 'acknowledged confirmed by its receipt');

    // ---- an outage: the broker dies; steps recorded meanwhile wait in the outbox ----
    const gone = when(hub.platform!, 'disconnected', () => hub.platform!.state.connected, (c) => !c, 'the hub to lose the platform');
    brokerUp = false;
    await broker.kill();
    await gone;
    expect((await step('called-back', { note: '电话未接通' })).status).toBe(201);
    expect((await step('handed-over', { note: '转12345热线协办' })).status).toBe(201);
    expect(hubSteps().map((s) => s.state)).toEqual(['confirmed', 'pending', 'pending']);
    await broker.start();
    await p.connect(); // the platform is listening again before the hub comes back
    p.state.withhold = 1; // and the receipt of the first batch after the outage is lost
    brokerUp = true;
    const back = connected(hub);
    clock.advance(pendingWait);
    await back;
    await arrived(3, 'the steps of the outage at the platform');
    await when(hub.platform!, 'stepsSent', () => hubSteps().filter((s) => s.state === 'sent').length, (n) => n === 2, 'the batch PUBACKed, its receipt lost');
    // without a receipt the batch is published again after republishAfterS, and then confirmed
    clock.advance(8_000);
    await confirmed(3, 'the republished steps confirmed');
    expect(p.state.repeats).toEqual(['TAB-01-1#2', 'TAB-01-1#3']);

    // ---- the deadline passes: 督办 by the hub, the card overdue ----
    const escalations = () => entries.filter((e) => e.msg === '差评 past its deadline: escalated').length;
    clock.jump(Date.parse('2026-12-07T16:10:00Z') - clock.now());
    await when(logs, 'entry', escalations, (n) => n === 1, 'the first 督办');
    await arrived(4, '督办 at the platform');
    expect(p.state.firstArrivals[3]).toMatchObject({ stepId: 'TAB-01-1#4', step: 'escalated', by: 'hub', at: '2026-12-07T16:10:00.000Z', deadlineAt: '2026-12-07T16:00:00.000Z' });
    expect(await card()).toMatchObject({ overdue: true, phase: 'working', resolved: false });

    // ---- the hub is down at the end of the next working day: it escalates when it starts ----
    await confirmed(4, '督办 confirmed');
    await stop();
    clock.set(Date.parse('2026-12-08T20:00:00Z')); // Tuesday 04:00 the next night
    ({ hub, stop } = await startHub());
    await when(logs, 'entry', escalations, (n) => n === 2, 'the 督办 of a hub started after the deadline');
    await connected(hub);
    await arrived(5, 'the second 督办 at the platform');
    expect(p.state.firstArrivals[4]).toMatchObject({ stepId: 'TAB-01-1#5', step: 'escalated', by: 'hub', at: '2026-12-08T20:00:00.000Z' });
    expect(p.state.firstArrivals[4]!.note).toMatch(/^第2次督办.*服务器恢复后补记/);

    // ---- rectified, the outcome given, and the citizen's second rating by phone ----
    expect(await api('POST', '/api/evaluations/TAB-01-1/re-rating', handler, { level: 4 })).toMatchObject({ status: 409, json: { error: { message: 'a second rating (评价次数 2) comes only after rectified or feedback-given' } } });
    expect((await step('rectified', { note: '已精简材料清单并培训窗口人员' })).json).toMatchObject({ phase: 'rectified' });
    expect((await step('feedback-given', { note: '已电话告知群众整改结果' })).json).toMatchObject({ phase: 'fed-back' });
    expect(await card()).toMatchObject({ reRatable: true, next: ['called-back', 'handed-over', 'rectified', 'feedback-given', 'resolved'] });
    const second = await api('POST', '/api/evaluations/TAB-01-1/re-rating', handler, { level: 4, comment: '整改后满意' });
    expect(second).toMatchObject({ status: 201, json: { evaluation: { id: 'RE-TAB-01-1', ratingNo: 2, followUpOf: 'TAB-01-1', level: 4, channel: 'phone', txnId: 'T-LOOP-1' }, step: { stepId: 'TAB-01-1#8', step: 're-rated', by: 'hub' } } });
    expect((await api('POST', '/api/evaluations/TAB-01-1/re-rating', handler, { level: 5 })).status, 'once').toBe(409);
    expect((await step('resolved')).status, 'the loop is closed').toBe(409);
    expect(await card()).toMatchObject({ phase: 're-rated', resolved: true, overdue: false, next: [], reRatable: false });
    await arrived(8, 'every step at the platform');
    await confirmed(8, 'every step confirmed');
    await p.until(() => p.state.evaluations.get('RE-TAB-01-1'), Boolean, 'the second rating at the platform');
    expect(p.state.evaluations.get('RE-TAB-01-1')).toMatchObject({ ratingNo: 2, followUpOf: 'TAB-01-1', level: 4 });
    expect(p.state.alerts.map((a) => a.id), 'a second rating is no new alert').toEqual(['TAB-01-1']);

    // ---- the platform got every step, each first arriving once, in the order recorded ----
    const atHub = hubSteps();
    expect(atHub.map((s) => s.step)).toEqual(['acknowledged', 'called-back', 'handed-over', 'escalated', 'escalated', 'rectified', 'feedback-given', 're-rated']);
    expect(atHub.every((s) => s.state === 'confirmed')).toBe(true);
    expect(p.state.firstArrivals.map(({ stepId, step: s, by, note, at, deadlineAt }) => ({ stepId, step: s, by, note, at, deadlineAt }))).toEqual(atHub.map(({ state: _s, ...s }) => s));
    expect(p.state.errors).toEqual([]);
    // the national export: the 办件 as 评价次数 1 and 2
    const exported = (await fetch(`http://127.0.0.1:${hub.port}/api/export?format=gb39046`, { headers: { authorization: `Bearer ${ADMIN}` } }).then((r) => r.text())).trim().split('\r\n');
    expect(exported.slice(1).map((line) => line.split(',').slice(0, 5))).toEqual([
      ['T-LOOP-1', '政务大厅平板电脑', '', '20261203T093000', '1'],
      ['T-LOOP-1', '电话', '', '20261209T040000', '2'],
    ]);
  }, 90_000);

  it('the simulated platform (simulators/platform.ts) stores each step once and answers with receipts', async () => {
    const dir = tempDir(cleanups, 'loop-ingest');
    const broker = await startMosquitto(dir);
    cleanups.push(() => broker.stop());
    const ingest = await PlatformIngest.start({ brokerUrl: broker.url, dbFile: join(dir, 'platform.sqlite') });
    cleanups.push(() => ingest.close());
    const dataDir = join(dir, 'hub');
    const hub = new Hub({ config: hubConfig(dataDir, broker.url) });
    await hub.start();
    cleanups.push(() => hub.stop());
    await hub.store.submit((db) => commitEvaluation(db, evaluation({ id: 'HCP5-LOOP-1', hallId: HALL, level: 2, evaluatedAt: new Date().toISOString() }), { attachWithinMs: 0, misuseWindowMs: 0 }));
    for (const s of ['acknowledged', 'rectified', 'feedback-given', 'resolved'] as const) expect((await hub.recordHandling('HCP5-LOOP-1', { step: s, note: null, complex: false }, '李主任')).ok).toBe(true);
    const confirmedAll = () => hub.store.read((db) => (db.prepare(`SELECT COUNT(*) AS n FROM handling WHERE sync_state = 'confirmed'`).get() as { n: number }).n);
    await when(hub.platform!, 'stepsConfirmed', confirmedAll, (n) => n === 4, 'the steps confirmed by the simulated platform');
    const atPlatform = ingest.db.prepare('SELECT step_id AS stepId, step, repeats FROM steps ORDER BY rowid').all();
    expect(atPlatform).toEqual(['acknowledged', 'rectified', 'feedback-given', 'resolved'].map((step, i) => ({ stepId: `HCP5-LOOP-1#${i + 1}`, step, repeats: 0 })));
    expect(ingest.counts).toMatchObject({ steps: 4, stepRepeats: 0, malformed: 0 });
  }, 30_000);
});
