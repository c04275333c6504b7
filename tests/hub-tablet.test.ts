/**
 * The hall tablet's side of the hub (PROTOCOL 2): login with the paired token, the tablet ACL,
 * the retained config and session, and evaluations over MQTT-over-WebSocket, acknowledged
 * (PUBACK and the ack message) only after the commit.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../hub/config.js';
import { Hub } from '../hub/hub.js';
import type { Db } from '../hub/store.js';
import { hallTopics } from '../protocol/index.js';
import { parsePayload } from '../protocol/schemas.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { waitFor } from './support/processes.js';

const ADMIN = 'tablet-test-admin-token';
const HALL = '430300-001';
const topic = (tabletId: string, leaf: 'session' | 'evaluations' | 'acks') => hallTopics.tablet(HALL, tabletId, leaf);
const DEADLINE_MS = 5000;

const cleanups = cleanupsAfterEach();
let hub: Hub;
let token: string;

beforeEach(async () => {
  const dir = tempDir(cleanups, 'hub-tablet');
  const windows = [{ id: 'A01', name: 'A01 综合受理' }, { id: 'A02', name: 'A02 不动产登记' }];
  const config = parseConfig({ hallId: HALL, hallName: '湘潭市政务服务中心', areaCode: '430300', dataDir: dir, adminToken: ADMIN, http: { host: '127.0.0.1', port: 0 }, devices: { discover: { serial: false, hid: false } }, windows });
  hub = new Hub({ config });
  await hub.start();
  cleanups.push(() => hub.stop());
  token = (await api('POST', '/api/devices/TAB-01/pair', { windowId: 'A01' })).token as string;
});

/** JSON answers and payloads, checked field by field. */
type Json = any;

async function api(method: string, path: string, body?: unknown): Promise<Json> {
  const res = await fetch(`http://127.0.0.1:${hub.port}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as Json;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** A payload as JSON, or as text when it is not JSON. */
function decode(payload: Buffer | string): Json {
  try {
    return JSON.parse(payload.toString());
  } catch {
    return payload.toString();
  }
}

interface Received {
  topic: string;
  json: Json;
  retain: boolean;
}

/** A connected tablet that records what it receives and waits for it with a deadline. */
async function tablet(id = 'TAB-01', password = token) {
  const client = await mqtt.connectAsync(`ws://127.0.0.1:${hub.port}/mqtt`, { username: id, password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: DEADLINE_MS });
  cleanups.push(() => client.endAsync(true));
  const seen: Received[] = [];
  const listeners = new Set<(m: Received) => void>();
  client.on('message', (t, payload, packet) => {
    const m = { topic: t, json: decode(payload), retain: packet.retain };
    seen.push(m);
    for (const l of listeners) l(m);
  });
  const next = (predicate: (m: Received) => boolean, what: string): Promise<Received> => {
    const already = seen.find(predicate);
    if (already) return Promise.resolve(already);
    return waitFor((l) => (listeners.add(l), () => listeners.delete(l)), predicate, DEADLINE_MS, what);
  };
  const ack = (id: string) => next((m) => m.topic === topic('TAB-01', 'acks') && m.json.id === id, `the ack of ${id}`);
  return { client, seen, next, ack };
}

/** A hub-side observer of a topic: every message the broker routes there. */
function observe(filter: string): Promise<{ seen: Received[]; next: (what: string, predicate: (m: Received) => boolean) => Promise<Received> }> {
  const seen: Received[] = [];
  const listeners = new Set<(m: Received) => void>();
  return new Promise((resolve) => {
    hub.broker.aedes.subscribe(
      filter,
      (packet, cb) => {
        const m = { topic: packet.topic, json: decode(packet.payload), retain: packet.retain };
        seen.push(m);
        for (const l of listeners) l(m);
        cb();
      },
      () => resolve({ seen, next: (what, predicate) => waitFor((l) => (listeners.add(l), () => listeners.delete(l)), predicate, DEADLINE_MS, what) }),
    );
  });
}

function evaluation(counter: number, patch: Record<string, unknown> = {}) {
  return { id: `TAB-01-${counter}`, level: 2, reasons: ['attitude'], comment: '等太久', evaluatedAt: new Date().toISOString(), txnId: 'T-1', ...patch };
}

/** Holds the hub's store writes until `release()`; `reached` resolves when one is submitted. */
function holdWrites() {
  const store = hub.store;
  const submit = store.submit.bind(store);
  let release!: () => void;
  let reach!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const reached = new Promise<void>((resolve) => (reach = resolve));
  store.submit = <T>(write: (db: Db) => T): Promise<T> => {
    reach();
    return released.then(() => submit(write));
  };
  return {
    reached,
    release: () => {
      store.submit = submit;
      release();
    },
  };
}

/** The granted QoS codes of one SUBACK (mqtt.js rejects on 128 but keeps the packet), or the error. */
async function suback(client: MqttClient, filter: string): Promise<number[] | string> {
  try {
    return (await client.subscribeAsync(filter, { qos: 1 })).map((g) => g.qos);
  } catch (error) {
    return (error as { packet?: { granted?: number[] } }).packet?.granted ?? (error as Error).message;
  }
}
const publish = (client: MqttClient, payload: unknown) => client.publishAsync(topic('TAB-01', 'evaluations'), typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 });

