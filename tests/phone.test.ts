/**
 * The telephone follow-up (电话回访, issue 13 item 3) and the contact reveal of PROTOCOL 5 [r2]:
 * who is due for the monthly call-back (numbers masked), each reveal audited with the
 * person's name, the answer recorded as a rating on channel `phone`; then the same 办件 rated
 * at once by the QR link, the tablet, the evaluator and the telephone: exactly one accepted,
 * each other channel refused in its own words. In-process hubs; waits on events with deadlines.
 */
import mqtt from 'mqtt';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../hub/config.js';
import { Hub } from '../hub/hub.js';
import type { LogEntry } from '../hub/log.js';
import { AckReason, AckStatus, hallTopics, type Packet } from '../protocol/index.js';
import { ManualClock } from '../simulators/manual-clock.js';
import { bytePipePair } from '../simulators/memory-link.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { apiCall, DevicePeer } from './support/hub.js';
import { waitFor } from './support/processes.js';

const cleanups = cleanupsAfterEach();
const HALL = '430300-001';
const ADMIN = 'phone-test-admin-token-8e2f';
const SECRET = 'phone-test-qr-secret-5a6b7c8d';
const DEADLINE_MS = 5000;
const NUMBERS = { t1: '13900000001', t3: '13900000003', t4: '13900000004', old: '13900000009', tablet: '13700000007' };
type Json = any;

async function startHub(options: { clock?: ManualClock; evaluator?: boolean } = {}) {
  const dir = tempDir(cleanups, 'phone');
  const logs: LogEntry[] = [];
  const config = parseConfig({
    hallId: HALL,
    areaCode: '430300',
    dataDir: dir,
    adminToken: ADMIN,
    http: { host: '127.0.0.1', port: 0 },
    devices: { discover: { serial: false, hid: false } },
    windows: [{ id: 'A01', name: 'A01 综合受理', ...(options.evaluator ? { deviceId: 'EV-A01' } : {}) }, { id: 'B01' }],
    qr: { secret: SECRET, validH: 72 },
  });
  const hub = new Hub({ config, log: (e) => logs.push(e), ...(options.clock ? { clock: options.clock } : {}) });
  await hub.start();
  cleanups.push(() => hub.stop());
  const api = (method: string, path: string, body?: unknown, token = ADMIN) => apiCall(`http://127.0.0.1:${hub.port}`, method, path, body, token ? `Bearer ${token}` : null);
  const done = async (txnId: string, extra: Record<string, unknown> = {}) => {
    const r = await api('POST', '/api/windows/A01/service', { event: 'done', txnId, matterCode: 'M1', matterName: '营业执照', ...extra });
    expect(r.status).toBe(202);
    return r.json.rateUrl as string;
  };
  const tablet = async (id: string, password: string) => {
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
    return async (fields: Record<string, unknown>) => {
      const ack = waitFor<Json>((l) => (listeners.add(l), () => listeners.delete(l)), (a) => a.id === fields['id'], DEADLINE_MS, `the ack of ${String(fields['id'])}`);
      await client.publishAsync(hallTopics.tablet(HALL, id, 'evaluations'), JSON.stringify({ level: 5, evaluatedAt: new Date().toISOString(), ...fields }), { qos: 1 });
      return ack;
    };
  };
  const rows = (sql: string, ...params: unknown[]) => hub.store.read((db) => db.prepare(sql).all(...params)) as Json[];
  await api('PUT', '/api/windows/A01/staff', { duty: 'on', staffId: 'S-A', staffName: '李明' });
  const tabletToken = (await api('POST', '/api/devices/TAB-01/pair', { windowId: 'A01' })).json.token as string;
  const handler = (await api('POST', '/api/users', { name: '张三', role: 'handler' })).json.token as string;
  const queue = (await api('POST', '/api/users', { name: 'queue-1', role: 'queue' })).json.token as string;
  return { hub, api, done, tablet: () => tablet('TAB-01', tabletToken), rows, logs, handler, queue };
}

