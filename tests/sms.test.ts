/**
 * The SMS follow-up (PROTOCOL 7) end to end: an in-process hub on a fake clock drives its real
 * modem driver over a socat pty to the simulated modem (simulators/gsm-modem.ts), whose
 * simulated phones answer. Time moves only when a test moves it, and only while the modem is
 * idle, so a command's timeout never fires because a test skipped ten minutes.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, type HubConfig } from '../hub/config.js';
import { Hub } from '../hub/hub.js';
import type { LogEntry } from '../hub/log.js';
import { toUcs2Hex } from '../hub/modem.js';
import { AckStatus } from '../protocol/index.js';
import { ModemLine, SimulatedModem, type SimulatedModemOptions } from '../simulators/gsm-modem.js';
import { ManualClock } from '../simulators/manual-clock.js';
import { bytePipePair } from '../simulators/memory-link.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { DevicePeer } from './support/hub.js';
import { waitFor } from './support/processes.js';

const cleanups = cleanupsAfterEach();
const HALL = '430300-001';
const ADMIN = 'sms-test-admin-token-0001';
const DEADLINE_MS = 10_000;
const P1 = '13812345678';
const P2 = '13900000002';
const P3 = '13700000003';
const P4 = '13600000004';
const INVITATION = '【湘潭政务】请评价A01窗口服务:回复5非常满意4满意3基本满意2不满意1非常不满意';
/** 10:00 in China. */
const MORNING = Date.parse('2026-12-01T02:00:00Z');
type Json = any;

/** Resolves once `check()` holds, re-checked at each event `subscribe` delivers; fails after the deadline. */
async function until(subscribe: (wake: () => void) => () => void, check: () => boolean, what: string, ms = DEADLINE_MS): Promise<void> {
  if (check()) return;
  await waitFor<void>((listener) => subscribe(() => listener()), check, ms, what);
}

interface Hall {
  hub: Hub;
  clock: ManualClock;
  modem: SimulatedModem;
  line: ModemLine;
  logs: LogEntry[];
  config: HubConfig;
}

async function startHall(options: { modem?: SimulatedModemOptions; sms?: Record<string, unknown>; at?: number; beforeStart?: (modem: SimulatedModem) => void; evaluator?: boolean } = {}): Promise<Hall> {
  const dir = tempDir(cleanups, 'sms');
  const clock = new ManualClock(options.at ?? MORNING);
  const modem = new SimulatedModem({ now: () => clock.now(), ...options.modem });
  const line = new ModemLine(modem, join(dir, 'modem'));
  await line.plug();
  cleanups.push(() => line.unplug());
  options.beforeStart?.(modem);
  const config = parseConfig({
    hallId: HALL,
    areaCode: '430300',
    dataDir: join(dir, 'data'),
    adminToken: ADMIN,
    http: { host: '127.0.0.1', port: 0 },
    devices: { discover: { serial: false, hid: false } },
    windows: [{ id: 'A01', name: 'A01 综合受理', ...(options.evaluator ? { deviceId: 'EV-A01' } : {}) }],
    sms: { modem: { path: line.hubPath }, signature: '【湘潭政务】', ...options.sms },
  });
  const logs: LogEntry[] = [];
  const h: Hall = { hub: new Hub({ config, clock, log: (e) => logs.push(e) }), clock, modem, line, logs, config };
  await h.hub.start();
  cleanups.push(() => h.hub.stop());
  await setStaff(h);
  return h;
}

async function setStaff(h: Hall) {
  expect((await api(h, 'PUT', '/api/windows/A01/staff', { duty: 'on', staffId: 'S-A', staffName: '李明' })).status).toBeLessThan(300);
}

/** Stops the hub (a message in flight is left as a crash leaves it) and starts a new one on the same data directory. */
async function restart(h: Hall): Promise<void> {
  await h.hub.stop();
  h.hub = new Hub({ config: h.config, clock: h.clock, log: (e) => h.logs.push(e) });
  await h.hub.start();
}

