/**
 * The hub tried as an attacker and a careless installer would (issue "Trust"): each finding is
 * a test here. Tablets over MQTT-WebSocket and an evaluator over a memory pipe against an
 * in-process hub; what is about the process itself (a request that would end it, a second hub
 * on one data directory, throttling seen from outside) against a real hub process.
 */
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { connect } from 'node:net';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../hub/config.js';
import { Hub } from '../hub/hub.js';
import type { LogEntry } from '../hub/log.js';
import { AckReason, AckStatus, hallTopics, type Packet } from '../protocol/index.js';
import { bytePipePair } from '../simulators/memory-link.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { apiCall, DevicePeer, startHub, ADMIN_TOKEN } from './support/hub.js';
import { runTs, waitFor } from './support/processes.js';

const cleanups = cleanupsAfterEach();
const HALL = '430300-001';
const ADMIN = 'hostile-test-admin-token';
const PHONE = '13812345678';
const DEADLINE_MS = 5000;
type Json = any;

describe('an in-process hub with a tablet and an evaluator', () => {
  let hub: Hub;
  let dir: string;
  let token: string;
  let logs: LogEntry[];
  let device: DevicePeer;

  beforeEach(async () => {
    dir = tempDir(cleanups, 'hostile');
    logs = [];
    const windows = [
      { id: 'A01', name: 'A01 综合受理', deviceId: 'EV-A01' },
      { id: 'B01', name: 'B01 不动产登记' },
    ];
    hub = new Hub({ config: parseConfig({ hallId: HALL, areaCode: '430300', dataDir: dir, adminToken: ADMIN, http: { host: '127.0.0.1', port: 0 }, devices: { discover: { serial: false, hid: false } }, windows }), log: (e) => logs.push(e) });
    await hub.start();
    cleanups.push(() => hub.stop());
    token = (await api('POST', '/api/devices/TAB-01/pair', { windowId: 'A01' })).json.token;
    const pipe = bytePipePair('hostile');
    device = new DevicePeer(pipe.a, 'EV-A01');
    await pipe.a.open();
    await hub.attach(pipe.b, 'mem-A01');
    await device.hello();
    await api('PUT', '/api/windows/A01/staff', { duty: 'on', staffId: 'S-A', staffName: '李明' });
    await api('PUT', '/api/windows/B01/staff', { duty: 'on', staffId: 'S-B', staffName: '王芳' });
  });

  const api = (method: string, path: string, body?: unknown, auth = `Bearer ${ADMIN}`) => apiCall(`http://127.0.0.1:${hub.port}`, method, path, body, auth);

  async function tablet(id = 'TAB-01', password = token) {
    const client = await mqtt.connectAsync(`ws://127.0.0.1:${hub.port}/mqtt`, { username: id, password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: DEADLINE_MS });
    cleanups.push(() => client.endAsync(true));
    const acks: Json[] = [];
    const listeners = new Set<(a: Json) => void>();
    client.on('message', (_topic, payload) => {
      const a = JSON.parse(payload.toString());
      acks.push(a);
      for (const l of listeners) l(a);
    });
    await client.subscribeAsync(hallTopics.tablet(HALL, id, 'acks'), { qos: 1 });
    const ackOf = (evaluationId: string) => {
      const seen = acks.find((a) => a.id === evaluationId);
      return seen ? Promise.resolve(seen) : waitFor<Json>((l) => (listeners.add(l), () => listeners.delete(l)), (a) => a.id === evaluationId, DEADLINE_MS, `the ack of ${evaluationId}`);
    };
    const rate = async (fields: Record<string, unknown>) => {
      const ack = ackOf(String(fields['id']));
      await client.publishAsync(hallTopics.tablet(HALL, id, 'evaluations'), JSON.stringify({ level: 5, evaluatedAt: new Date().toISOString(), ...fields }), { qos: 1 });
      return ack;
    };
    return { client, rate };
  }

  const rows = (sql: string, ...params: unknown[]) => hub.store.read((db) => db.prepare(sql).all(...params)) as Json[];
  const done = (windowId: string, txnId: string) => api('POST', `/api/windows/${windowId}/service`, { event: 'done', txnId, matterCode: 'M1', matterName: '营业执照' });

  it("a tablet cannot rate another window, another clerk or a transaction it was not offered: refused with the reason, nothing counted", async () => {
    await done('B01', 'T-B-1');
    await done('A01', 'T-A-1');
    const t = await tablet();
    expect(await t.rate({ id: 'TAB-01-1', txnId: 'T-A-1', windowId: 'B01' })).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/^window-mismatch/) });
    expect(await t.rate({ id: 'TAB-01-2', txnId: 'T-B-1' })).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/^unknown-transaction/) });
    expect(await t.rate({ id: 'TAB-01-3', txnId: 'T-NEVER' })).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/^unknown-transaction/) });
    expect(await t.rate({ id: 'TAB-01-4', txnId: 'T-A-1', staffId: 'S-B', level: 1 })).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/^staff-mismatch/) });
    expect(rows(`SELECT id FROM evaluations`)).toEqual([]);
    // B01's transaction is still unrated; the right rating at A01 is taken, charged to A01's clerk
    expect(await t.rate({ id: 'TAB-01-5', txnId: 'T-A-1', windowId: 'A01', level: 2 })).toMatchObject({ status: 'ok' });
    expect(rows(`SELECT id, window_id, staff_id, txn_id FROM evaluations`)).toEqual([{ id: 'TAB-01-5', window_id: 'A01', staff_id: 'S-A', txn_id: 'T-A-1' }]);
    expect(rows(`SELECT rated_by FROM transactions WHERE txn_id = 'T-B-1'`)).toEqual([{ rated_by: null }]);
    expect(rows(`SELECT COUNT(*) AS n FROM rejections`)[0].n).toBe(4);
  });

  it('a txnId over 64 UTF-8 bytes is refused at every entrance, never cut', async () => {
    const long = '办'.repeat(22); // 66 bytes, 22 characters
    const r = await done('A01', long);
    expect(r.status).toBe(400);
    expect(r.json.error.message).toMatch(/txnId: .*64 UTF-8 bytes/);
    const t = await tablet();
    expect(await t.rate({ id: 'TAB-01-1', txnId: long })).toMatchObject({ status: 'rejected' });
    expect((await done('A01', '办'.repeat(21))).status).toBe(202); // 63 bytes
  });

  it('a tablet rating stops the evaluator prompting; its later EVAL of the transaction, level 0 included, is refused (ACK 2/1)', async () => {
    const service = device.next((p: Packet) => p.message.type === 'SERVICE' && p.message.event === 2, DEADLINE_MS, 'SERVICE done');
    await done('A01', 'T-1');
    await service;
    const cancelled = device.next((p: Packet) => p.message.type === 'SERVICE' && p.message.event === 3 && p.message.txnId === 'T-1', DEADLINE_MS, 'SERVICE cancelled for T-1');
    const t = await tablet();
    expect(await t.rate({ id: 'TAB-01-1', txnId: 'T-1', level: 4 })).toMatchObject({ status: 'ok' });
    await cancelled;
    expect(await device.evaluate({ counter: 1, level: 0, txnId: 'T-1' })).toMatchObject({ status: AckStatus.REJECTED, reason: AckReason.ALREADY_EVALUATED });
    expect(await device.evaluate({ counter: 2, level: 5, txnId: 'T-1' })).toMatchObject({ status: AckStatus.REJECTED, reason: AckReason.ALREADY_EVALUATED });
    expect(rows(`SELECT id, status FROM evaluations WHERE txn_id = 'T-1' ORDER BY id`)).toEqual([
      { id: 'EV-A01-1', status: 'refused' },
      { id: 'EV-A01-2', status: 'refused' },
      { id: 'TAB-01-1', status: 'accepted' },
    ]);
  });

  it('a level 0 never takes a transaction: not attached by the empty-txnId rule, superseded by a later rating, out of counts and the national export', async () => {
    await done('A01', 'T-2');
    // a prompt timed out without txnId (staff key): it must not be attached to T-2
    expect(await device.evaluate({ counter: 1, level: 0, origin: 2 })).toMatchObject({ status: AckStatus.OK });
    expect(rows(`SELECT txn_id FROM evaluations WHERE id = 'EV-A01-1'`)).toEqual([{ txn_id: null }]);
    // the prompt of T-2 timed out: recorded, then the citizen rates T-2 on the tablet
    expect(await device.evaluate({ counter: 2, level: 0, txnId: 'T-2' })).toMatchObject({ status: AckStatus.OK });
    const t = await tablet();
    expect(await t.rate({ id: 'TAB-01-1', txnId: 'T-2', level: 1 })).toMatchObject({ status: 'ok' });
    expect(rows(`SELECT superseded_by FROM evaluations WHERE id = 'EV-A01-2'`)).toEqual([{ superseded_by: 'TAB-01-1' }]);
    const stats = (await api('GET', '/api/stats?by=window&from=2000-01-01T00:00:00Z')).json.groups as Json[];
    expect(stats.find((g) => g.key === 'A01')).toMatchObject({ rated: 1, notEvaluated: 1, dissatisfied: 1 }); // EV-A01-1 only
    const csv = (await api('GET', '/api/export?format=gb39046&from=2000-01-01T00:00:00Z')).json as string;
    expect(csv.split('\r\n').filter((l) => l.startsWith('T-2,'))).toHaveLength(1);
  });

  it('misuse-flagged presses stay out of the national export', async () => {
    expect(await device.evaluate({ counter: 1, level: 5, origin: 3 })).toMatchObject({ status: AckStatus.OK });
    expect(await device.evaluate({ counter: 2, level: 5, origin: 3 })).toMatchObject({ status: AckStatus.OK });
    expect(rows(`SELECT id FROM evaluations WHERE flags LIKE '%misuse%'`)).toEqual([{ id: 'EV-A01-2' }]);
    const csv = (await api('GET', '/api/export?format=gb39046&from=2000-01-01T00:00:00Z')).json as string;
    expect(csv.trim().split('\r\n')).toHaveLength(2); // the header and the first press
  });

  const helloOf = (deviceId: string) => ({ type: 'HELLO' as const, deviceId, model: 'TEST', fwVersion: '9.9.9', protoVersion: 1, capabilities: 0x27, bootCount: 1, nextCounter: 1, queued: 0 });
  async function secondPort(name: string, deviceId: string): Promise<DevicePeer> {
    const pipe = bytePipePair(name);
    const peer = new DevicePeer(pipe.a, deviceId);
    await pipe.a.open();
    await hub.attach(pipe.b, name);
    cleanups.push(() => peer.close().catch(() => {}));
    return peer;
  }
  const logged = (msg: string) => {
    const seen = logs.find((e) => e.msg === msg);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogEntry>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log "${msg}"`)), DEADLINE_MS);
      const push = logs.push.bind(logs);
      logs.push = (...entries: LogEntry[]) => {
        const n = push(...entries);
        const found = entries.find((e) => e.msg === msg);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
        return n;
      };
    });
  };

  it('a second device saying HELLO with an id online on another port is refused, shown as a conflict, and loses nothing', async () => {
    const impostor = await secondPort('mem-second', 'EV-A01');
    const conflict = logged('device id already online on another port: refused');
    await impostor.raw(Uint8Array.of(0));
    await impostor.send(helloOf('EV-A01'));
    expect(await conflict).toMatchObject({ deviceId: 'EV-A01', other: 'mem-A01' });
    // its press is kept on the device (ACK 2/3), never answered "duplicate"
    expect(await impostor.evaluate({ counter: 1, level: 3 })).toMatchObject({ status: AckStatus.REJECTED, reason: AckReason.NOT_PAIRED });
    expect(impostor.received.some((p) => p.message.type === 'WELCOME')).toBe(false);
    // the real device goes on: its own counter 1 is stored, not taken for a repeat
    expect(await device.evaluate({ counter: 1, level: 5 })).toMatchObject({ status: AckStatus.OK });
    const listed = (await api('GET', '/api/devices')).json.devices.find((d: Json) => d.deviceId === 'EV-A01');
    expect(listed.conflict).toBe('mem-A01');
  });

  it('a flood of HELLOs with fresh ids on one port records a few, logs one line, and the other device is served', async () => {
    const flood = await secondPort('mem-flood', 'X');
    await flood.raw(Uint8Array.of(0));
    for (let i = 0; i < 40; i++) await flood.send(helloOf(`FLOOD-${i}`));
    expect(await device.evaluate({ counter: 1, level: 4 })).toMatchObject({ status: AckStatus.OK });
    await logged('HELLO flood: new device ids ignored on this port');
    const pending = (await api('GET', '/api/devices')).json.devices.filter((d: Json) => String(d.deviceId).startsWith('FLOOD-'));
    expect(pending.length).toBeLessThanOrEqual(3);
    expect(logs.filter((e) => e.msg === 'HELLO flood: new device ids ignored on this port')).toHaveLength(1);
  });

  it('rating ids are exactly {tabletId}-{positive integer}: TAB-01 cannot take TAB-01-2\'s ids', async () => {
    await api('POST', '/api/devices/TAB-01-2/pair', { windowId: 'B01' });
    const t = await tablet();
    for (const id of ['TAB-01-2-5', 'TAB-01-0', 'TAB-01-x', 'TAB-01-', 'TAB-02-1', 'TAB-01-01']) expect(await t.rate({ id }), id).toMatchObject({ status: 'rejected' });
    expect(rows(`SELECT id FROM evaluations`)).toEqual([]);
  });

  it('unpairing or pairing a tablet again ends its MQTT session at once', async () => {
    const t = await tablet();
    const closed = new Promise<void>((resolve) => t.client.once('close', () => resolve()));
    const repaired = await api('POST', '/api/devices/TAB-01/pair', { windowId: 'A01' });
    await closed;
    await expect(tablet('TAB-01', token)).rejects.toThrow(); // the old token is gone
    const again = await tablet('TAB-01', repaired.json.token);
    const closedAgain = new Promise<void>((resolve) => again.client.once('close', () => resolve()));
    expect((await api('DELETE', '/api/devices/TAB-01/pair')).status).toBe(200);
    await closedAgain;
  });

  it('a tablet may not publish retained messages', async () => {
    const t = await tablet();
    const closed = new Promise<void>((resolve) => t.client.once('close', () => resolve()));
    t.client.publish(hallTopics.tablet(HALL, 'TAB-01', 'evaluations'), JSON.stringify({ id: 'TAB-01-1', level: 5, evaluatedAt: new Date().toISOString() }), { qos: 1, retain: true });
    await closed; // MQTT 3.1.1 has no refusal code for a publish: the broker closes the connection
    expect(rows(`SELECT id FROM evaluations`)).toEqual([]);
    expect(hub.broker.refusals.publish).toBeGreaterThanOrEqual(1);
  });

  it('no phone number is kept or logged but the consented one: refused payloads, suggestions, parse errors, a contact without consent', async () => {
    const t = await tablet();
    expect(await t.rate({ id: 'TAB-01-1', level: 2, contact: PHONE })).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/consent/) });
    const malformed = new Promise<Json>((resolve) => t.client.on('message', (_t, p) => resolve(JSON.parse(p.toString()))));
    await t.client.publishAsync(hallTopics.tablet(HALL, 'TAB-01', 'evaluations'), `{"id":"TAB-01-2","contact":"${PHONE}",`, { qos: 1 });
    await malformed;
    await t.client.publishAsync(hallTopics.tablet(HALL, 'TAB-01', 'suggestions'), JSON.stringify({ text: `请回电 ${PHONE}`, contact: PHONE }), { qos: 1 });
    expect(await t.rate({ id: 'TAB-01-3', level: 2, contact: PHONE, consent: true })).toMatchObject({ status: 'ok' });
    const everything = JSON.stringify([rows('SELECT * FROM rejections'), rows('SELECT * FROM suggestions'), rows('SELECT * FROM audit'), rows(`SELECT * FROM evaluations WHERE id <> 'TAB-01-3'`), logs]);
    expect(everything).not.toContain(PHONE);
    expect(rows('SELECT text FROM suggestions')).toEqual([{ text: '请回电 1**********' }]);
    expect(rows(`SELECT contact, consent FROM evaluations WHERE id = 'TAB-01-3'`)).toEqual([{ contact: PHONE, consent: 1 }]);
    // the API shows it masked
    expect(JSON.stringify((await api('GET', '/api/evaluations')).json)).not.toContain(PHONE);
  });

  it('request-chosen keys are own-property lookups: by=constructor, __proto__, toString are 400', async () => {
    for (const by of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const r = await api('GET', `/api/stats?by=${by}`);
      expect(r.status, by).toBe(400);
      expect(r.json.error.code).toBe('invalid-field');
    }
  });

  it('auth: "bearer" in any case, wrong tokens slowed down and logged once per burst, staff pages not frameable', async () => {
    expect((await api('GET', '/api/devices', undefined, `bearer ${ADMIN}`)).status).toBe(200);
    expect((await api('GET', '/api/devices', undefined, `BEARER ${ADMIN}`)).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await api('GET', '/api/devices', undefined, `Bearer wrong-${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    expect((await api('GET', '/api/devices')).status).toBe(429); // the address waits, whatever it sends
    expect(logs.filter((e) => e.msg === 'wrong tokens: address slowed down')).toHaveLength(1);
    for (const page of ['/tech', '/dashboard', '/tablet']) {
      const res = await fetch(`http://127.0.0.1:${hub.port}${page}`);
      expect(res.headers.get('x-frame-options'), page).toBe('DENY');
      expect(res.headers.get('content-security-policy'), page).toContain("frame-ancestors 'none'");
    }
  });

  it('the client sees the 413 of an oversized body, declared or not', async () => {
    const declared = await new Promise<string>((resolve, reject) => {
      const socket = connect(hub.port, '127.0.0.1');
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', (error) => (text ? resolve(text) : reject(error)));
      const body = 'x'.repeat(512 * 1024);
      socket.write(`POST /api/windows/A01/service HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
      socket.write(body);
    });
    expect(declared).toMatch(/^HTTP\/1.1 413/);
    // and an HTTP client that sends the whole body before reading gets the answer, not a reset
    const viaFetch = await api('POST', '/api/windows/A01/service', { event: 'done', txnId: 'T', matterName: 'x'.repeat(4 * 1024 * 1024) });
    expect(viaFetch.status).toBe(413);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(hub.port, '127.0.0.1');
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
      socket.write(`POST /api/windows/A01/service HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
      const chunk = 'x'.repeat(32 * 1024);
      for (let i = 0; i < 4; i++) socket.write(`${(chunk.length).toString(16)}\r\n${chunk}\r\n`);
      socket.end('0\r\n\r\n');
    });
    expect(answer).toMatch(/^HTTP\/1.1 413/);
    expect(answer).toContain('body-too-large');
  });
});