describe('tablet login and ACL (PROTOCOL 2)', () => {
  it('refuses a wrong token, an unknown tablet and a replaced token; accepts the paired one', async () => {
    const refused = (id: string, password: string) =>
      expect(mqtt.connectAsync(`ws://127.0.0.1:${hub.port}/mqtt`, { username: id, password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: DEADLINE_MS })).rejects.toThrow(/bad user ?name or password|not authori[sz]ed/i);
    await refused('TAB-01', 'not-the-token');
    await refused('TAB-99', token);
    const fresh = (await api('POST', '/api/devices/TAB-01/pair', { windowId: 'A01' })).token as string;
    await refused('TAB-01', token);
    expect(hub.broker.refusals.login).toBe(3);
    const { client } = await tablet('TAB-01', fresh);
    expect(client.connected).toBe(true);
    const listed = (await api('GET', '/api/devices')).devices as Json[];
    expect(listed.find((d) => d.deviceId === 'TAB-01')).toMatchObject({ kind: 'tablet', online: true, windowId: 'A01' });
    expect((await api('GET', '/api/health')).devices).toEqual({ online: 1, total: 1 });
  });

  it('delivers the retained public config', async () => {
    const t = await tablet();
    await t.client.subscribeAsync(hallTopics.publicFilter(HALL), { qos: 1 });
    const { json, retain } = await t.next((m) => m.topic === hallTopics.publicConfig(HALL), 'the public config');
    expect(retain).toBe(true);
    const config = parsePayload('public-config', json);
    expect(config).toMatchObject({ hallId: HALL, hallName: '湘潭市政务服务中心', complaintPhone: '12345', windows: [{ id: 'A01', name: 'A01 综合受理' }, { id: 'A02', name: 'A02 不动产登记' }] });
    expect(config.reasons.map((r) => r.code)).toContain('attitude');
  });

  it('refuses subscriptions outside its own root and public/ with SUBACK 128, and stays connected', async () => {
    await api('POST', '/api/devices/TAB-02/pair', { windowId: 'A02' });
    const t = await tablet();
    const forbidden = [hallTopics.tabletFilter(HALL, 'TAB-02'), `hall/${HALL}/#`, '#', `hall/${HALL}/tablets/+/session`];
    for (const filter of forbidden) expect(await suback(t.client, filter), filter).toEqual([128]);
    expect(hub.broker.refusals.subscribe).toBe(forbidden.length);
    expect(await suback(t.client, hallTopics.tabletFilter(HALL, 'TAB-01'))).toEqual([1]);
    await api('POST', '/api/windows/A02/service', { event: 'done', txnId: 'T-A02' });
    await api('POST', '/api/windows/A01/service', { event: 'done', txnId: 'T-A01' });
    await t.next((m) => m.json.txnId === 'T-A01', 'its own session');
    expect(t.seen.map((m) => m.topic)).toEqual([topic('TAB-01', 'session')]);
  });

  it('refuses publishing outside its root: nothing reaches another tablet or the public config', async () => {
    await api('POST', '/api/devices/TAB-02/pair', { windowId: 'A02' });
    const watcher = await observe(`hall/${HALL}/#`);
    const forged = [
      [topic('TAB-02', 'evaluations'), JSON.stringify({ ...evaluation(1), id: 'TAB-02-1' })],
      [hallTopics.publicConfig(HALL), JSON.stringify({ hallId: HALL, hallName: 'forged' })],
    ] as const;
    for (const [target, payload] of forged) {
      const t = await tablet();
      // The broker either drops the connection or never routes the message; a PUBACK alone proves nothing.
      const refused = new Promise<void>((resolve) => {
        t.client.once('close', () => resolve());
        t.client.publishAsync(target, payload, { qos: 1 }).then(() => resolve(), () => resolve());
      });
      await waitFor((l) => (void refused.then(l), () => {}), () => true, DEADLINE_MS, `the broker's answer to a publish on ${target}`);
    }
    expect(hub.broker.refusals.publish).toBe(forged.length);
    // A probe published after the refusals passes through the same broker queue behind them.
    hub.broker.publish(topic('TAB-02', 'session'), { probe: true }, false);
    await watcher.next('the probe', (m) => m.json.probe === true);
    expect(watcher.seen.filter((m) => m.topic === topic('TAB-02', 'evaluations') || m.json.hallName === 'forged')).toEqual([]);
    expect((await api('GET', '/api/evaluations')).evaluations).toEqual([]);
    const later = await tablet();
    await later.client.subscribeAsync(hallTopics.publicConfig(HALL), { qos: 1 });
    expect((await later.next((m) => m.topic === hallTopics.publicConfig(HALL), 'the retained config')).json.hallName).toBe('湘潭市政务服务中心');
  });
});