async function api(h: Hall, method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(`http://127.0.0.1:${h.hub.port}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, json: await res.json() };
}

const done = (h: Hall, txnId: string, contact?: string) =>
  api(h, 'POST', '/api/windows/A01/service', { event: 'done', txnId, matterCode: 'M1', matterName: '营业执照', ...(contact ? { contact, contactConsent: true } : {}) });

const rows = (h: Hall, sql: string, ...params: unknown[]) => h.hub.store.read((db) => db.prepare(sql).all(...params)) as Json[];

const sms = (h: Hall) => h.hub.sms!;

function modemState(h: Hall, state: string): Promise<void> {
  const m = sms(h).modem;
  return until((wake) => (m.on('state', wake), () => m.off('state', wake)), () => m.state === state, `the modem ${state}`);
}

/** Moves the fake clock once the modem has nothing on the wire. */
async function advance(h: Hall, ms: number): Promise<void> {
  const m = sms(h).modem;
  // checked again right before the move: a command may have started while the wait resolved
  do await until((wake) => (m.on('idle', wake), () => m.off('idle', wake)), () => m.idle, 'the modem idle');
  while (!m.idle);
  h.clock.advance(ms);
}

/** Waits until the modem has sent `n` messages in all. */
const sent = (h: Hall, n: number) => until((wake) => (h.modem.on('sent', wake), () => h.modem.off('sent', wake)), () => h.modem.sent.length >= n, `${n} messages sent`);

/** Waits until the hub has taken `n` replies in all (this hub process). */
function replies(h: Hall, n: number): Promise<void> {
  let seen = rows(h, 'SELECT COUNT(*) AS n FROM sms_inbox')[0].n as number;
  const s = sms(h);
  return until(
    (wake) => {
      const listener = () => (seen++, wake());
      s.on('reply', listener);
      return () => s.off('reply', listener);
    },
    () => seen >= n,
    `${n} replies taken`,
  );
}

function logged(h: Hall, msg: string, times = 1): Promise<void> {
  const count = () => h.logs.filter((e) => e.msg === msg).length;
  return until(
    (wake) => {
      const push = h.logs.push.bind(h.logs);
      h.logs.push = (...entries: LogEntry[]) => {
        const n = push(...entries);
        wake();
        return n;
      };
      return () => {
        h.logs.push = push;
      };
    },
    () => count() >= times,
    `${times} × log "${msg}"`,
  );
}

/** Every message on the SIM has been read and deleted. */
const simEmptied = (h: Hall) => until((wake) => (h.modem.on('deleted', wake), () => h.modem.off('deleted', wake)), () => h.modem.stored.size === 0, 'the SIM read and emptied');

/** All writes submitted so far are on disk (a scan's decision, say). */
const flushed = (h: Hall) => h.hub.store.submit(() => undefined);

/** PROTOCOL 4 / DESIGN: a phone number never reaches the log, in clear, international, or as the UCS2 hex on the wire. */
function expectNoNumbersLogged(h: Hall, numbers = [P1, P2, P3, P4]): void {
  const text = h.logs.map((e) => JSON.stringify(e)).join('\n');
  for (const n of numbers) {
    expect(text).not.toContain(n);
    expect(text).not.toContain(toUcs2Hex(n));
    expect(text).not.toContain(toUcs2Hex(`+86${n}`));
  }
}

/** The modem stops answering at the first command starting with `prefix` (a hung module); the answer tells whether it has. */
function hangAt(h: { modem: SimulatedModem }, prefix: string): () => boolean {
  let hung = false;
  h.modem.on('command', (line) => {
    if (!hung && line.startsWith(prefix)) {
      hung = true;
      h.modem.mute(true);
    }
  });
  return () => hung;
}

describe('the modem', () => {
  it('is set up with the commands of PROTOCOL 7 in order, reads what waits on the SIM, and shows its state and signal on GET /api/sync', async () => {
    const h = await startHall({ beforeStart: (modem) => modem.deliver(`+86${P1}`, '5') });
    await modemState(h, 'ready');
    await simEmptied(h);
    expect(h.modem.commands.slice(0, 8)).toEqual(['AT', 'ATE0', 'AT+CMGF=1', 'AT+CSCS="UCS2"', 'AT+CSMP=17,167,0,8', 'AT+CNMI=2,1,0,0,0', 'AT+CSQ', 'AT+CMGL="ALL"']);
    // a reply from a number with no open invitation is ignored, and counted
    expect(rows(h, 'SELECT outcome, text FROM sms_inbox')).toEqual([{ outcome: 'no-invitation', text: null }]);
    const { json } = await api(h, 'GET', '/api/sync');
    expect(json.sms).toMatchObject({ state: 'ready', port: h.line.hubPath, signal: { rssi: 20, dbm: -73 }, lastError: null, outbox: 0, sent: 0, received: 1, ignored: 1, uncertain: 0, failed: 0 });
    expectNoNumbersLogged(h);
  });

  it('an ERROR in the set-up reports the modem faulty with the error, and it is reopened after the backoff', async () => {
    const h = await startHall({ beforeStart: (modem) => modem.failCommand('AT+CSCS') });
    await modemState(h, 'faulty');
    const { json } = await api(h, 'GET', '/api/sync');
    expect(json.sms.state).toBe('faulty');
    expect(json.sms.lastError.message).toMatch(/set-up failed: AT\+CSCS: ERROR/);
    await advance(h, 1000);
    await modemState(h, 'ready');
    expect(h.modem.commands.filter((c) => c === 'AT+CSCS="UCS2"')).toHaveLength(2);
  });
});

describe('invitations', () => {
  it('one goes out sms.delayS after done, with the signature and the window, UCS2 on the wire; not for a transaction without consent or rated at the counter', async () => {
    const h = await startHall({ evaluator: true });
    const pipe = bytePipePair('sms-ev');
    const device = new DevicePeer(pipe.a, 'EV-A01');
    await pipe.a.open();
    await h.hub.attach(pipe.b, 'mem-A01');
    await device.hello();
    await modemState(h, 'ready');
    expect((await done(h, 'T-1', P1)).status).toBe(202);
    expect((await done(h, 'T-2')).status).toBe(202); // no contact
    expect((await done(h, 'T-3', P2)).status).toBe(202);
    expect((await device.evaluate({ counter: 1, level: 5, txnId: 'T-3' })).status).toBe(AckStatus.OK); // rated at the counter
    await device.close();
    await advance(h, 599_000);
    await flushed(h);
    expect(rows(h, 'SELECT * FROM sms_outbox')).toEqual([]);
    await advance(h, 1000);
    await sent(h, 1);
    expect(h.modem.sent.map((m) => [m.number, m.text])).toEqual([[P1, INVITATION]]);
    // the command carried the number as UCS2 hex
    expect(h.modem.commands).toContain(`AT+CMGS="${toUcs2Hex(P1)}"`);
    await logged(h, 'SMS sent');
    expect(rows(h, `SELECT txn_id, state, attempts, mr IS NOT NULL AS mr FROM sms_outbox`)).toEqual([{ txn_id: 'T-1', state: 'sent', attempts: 1, mr: 1 }]);
    await advance(h, 3_600_000);
    await flushed(h);
    expect(h.modem.sent).toHaveLength(1);
    expectNoNumbersLogged(h);
  });

  it('not in the quiet hours: a transaction done at 20:55 is invited at 08:00 the next morning', async () => {
    const h = await startHall({ at: Date.parse('2026-12-01T12:55:00Z') }); // 20:55 in China
    await modemState(h, 'ready');
    await done(h, 'T-1', P1);
    await advance(h, 600_000);
    await flushed(h);
    expect(rows(h, 'SELECT state, not_before FROM sms_outbox')).toEqual([{ state: 'queued', not_before: '2026-12-02T00:00:00.000Z' }]);
    await advance(h, Date.parse('2026-12-02T00:00:00Z') - 1 - h.clock.now()); // 07:59:59.999
    await flushed(h);
    expect(h.modem.sent).toHaveLength(0);
    expect((await api(h, 'GET', '/api/sync')).json.sms.outbox).toBe(1);
    await advance(h, 1);
    await sent(h, 1);
    expect(h.modem.sent[0]!.at).toBe(Date.parse('2026-12-02T00:00:00Z'));
  });

  it('at most one a number a day (China date): a second transaction that day is skipped, the next day is invited', async () => {
    const h = await startHall();
    await modemState(h, 'ready');
    await done(h, 'T-1', P1);
    await done(h, 'T-2', P1);
    await advance(h, 600_000);
    await logged(h, 'SMS sent');
    expect(rows(h, 'SELECT txn_id, state, reason FROM sms_outbox ORDER BY id')).toEqual([
      { txn_id: 'T-1', state: 'sent', reason: null },
      { txn_id: 'T-2', state: 'skipped', reason: 'daily-limit' },
    ]);
    await advance(h, 86_400_000);
    await done(h, 'T-3', P1);
    await advance(h, 600_000);
    await logged(h, 'SMS sent', 2);
    expect(h.modem.sent.map((m) => m.number)).toEqual([P1, P1]);
    expect(rows(h, `SELECT txn_id FROM sms_outbox WHERE state = 'sent' ORDER BY id`)).toEqual([{ txn_id: 'T-1' }, { txn_id: 'T-3' }]);
  });
});

describe('replies', () => {
  it("'5' and '５ 很满意' rate the transaction on channel sms, id SMS-{txnId}, origin prompted, the window and clerk of the transaction, the contact with consent", async () => {
    const answers: Record<string, string> = { [P1]: '5', [P2]: '５ 很满意' };
    const h = await startHall({ modem: { onMessage: (number) => answers[number] } });
    await modemState(h, 'ready');
    await done(h, 'T-1', P1);
    await done(h, 'T-2', P2);
    await advance(h, 600_000);
    await replies(h, 2);
    expect(rows(h, `SELECT id, channel, level, origin, comment, txn_id, window_id, staff_id, staff_name, contact, consent, status, device_id FROM evaluations ORDER BY id`)).toEqual([
      { id: 'SMS-T-1', channel: 'sms', level: 5, origin: 'prompted', comment: '', txn_id: 'T-1', window_id: 'A01', staff_id: 'S-A', staff_name: '李明', contact: P1, consent: 1, status: 'accepted', device_id: 'sms' },
      { id: 'SMS-T-2', channel: 'sms', level: 5, origin: 'prompted', comment: '很满意', txn_id: 'T-2', window_id: 'A01', staff_id: 'S-A', staff_name: '李明', contact: P2, consent: 1, status: 'accepted', device_id: 'sms' },
    ]);
    expect(rows(h, `SELECT txn_id, rated_by FROM transactions ORDER BY txn_id`)).toEqual([
      { txn_id: 'T-1', rated_by: 'SMS-T-1' },
      { txn_id: 'T-2', rated_by: 'SMS-T-2' },
    ]);
    // what the dashboards and the export see: contact masked
    const { json } = await api(h, 'GET', '/api/evaluations?limit=10');
    expect(json.evaluations.map((e: Json) => e.contact).sort()).toEqual(['138****5678', '139****0002']);
    await simEmptied(h); // read and deleted
    expectNoNumbersLogged(h);
  });

  it("'TD' unsubscribes the number: nothing more is sent to it, invitation or otherwise", async () => {
    const h = await startHall({ modem: { onMessage: (number) => (number === P3 ? 'TD' : undefined) } });
    await modemState(h, 'ready');
    await done(h, 'T-1', P3);
    await advance(h, 600_000);
    await replies(h, 1);
    expect(rows(h, 'SELECT outcome FROM sms_inbox')).toEqual([{ outcome: 'unsubscribed' }]);
    expect(rows(h, 'SELECT COUNT(*) AS n FROM sms_optout')[0].n).toBe(1);
    expect(JSON.stringify(rows(h, 'SELECT * FROM sms_optout'))).not.toContain(P3); // kept as a hash
    await advance(h, 86_400_000);
    await done(h, 'T-2', P3);
    await advance(h, 600_000);
    await flushed(h);
    expect(rows(h, `SELECT state, reason FROM sms_outbox WHERE txn_id = 'T-2'`)).toEqual([{ state: 'skipped', reason: 'unsubscribed' }]);
    expect(await sms(h).queueMessage(P3, '您反映的问题已整改，感谢监督。', 'feedback')).toEqual({ queued: false, reason: 'unsubscribed' });
    await advance(h, 3_600_000);
    await flushed(h);
    expect(h.modem.sent.map((m) => m.number)).toEqual([P3]);
    expectNoNumbersLogged(h);
  });

  it('a reply to a transaction already rated (at the counter, or by an earlier reply) makes no second rating; text is kept only after a rating; strangers are ignored and counted', async () => {
    const h = await startHall({ evaluator: true, modem: { onMessage: (number) => (number === P1 ? '4' : undefined) } });
    const pipe = bytePipePair('sms-ev');
    const device = new DevicePeer(pipe.a, 'EV-A01');
    await pipe.a.open();
    await h.hub.attach(pipe.b, 'mem-A01');
    await device.hello();
    cleanups.push(() => device.close());
    await modemState(h, 'ready');
    await done(h, 'T-1', P1);
    await done(h, 'T-2', P2);
    await advance(h, 600_000);
    await sent(h, 2);
    await replies(h, 1); // P1 rated T-1 with 4
    // T-2 is rated at the counter after its invitation went out
    expect((await device.evaluate({ counter: 1, level: 3, txnId: 'T-2' })).status).toBe(AckStatus.OK);
    h.modem.deliver(`+86${P2}`, '1');
    h.modem.deliver(`+86${P1}`, '2'); // changed their mind: 一事一评
    h.modem.deliver(`+86${P1}`, '窗口工作人员很耐心');
    h.modem.deliver(`+86${P2}`, '排队太久');
    h.modem.deliver(`+86${P4}`, '5'); // never invited
    await replies(h, 6);
    expect(rows(h, `SELECT id, level, status FROM evaluations ORDER BY id`)).toEqual([
      { id: 'EV-A01-1', level: 3, status: 'accepted' },
      { id: 'SMS-T-1', level: 4, status: 'accepted' },
      { id: 'SMS-T-2', level: 1, status: 'refused' }, // kept for audit, never counted
    ]);
    expect(rows(h, `SELECT txn_id, outcome FROM sms_inbox ORDER BY id`)).toEqual([
      { txn_id: 'T-1', outcome: 'rated' },
      { txn_id: 'T-2', outcome: 'already-rated' },
      { txn_id: 'T-1', outcome: 'already-rated' },
      { txn_id: 'T-1', outcome: 'comment' },
      { txn_id: 'T-2', outcome: 'ignored' },
      { txn_id: null, outcome: 'no-invitation' },
    ]);
    expect(sms(h).commentsFor('SMS-T-1').map((c) => c.text)).toEqual(['窗口工作人员很耐心']);
    expect(rows(h, `SELECT text FROM sms_inbox WHERE outcome IN ('ignored', 'no-invitation')`)).toEqual([{ text: null }, { text: null }]);
    const { json } = await api(h, 'GET', '/api/sync');
    expect(json.sms).toMatchObject({ sent: 2, received: 6, ignored: 2 });
    expectNoNumbersLogged(h);
  });
});

describe('the 差评 loop texts through the same modem', () => {
  it("a 差评 given by SMS, rectified: the citizen is texted the outcome, and a rating in answer is the second rating (评价次数 2)", async () => {
    const h = await startHall({ modem: { onMessage: (_number, text) => (text.includes('请再次评价') ? '５' : '1 态度不好') } });
    await modemState(h, 'ready');
    await done(h, 'T-1', P1);
    await advance(h, 600_000);
    await replies(h, 1);
    expect(rows(h, `SELECT id, level, comment FROM evaluations`)).toEqual([{ id: 'SMS-T-1', level: 1, comment: '态度不好' }]);
    expect((await api(h, 'POST', '/api/evaluations/SMS-T-1/handling', { step: 'acknowledged' })).status).toBe(201);
    expect((await api(h, 'POST', '/api/evaluations/SMS-T-1/handling', { step: 'rectified', note: '已约谈' })).status).toBe(201);
    await replies(h, 2);
    expect(h.modem.sent.map((m) => m.text)).toEqual([INVITATION, expect.stringMatching(/^【湘潭政务】您对A01窗口服务的差评已整改。请再次评价/)]);
    expect(rows(h, `SELECT outcome, evaluation_id FROM sms_inbox ORDER BY id`)).toEqual([
      { outcome: 'rated', evaluation_id: 'SMS-T-1' },
      { outcome: 'second-rating', evaluation_id: 'RE-SMS-T-1' },
    ]);
    expect(rows(h, `SELECT id, level, rating_no, follow_up_of, channel FROM evaluations ORDER BY id`)).toEqual([
      { id: 'RE-SMS-T-1', level: 5, rating_no: 2, follow_up_of: 'SMS-T-1', channel: 'sms' },
      { id: 'SMS-T-1', level: 1, rating_no: 1, follow_up_of: null, channel: 'sms' },
    ]);
    expectNoNumbersLogged(h);
  });
});

describe('never lost, never repeated', () => {
  it('+CMS ERROR then success: the message is sent exactly once, after the backoff', async () => {
    const h = await startHall({ beforeStart: (modem) => modem.failSends(2, 38) });
    await modemState(h, 'ready');
    await done(h, 'T-1', P1);
    await advance(h, 600_000);
    await logged(h, 'SMS not sent; queued again');
    h.modem.noise('\x00\xff+CMTI garbage\r\nNOT AN ANSWER\r\n'); // a noisy line between the attempts
    await advance(h, 30_000);
    await logged(h, 'SMS not sent; queued again', 2);
    expect(rows(h, 'SELECT state, attempts, reason FROM sms_outbox')).toEqual([{ state: 'queued', attempts: 2, reason: '+CMS ERROR: 38' }]);
    await advance(h, 60_000);
    await sent(h, 1);
    await logged(h, 'SMS sent');
    await advance(h, 3_600_000);
    await flushed(h);
    expect(h.modem.sent).toHaveLength(1);
    expect(rows(h, 'SELECT state, attempts FROM sms_outbox')).toEqual([{ state: 'sent', attempts: 3 }]);
    expectNoNumbersLogged(h);
  });

  it('a hub restarted mid-queue loses and repeats nothing: a message stopped before Ctrl-Z is sent after the restart, one stopped after it is never sent again', async () => {
    const h = await startHall();
    await modemState(h, 'ready');
    // 1: the modem hangs after AT+CMGS, before its prompt: the first message is `sending`
    const hung = hangAt(h, 'AT+CMGS');
    await done(h, 'T-1', P1);
    await done(h, 'T-2', P2);
    await done(h, 'T-3', P3);
    await advance(h, 600_000);
    await until((wake) => (h.modem.on('command', wake), () => h.modem.off('command', wake)), hung, 'the first AT+CMGS');
    expect(rows(h, `SELECT state, COUNT(*) AS n FROM sms_outbox GROUP BY state ORDER BY state`)).toEqual([
      { state: 'queued', n: 2 },
      { state: 'sending', n: 1 },
    ]);
    await restart(h);
    h.modem.mute(false);
    await sent(h, 3);
    expect(h.modem.sent.map((m) => m.number).sort()).toEqual([P1, P2, P3].sort());
    // 2: the network takes a message but its +CMGS answer never comes back before the stop
    h.modem.holdAnswers();
    await done(h, 'T-4', P4);
    await advance(h, 600_000);
    await sent(h, 4);
    expect(rows(h, `SELECT state FROM sms_outbox WHERE txn_id = 'T-4'`)).toEqual([{ state: 'submitted' }]);
    await restart(h);
    await modemState(h, 'ready');
    expect(rows(h, `SELECT state, reason FROM sms_outbox WHERE txn_id = 'T-4'`)).toEqual([{ state: 'unknown', reason: 'in flight when the hub stopped' }]);
    await advance(h, 6 * 3_600_000);
    await flushed(h);
    expect(h.modem.sent.map((m) => m.number).sort()).toEqual([P1, P2, P3, P4].sort());
    expect((await api(h, 'GET', '/api/sync')).json.sms).toMatchObject({ outbox: 0, sent: 3, uncertain: 1 });
    // the citizen did get it: the reply still rates
    h.modem.deliver(`+86${P4}`, '4');
    await replies(h, 1);
    expect(rows(h, `SELECT id, level, status FROM evaluations`)).toEqual([{ id: 'SMS-T-4', level: 4, status: 'accepted' }]);
    expectNoNumbersLogged(h);
  });

  it('an unplugged modem: the technician sees it closed, invitations wait, replies wait at the network; after the replug all go through once', async () => {
    const h = await startHall();
    await modemState(h, 'ready');
    await done(h, 'T-1', P1);
    await advance(h, 600_000);
    await sent(h, 1);
    await logged(h, 'SMS sent');
    await h.line.unplug();
    await modemState(h, 'closed');
    expect((await api(h, 'GET', '/api/sync')).json.sms).toMatchObject({ state: 'closed', lastError: { message: expect.stringMatching(/closed/) } });
    await done(h, 'T-2', P2);
    await advance(h, 600_000);
    await flushed(h);
    expect((await api(h, 'GET', '/api/sync')).json.sms.outbox).toBe(1);
    h.modem.deliver(`+86${P1}`, '4'); // held by the network while the modem is off
    await h.line.plug();
    await advance(h, 60_000); // the longest reopen backoff
    await modemState(h, 'ready');
    await sent(h, 2);
    await replies(h, 1);
    await advance(h, 3_600_000);
    await flushed(h);
    expect(h.modem.sent.map((m) => m.number)).toEqual([P1, P2]);
    expect(rows(h, `SELECT id, level FROM evaluations`)).toEqual([{ id: 'SMS-T-1', level: 4 }]);
    expect((await api(h, 'GET', '/api/sync')).json.sms).toMatchObject({ state: 'ready', outbox: 0, sent: 2, received: 1 });
    expectNoNumbersLogged(h);
  });
});

describe('a modem that misbehaves', () => {
  it('no answer to AT+CMGS: the command times out on the hub clock, the modem is reopened, the message goes out once', async () => {
    const h = await startHall();
    await modemState(h, 'ready');
    const hung = hangAt(h, 'AT+CMGS');
    await sms(h).queueMessage(P1, '您好', 'feedback');
    await until((wake) => (h.modem.on('command', wake), () => h.modem.off('command', wake)), hung, 'AT+CMGS');
    h.clock.advance(5000); // the command timeout; the modem is busy, so not through advance()
    await modemState(h, 'faulty');
    expect((await api(h, 'GET', '/api/sync')).json.sms.lastError.message).toMatch(/no answer to AT\+CMGS within 5000 ms/);
    h.modem.mute(false);
    await advance(h, 1000);
    await modemState(h, 'ready');
    await logged(h, 'SMS sent');
    expect(h.modem.sent.map((m) => m.number)).toEqual([P1]);
  });

  it('unplugged between Ctrl-Z and the answer: the message may have gone out, so it is never sent again', async () => {
    const h = await startHall();
    await modemState(h, 'ready');
    h.modem.holdAnswers();
    await sms(h).queueMessage(P1, '您好', 'feedback');
    await sent(h, 1);
    await h.line.unplug();
    await logged(h, 'SMS may or may not have gone out; not sent again');
    expect(rows(h, 'SELECT state FROM sms_outbox')).toEqual([{ state: 'unknown' }]);
    await h.line.plug();
    await advance(h, 60_000);
    await modemState(h, 'ready');
    await advance(h, 3_600_000);
    await flushed(h);
    expect(h.modem.sent).toHaveLength(1);
    expect((await api(h, 'GET', '/api/sync')).json.sms).toMatchObject({ uncertain: 1, sent: 0, outbox: 0 });
    expectNoNumbersLogged(h);
  });
});

describe('other modules text citizens through queueMessage', () => {
  it('queues and sends a message of at most 70 characters; refuses bad numbers and longer texts; GET /api/sms shows it masked', async () => {
    const h = await startHall();
    await modemState(h, 'ready');
    await expect(sms(h).queueMessage('12345', '你好', 'feedback')).rejects.toThrow(/number/);
    await expect(sms(h).queueMessage(P1, '长'.repeat(71), 'feedback')).rejects.toThrow(/text: 1 to 70/);
    await expect(sms(h).queueMessage(P1, '你好', 'invitation')).rejects.toThrow(/purpose/);
    expect(await sms(h).queueMessage(P1, '【湘潭政务】您反映的问题已整改，感谢监督。', 'feedback')).toMatchObject({ queued: true });
    await sent(h, 1);
    expect(h.modem.sent[0]).toMatchObject({ number: P1, text: '【湘潭政务】您反映的问题已整改，感谢监督。' });
    await logged(h, 'SMS sent');
    const { status, json } = await api(h, 'GET', '/api/sms');
    expect(status).toBe(200);
    expect(json.recent).toEqual([expect.objectContaining({ number: '138****5678', purpose: 'feedback', state: 'sent' })]);
    expect(JSON.stringify(json)).not.toContain(P1);
    expectNoNumbersLogged(h);
  });
});