describe('a hub process', () => {
  async function hubProcess(extra: Record<string, unknown> = {}) {
    const d = tempDir(cleanups, 'hostile-proc');
    const hub = await startHub(d, { hallId: HALL, windows: [{ id: 'A01' }], ...extra });
    cleanups.push(() => {
      if (hub.proc.child.exitCode === null) hub.proc.child.kill('SIGKILL');
    });
    return { hub, dir: d };
  }

  /** Sends raw bytes and resolves with what came back before the server closed (or 2 s passed). */
  function raw(port: number, bytes: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      const timer = setTimeout(() => socket.destroy(), 2000);
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(text);
      });
      socket.on('error', () => {});
      socket.write(bytes);
    });
  }

  it('requests that do not parse never end the process: an upgrade on //, a bad request line, a bad escape', async () => {
    const { hub } = await hubProcess();
    const upgrade = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    const answers = [];
    for (const bytes of [upgrade('//'), upgrade('http://x/mqtt'), upgrade('/%zz'), upgrade('/elsewhere'), 'GET // HTTP/1.1\r\nHost: x\r\n\r\n', 'NONSENSE\r\n\r\n', 'GET /api/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n']) {
      answers.push(await raw(hub.port, bytes));
    }
    for (const a of answers) expect(a).toMatch(/^HTTP\/1.1 4\d\d/);
    expect(answers.join('\n')).not.toMatch(/\n\s+at /); // no stack trace
    expect(hub.proc.child.exitCode).toBeNull();
    expect((await hub.api('GET', '/api/health')).status).toBe(200);
  });

  it('a second hub on the same data directory is refused with one line; the first keeps running', async () => {
    const { hub, dir } = await hubProcess();
    const second = runTs('hub/cli.ts', ['--config', join(dir, 'hall.json')]);
    expect(await second.exited(30_000)).not.toBe(0);
    expect(second.logs.map((e) => String(e['msg'])).join('\n')).toMatch(/another hub \(pid \d+\) is using/);
    expect((await hub.api('GET', '/api/health')).status).toBe(200);
  });

  it('the CLI validates a device id as the API does: `pair + A01 --tablet` is refused', async () => {
    const { dir } = await hubProcess();
    const cli = runTs('hub/cli.ts', ['--config', join(dir, 'hall.json'), 'pair', '+', 'A01', '--tablet']);
    expect(await cli.exited(30_000)).not.toBe(0);
    expect(cli.logs.map((e) => String(e['msg'])).join('\n')).toMatch(/is not a device id/);
    const db = new Database(join(dir, 'data', 'hub.sqlite'), { readonly: true });
    cleanups.push(() => db.close());
    expect(db.prepare('SELECT COUNT(*) AS n FROM devices').get()).toEqual({ n: 0 });
  });

  it('/api/health is not ok while the disk is below the floor', async () => {
    const { hub } = await hubProcess({ storage: { minFreeMiB: 1_000_000_000 } });
    const health = await hub.api('GET', '/api/health');
    expect(health.json.ok).toBe(false);
    expect(ADMIN_TOKEN.length).toBeGreaterThanOrEqual(16);
  });
});