describe('the telephone follow-up', () => {
  let clock: ManualClock;
  let h: Awaited<ReturnType<typeof startHub>>;
  beforeEach(async () => {
    clock = new ManualClock(Date.now());
    h = await startHub({ clock });
    // 31 days ago: out of the monthly call-back
    const now = clock.now();
    clock.set(now - 31 * 86_400_000);
    await h.done('T-OLD', { contact: NUMBERS.old, contactConsent: true });
    clock.set(now);
    await h.done('T-1', { contact: NUMBERS.t1, contactConsent: true }); // consented, unrated: due
    await h.done('T-2'); // no number: never called
    const t3 = await h.done('T-3', { contact: NUMBERS.t3, contactConsent: true }); // rated 满意 by QR: nothing to ask
    expect((await h.api('POST', `/api/rate/${t3.slice(t3.indexOf('/r/') + 3)}`, { level: 5 }, '')).status).toBe(200);
    const t4 = await h.done('T-4', { contact: NUMBERS.t4, contactConsent: true }); // a 差评 by QR: due, with the number from the counter
    expect((await h.api('POST', `/api/rate/${t4.slice(t4.indexOf('/r/') + 3)}`, { level: 1, reasons: ['attitude'] }, '')).status).toBe(200);
    // a 差评 on the tablet without a transaction, the number given with consent on the tablet
    const rate = await h.tablet();
    expect(await rate({ id: 'TAB-01-1', level: 2, contact: NUMBERS.tablet, consent: true })).toMatchObject({ status: 'ok' });
    expect(await rate({ id: 'TAB-01-2', level: 1 })).toMatchObject({ status: 'ok' }); // no number: not listed
  });

  const listed = async (token = h.handler) => (await h.api('GET', '/api/callbacks', undefined, token)).json.callbacks as Json[];

  it('lists the consenting citizens due (差评 first, unrated transactions of the last 30 days), numbers masked; handlers and managers only', async () => {
    const r = await h.api('GET', '/api/callbacks', undefined, h.handler);
    expect(r.status).toBe(200);
    expect(r.json.callbacks).toEqual([
      { kind: 'dissatisfied', txnId: 'T-4', evaluationId: 'QR-T-4', level: 1, windowId: 'A01', staffName: '李明', matterName: '营业执照', at: expect.any(String), contact: '139****0004' },
      { kind: 'dissatisfied', txnId: null, evaluationId: 'TAB-01-1', level: 2, windowId: 'A01', staffName: '李明', matterName: null, at: expect.any(String), contact: '137****0007' },
      { kind: 'unrated', txnId: 'T-1', evaluationId: null, level: null, windowId: 'A01', staffName: '李明', matterName: '营业执照', at: new Date(clock.now()).toISOString(), contact: '139****0001' },
    ]);
    for (const number of Object.values(NUMBERS)) expect(JSON.stringify(r.json)).not.toContain(number);
    expect((await h.api('GET', '/api/callbacks', undefined, '')).status).toBe(401);
    expect((await h.api('GET', '/api/callbacks', undefined, h.queue)).status).toBe(403);
  });

  it('reveals one number at a time, each reveal audited with the person\'s name and never logged in clear; 404 without consent', async () => {
    expect(await h.api('GET', '/api/callbacks/T-1/contact', undefined, h.handler)).toEqual({ status: 200, json: { txnId: 'T-1', contact: NUMBERS.t1 } });
    expect(await h.api('GET', '/api/evaluations/TAB-01-1/contact', undefined, h.handler)).toEqual({ status: 200, json: { evaluationId: 'TAB-01-1', contact: NUMBERS.tablet } });
    // a QR 差评 carries no number of its own: the one its transaction was given with consent
    expect((await h.api('GET', '/api/evaluations/QR-T-4/contact', undefined, h.handler)).json.contact).toBe(NUMBERS.t4);
    expect(await h.api('GET', '/api/callbacks/T-2/contact', undefined, h.handler)).toMatchObject({ status: 404, json: { error: { code: 'no-consent' } } });
    expect(await h.api('GET', '/api/evaluations/TAB-01-2/contact', undefined, h.handler)).toMatchObject({ status: 404, json: { error: { code: 'no-consent' } } });
    expect(await h.api('GET', '/api/evaluations/NOPE-1/contact', undefined, h.handler)).toMatchObject({ status: 404, json: { error: { code: 'unknown-evaluation' } } });
    expect((await h.api('GET', '/api/evaluations/TAB-01-1/contact', undefined, h.queue)).status).toBe(403);
    expect((await h.api('GET', '/api/callbacks/T-1/contact', undefined, '')).status).toBe(401);
    const audits = h.rows(`SELECT actor, action, detail FROM audit WHERE action = 'contact-revealed' ORDER BY id`);
    expect(audits).toEqual([
      { actor: '张三', action: 'contact-revealed', detail: '{"txnId":"T-1"}' },
      { actor: '张三', action: 'contact-revealed', detail: '{"evaluationId":"TAB-01-1"}' },
      { actor: '张三', action: 'contact-revealed', detail: '{"evaluationId":"QR-T-4"}' },
    ]);
    const logged = JSON.stringify(h.logs);
    for (const number of Object.values(NUMBERS)) expect(logged).not.toContain(number);
  });

  it('records the answer as a rating on channel phone, id TEL-{txnId}, under 一事一评; a called-back citizen leaves the list', async () => {
    clock.set(clock.now() + 3_600_000);
    expect(await h.api('POST', '/api/callbacks/T-1', { level: 4, comment: '办理很快' }, h.handler)).toEqual({ status: 201, json: { id: 'TEL-T-1', status: 'ok' } });
    expect(h.rows(`SELECT channel, level, comment, txn_id, window_id, staff_id, origin, evaluated_at, device_id, contact, status FROM evaluations WHERE id = 'TEL-T-1'`)).toEqual([
      { channel: 'phone', level: 4, comment: '办理很快', txn_id: 'T-1', window_id: 'A01', staff_id: 'S-A', origin: 'prompted', evaluated_at: new Date(clock.now()).toISOString(), device_id: 'phone', contact: null, status: 'accepted' },
    ]);
    expect(h.rows(`SELECT actor, action FROM audit WHERE action LIKE 'phone-rating%'`)).toEqual([{ actor: '张三', action: 'phone-rating' }]);
    expect(await h.api('POST', '/api/callbacks/T-1', { level: 4, comment: '办理很快' }, h.handler)).toEqual({ status: 200, json: { id: 'TEL-T-1', status: 'duplicate' } });
    expect(await h.api('POST', '/api/callbacks/T-1', { level: 2 }, h.handler)).toMatchObject({ status: 409, json: { error: { code: 'already-evaluated' } } });
    // a 差评 already rated by QR: the call's answer is kept for audit, not counted, and the citizen is called back
    expect(await h.api('POST', '/api/callbacks/T-4', { level: 3 }, h.handler)).toMatchObject({ status: 409, json: { error: { code: 'already-evaluated' } } });
    expect(h.rows(`SELECT id, status FROM evaluations WHERE txn_id = 'T-4' ORDER BY id`)).toEqual([
      { id: 'QR-T-4', status: 'accepted' },
      { id: 'TEL-T-4', status: 'refused' },
    ]);
    // the tablet's 差评 is called back through its handling step
    expect((await h.api('POST', '/api/evaluations/TAB-01-1/handling', { step: 'acknowledged' }, h.handler)).status).toBe(201);
    expect(await listed()).toHaveLength(1);
    expect((await h.api('POST', '/api/evaluations/TAB-01-1/handling', { step: 'called-back' }, h.handler)).status).toBe(201);
    expect(await listed()).toEqual([]);

    expect(await h.api('POST', '/api/callbacks/T-2', { level: 5 }, h.handler)).toMatchObject({ status: 404, json: { error: { code: 'no-consent' } } });
    expect(await h.api('POST', '/api/callbacks/T-NEVER', { level: 5 }, h.handler)).toMatchObject({ status: 404, json: { error: { code: 'unknown-transaction' } } });
    for (const body of [{ level: 0 }, { level: 6 }, { level: 3, comment: '好'.repeat(501) }, { level: 3, staffId: 'S-B' }]) {
      expect((await h.api('POST', '/api/callbacks/T-OLD', body, h.handler)).status, JSON.stringify(body).slice(0, 30)).toBe(400);
    }
    expect((await h.api('POST', '/api/callbacks/T-OLD', { level: 5 }, h.queue)).status).toBe(403);
  });

  it('the national export names the channels 二维码 and 电话', async () => {
    expect((await h.api('POST', '/api/callbacks/T-1', { level: 5 }, h.handler)).status).toBe(201);
    const csv = (await h.api('GET', '/api/export?format=gb39046&from=2000-01-01T00:00:00Z')).json as string;
    const line = (txnId: string) => csv.split('\r\n').find((l) => l.startsWith(`${txnId},`));
    expect(line('T-1')?.split(',')[1]).toBe('电话');
    expect(line('T-3')?.split(',')[1]).toBe('二维码');
    expect(line('T-4')?.split(',')[1]).toBe('二维码');
  });
});