describe('tablet sessions and evaluations', () => {
  it('offers the done transaction as the retained session', async () => {
    await api('PUT', '/api/windows/A01/staff', { duty: 'on', staffId: 'S001', staffName: '李娜' });
    await api('POST', '/api/windows/A01/service', { event: 'done', txnId: 'T-1', matterCode: 'M-ID', matterName: '居民身份证换领' });
    const t = await tablet();
    await t.client.subscribeAsync(topic('TAB-01', 'session'), { qos: 1 });
    const { json, retain } = await t.next((m) => m.topic === topic('TAB-01', 'session'), 'the retained session');
    expect(retain).toBe(true);
    expect(parsePayload('tablet-session', json)).toEqual({ txnId: 'T-1', windowId: 'A01', staffId: 'S001', staffName: '李娜', matterCode: 'M-ID', matterName: '居民身份证换领', offeredAt: expect.any(String) });
    await api('POST', '/api/windows/A01/service', { event: 'cancelled', txnId: 'T-1' });
    expect((await t.next((m) => m.topic === topic('TAB-01', 'session') && Object.keys(m.json).length === 0, 'the cleared session')).json).toEqual({});
  });

  it('commits before PUBACK, acks ok, then duplicate and rejected, and clears the session', async () => {
    await api('PUT', '/api/windows/A01/staff', { duty: 'on', staffId: 'S001', staffName: '李娜' });
    await api('POST', '/api/windows/A01/service', { event: 'done', txnId: 'T-1', matterName: '居民身份证换领' });
    const t = await tablet();
    await t.client.subscribeAsync(hallTopics.tabletFilter(HALL, 'TAB-01'), { qos: 1 });
    await t.next((m) => m.topic === topic('TAB-01', 'session') && m.json.txnId === 'T-1', 'the session of T-1');

    const first = evaluation(1);
    // PROTOCOL 2: PUBACK only after the commit. Hold the hub's writes: no PUBACK may come while
    // the commit waits, and the row is there the moment publishAsync resolves.
    const held = holdWrites();
    let atPuback: string[] | undefined;
    const puback = publish(t.client, first).then(() => (atPuback = hub.views.evaluations({ limit: 10 }).map((e) => e.id)));
    await held.reached;
    await api('GET', '/api/health'); // a round trip: an early PUBACK, already written, would be read by now
    expect(atPuback).toBeUndefined();
    held.release();
    await puback;
    expect(atPuback).toEqual([first.id]);
    expect(parsePayload('tablet-ack', (await t.ack(first.id)).json)).toEqual({ id: first.id, status: 'ok' });
    const [row] = (await api('GET', '/api/evaluations')).evaluations as Json[];
    expect(row).toMatchObject({ id: first.id, channel: 'tablet', origin: 'tablet', level: 2, reasons: ['attitude'], comment: '等太久', txnId: 'T-1', windowId: 'A01', staffId: 'S001', staffName: '李娜', matterName: '居民身份证换领', deviceId: 'TAB-01', status: 'accepted' });
    expect(row.evaluatedAt).toBe(first.evaluatedAt);
    await t.next((m) => m.topic === topic('TAB-01', 'session') && Object.keys(m.json).length === 0, 'the session cleared to {}');

    t.seen.length = 0;
    await publish(t.client, first);
    expect((await t.ack(first.id)).json).toEqual({ id: first.id, status: 'duplicate' });
    const second = evaluation(2, { level: 5, reasons: [], comment: '' });
    await publish(t.client, second);
    expect((await t.ack(second.id)).json).toEqual({ id: second.id, status: 'rejected', reason: 'already-evaluated' });

    const rows = (await api('GET', '/api/evaluations')).evaluations as Json[];
    expect(rows.map((e) => [e.id, e.status])).toEqual([[second.id, 'refused'], [first.id, 'accepted']]);
    const stats = await api('GET', `/api/stats?from=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`);
    expect(stats.groups).toEqual([expect.objectContaining({ key: 'A01', rated: 1, dissatisfied: 1, levels: { '1': 0, '2': 1, '3': 0, '4': 0, '5': 0 } })]);
  });

  it('rejects malformed JSON, a bad field and a foreign id with an ack, and keeps serving', async () => {
    const t = await tablet();
    await t.client.subscribeAsync(topic('TAB-01', 'acks'), { qos: 1 });
    await publish(t.client, '{"id": "TAB-01-7", "level": ');
    const malformed = await t.next((m) => m.json.status === 'rejected', 'the ack of malformed JSON');
    expect(malformed.json.reason).toMatch(/malformed JSON/);
    await publish(t.client, evaluation(8, { level: 7, txnId: null }));
    expect((await t.ack('TAB-01-8')).json).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/level/) });
    await publish(t.client, evaluation(9, { id: 'TAB-02-9', txnId: null }));
    expect((await t.next((m) => m.json.id === 'TAB-02-9', 'the ack of a foreign id')).json).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/id/) });
    expect(hub.broker.refusals.payload).toBe(3);
    expect((await api('GET', '/api/evaluations')).evaluations).toEqual([]);

    await publish(t.client, evaluation(10, { level: 4, txnId: null }));
    expect((await t.ack('TAB-01-10')).json).toEqual({ id: 'TAB-01-10', status: 'ok' });
    expect(t.client.connected).toBe(true);
    expect(((await api('GET', '/api/evaluations')).evaluations as Json[]).map((e) => e.id)).toEqual(['TAB-01-10']);
    expect((await api('GET', '/api/health')).ok).toBe(true);
  });
});