describe('one rating per 办件 across the four channels', () => {
  it('the same 办件 rated at once by QR, tablet, evaluator and telephone: exactly one accepted, the others refused as already evaluated and kept for audit', async () => {
    const h = await startHub({ evaluator: true });
    const pipe = bytePipePair('phone-race');
    const device = new DevicePeer(pipe.a, 'EV-A01');
    await pipe.a.open();
    await h.hub.attach(pipe.b, 'mem-A01');
    cleanups.push(() => device.close().catch(() => {}));
    await device.hello();
    const rateOnTablet = await h.tablet();
    const winners: Record<string, number> = {};
    for (let i = 1; i <= 8; i++) {
      const txnId = `T-R${i}`;
      const prompted = device.next((p: Packet) => p.message.type === 'SERVICE' && p.message.event === 2 && p.message.txnId === txnId, DEADLINE_MS, `SERVICE done ${txnId}`);
      const rateUrl = await h.done(txnId, { contact: NUMBERS.t1, contactConsent: true });
      await prompted;
      const cancelled = device.next((p: Packet) => p.message.type === 'SERVICE' && p.message.event === 3 && p.message.txnId === txnId, DEADLINE_MS, `SERVICE cancelled ${txnId}`);
      cancelled.catch(() => {}); // awaited only when another channel wins
      const token = rateUrl.slice(rateUrl.indexOf('/r/') + 3);
      const [qr, tablet, evaluator, phone] = await Promise.all([
        h.api('POST', `/api/rate/${token}`, { level: 5 }, ''),
        rateOnTablet({ id: `TAB-01-${i}`, txnId, level: 4 }),
        device.evaluate({ counter: i, level: 3, txnId }),
        h.api('POST', `/api/callbacks/${txnId}`, { level: 2 }, h.handler),
      ]);
      const outcomes = {
        qr: qr.status === 200 ? 'ok' : qr.status === 409 && qr.json.reason === 'already-evaluated' ? 'refused' : `unexpected ${qr.status}`,
        tablet: tablet.status === 'ok' ? 'ok' : tablet.status === 'rejected' && tablet.reason === 'already-evaluated' ? 'refused' : `unexpected ${JSON.stringify(tablet)}`,
        evaluator: evaluator.status === AckStatus.OK ? 'ok' : evaluator.status === AckStatus.REJECTED && evaluator.reason === AckReason.ALREADY_EVALUATED ? 'refused' : `unexpected ${JSON.stringify(evaluator)}`,
        phone: phone.status === 201 ? 'ok' : phone.status === 409 && phone.json.error.code === 'already-evaluated' ? 'refused' : `unexpected ${phone.status}`,
      };
      const accepted = Object.entries(outcomes).filter(([, o]) => o === 'ok').map(([c]) => c);
      expect(Object.values(outcomes).filter((o) => o !== 'ok' && o !== 'refused'), txnId).toEqual([]);
      expect(accepted, `${txnId}: ${JSON.stringify(outcomes)}`).toHaveLength(1);
      winners[accepted[0]!] = (winners[accepted[0]!] ?? 0) + 1;
      const stored = h.rows(`SELECT channel, status FROM evaluations WHERE txn_id = ? ORDER BY channel`, txnId);
      expect(stored.filter((r: Json) => r.status === 'accepted').map((r: Json) => r.channel), txnId).toEqual(accepted);
      expect(stored, 'every attempt kept').toHaveLength(4);
      // a rating on another channel stops the evaluator prompting (PROTOCOL 1.3)
      if (accepted[0] !== 'evaluator') await cancelled;
    }
    expect(h.rows(`SELECT COUNT(*) AS n FROM evaluations WHERE status = 'accepted'`)[0].n).toBe(8);
    expect(Object.values(winners).reduce((a, b) => a + b, 0)).toBe(8);
  });
});
