/**
 * The hub's HTTP API (PROTOCOL 5, plus the export and audit extensions) against an in-process
 * hub on an ephemeral port: every route's answer, its auth, its errors, and the numbers the
 * dashboard shows computed from evaluations put straight into the store.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../hub/config.js';
import { commitEvaluation } from '../hub/evaluations.js';
import { HUB_VERSION, Hub } from '../hub/hub.js';
import type { LogEntry } from '../hub/log.js';
import { ManualClock } from '../simulators/manual-clock.js';
import { MAX_BODY_BYTES } from '../hub/http.js';
import { NATIONAL_COLUMNS, isDissatisfied, type Evaluation } from '../protocol/index.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { evaluation } from './support/evaluation.js';

const ADMIN = 'api-test-admin-token';
const HALL = '430300-001';
const AREA = '430300';

const cleanups = cleanupsAfterEach();
let hub: Hub;
/** The hub's clock: real time, moved by hand past the wrong-token lockout. */
let clock: ManualClock;
let hubLogs: LogEntry[];
const logs = () => hubLogs;
beforeEach(async () => {
  clock = new ManualClock(Date.now());
  hubLogs = [];
  const dir = tempDir(cleanups, 'hub-api');
  const windows = [{ id: 'A01', name: 'A01 综合受理' }, { id: 'A02', name: 'A02 不动产登记' }];
  const config = parseConfig({ hallId: HALL, hallName: '湘潭市政务服务中心', areaCode: AREA, dataDir: dir, adminToken: ADMIN, http: { host: '127.0.0.1', port: 0 }, devices: { discover: { serial: false, hid: false } }, windows });
  hub = new Hub({ config, clock, log: (e) => hubLogs.push(e) });
  await hub.start();
  cleanups.push(() => hub.stop());
});

/** JSON answers, checked field by field. */
type Json = any;
type Answer = { status: number; type: string | null; text: string; json: Json };

/** One request; `auth: null` sends no Authorization header, a string sends that token. */
async function api(method: string, path: string, options: { body?: unknown; raw?: string; auth?: string | null } = {}): Promise<Answer> {
  const auth = options.auth === undefined ? ADMIN : options.auth;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth !== null) headers['authorization'] = `Bearer ${auth}`;
  const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const res = await fetch(`http://127.0.0.1:${hub.port}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  const json: Json = res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : undefined;
  return { status: res.status, type: res.headers.get('content-type'), text, json };
}

/** PROTOCOL 5: errors are exactly `{error: {code, message}}`, never a stack trace. */
function expectError(answer: Answer, status: number, field?: string): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.type).toMatch(/^application\/json/);
  expect(Object.keys(answer.json)).toEqual(['error']);
  expect(Object.keys(answer.json.error).sort()).toEqual(['code', 'message']);
  expect(answer.json.error.code).toMatch(/^[a-z-]+$/);
  expect(typeof answer.json.error.message).toBe('string');
  expect(answer.text).not.toMatch(/\n\s+at |\.[jt]s:\d+|node_modules|Error:/);
  if (field) expect(answer.json.error.message).toMatch(new RegExp(`(^|\\W)${field}(\\W|$)`));
}

const VALID_SETTINGS = { promptTimeoutS: 45, thanksS: 4, volume: 6, brightness: 7, language: 1, flags: 1 };

/** Every admin route, with a body that succeeds once HCP5-AUTH is a paired evaluator. */
const ADMIN_ROUTES: [string, string, unknown?][] = [
  ['POST', '/api/windows/A01/service', { event: 'done', txnId: 'T-AUTH' }],
  ['PUT', '/api/windows/A01/staff', { duty: 'on', staffId: 'S001' }],
  ['GET', '/api/devices'],
  ['POST', '/api/devices/TAB-AUTH/pair', { windowId: 'A01' }],
  ['DELETE', '/api/devices/HCP5-AUTH/pair'],
  ['PUT', '/api/devices/HCP5-AUTH/settings', VALID_SETTINGS],
  ['GET', '/api/evaluations'],
  ['GET', '/api/stats'],
  ['GET', '/api/sync'],
  ['GET', '/api/export?format=csv'],
  ['GET', '/api/export?format=json'],
  ['GET', '/api/export?format=gb39046'],
  ['GET', '/api/audit'],
];

describe('auth (PROTOCOL 5: admin routes need the Bearer token)', () => {
  it('GET /api/health needs no token and reports the hall', async () => {
    const { status, json } = await api('GET', '/api/health', { auth: null });
    expect(status).toBe(200);
    expect(json).toEqual({ ok: true, hallId: HALL, version: HUB_VERSION, uptimeS: expect.any(Number), backlog: 0, platformConnected: false, devices: { online: 0, total: 0 } });
  });

  it('every admin route answers 401 without the token and with a wrong one, and changes nothing', async () => {
    await api('POST', '/api/devices/HCP5-AUTH/pair', { body: { windowId: 'A02', kind: 'evaluator' } });
    const wrong = [null, 'not-the-token', ADMIN.replace(/.$/, 'X'), ''];
    for (const [method, path, body] of ADMIN_ROUTES) {
      for (const auth of wrong) {
        const answer = await api(method, path, { body, auth });
        // [r2] an address that keeps sending wrong tokens is slowed down: 429, changing nothing either
        expectError(answer, answer.status === 429 ? 429 : 401);
      }
    }
    expect(logs().some((e) => e.msg === 'wrong tokens: address slowed down')).toBe(true);
    clock.advance(3_600_000); // the slowed-down address may try again
    const devices = (await api('GET', '/api/devices')).json.devices as Json[];
    expect(devices.map((d) => [d.deviceId, d.paired])).toEqual([['HCP5-AUTH', true]]);
    expect(hub.registry.staffAt('A01').duty).toBe('off');
    expect(hub.registry.pairing('HCP5-AUTH')?.settings.promptTimeoutS).not.toBe(VALID_SETTINGS.promptTimeoutS);
    // With the token every one of them succeeds: the 401s above were about the token alone.
    for (const [method, path, body] of ADMIN_ROUTES) {
      const answer = await api(method, path, { body });
      expect([200, 202], `${method} ${path}: ${answer.text}`).toContain(answer.status);
    }
  });
});

describe('windows: service and staff', () => {
  it('POST service is 202 and opens the transaction, with the staff on duty, that a rating then names', async () => {
    const staff = await api('PUT', '/api/windows/A01/staff', { body: { duty: 'on', staffId: 'S001', staffName: '李娜', staffTitle: '综合受理员' } });
    expect(staff.status).toBe(200);
    expect(staff.json).toEqual({ windowId: 'A01', duty: 'on', staffId: 'S001', staffName: '李娜', staffTitle: '综合受理员' });
    const done = await api('POST', '/api/windows/A01/service', { body: { event: 'done', txnId: 'T-900', matterCode: 'M-ID', matterName: '居民身份证换领' } });
    expect(done.status).toBe(202);
    expect(done.json).toEqual({ accepted: true, windowId: 'A01', txnId: 'T-900', event: 'done' });
    await commit(record('HCP5-T0001-1', 5, { txnId: 'T-900' }));
    const [row] = (await api('GET', '/api/evaluations')).json.evaluations as Json[];
    expect(row).toMatchObject({ id: 'HCP5-T0001-1', txnId: 'T-900', matterCode: 'M-ID', matterName: '居民身份证换领', staffId: 'S001', staffName: '李娜' });
  });

  it('refuses a wrong event, duty or field naming it, malformed and empty JSON, and unknown windows', async () => {
    expectError(await api('POST', '/api/windows/A01/service', { body: { event: 'finished', txnId: 'T-1' } }), 400, 'event');
    expectError(await api('POST', '/api/windows/A01/service', { body: { event: 'done' } }), 400, 'txnId');
    expectError(await api('POST', '/api/windows/A01/service', { body: { event: 'done', txnId: 'T-1', colour: 'red' } }), 400, 'colour');
    expectError(await api('PUT', '/api/windows/A01/staff', { body: { duty: 'maybe' } }), 400, 'duty');
    expectError(await api('POST', '/api/windows/A01/service', { raw: '{"event": "done", "txnId": ' }), 400);
    expectError(await api('PUT', '/api/windows/A01/staff', { raw: '' }), 400);
    expectError(await api('POST', '/api/windows/Z99/service', { body: { event: 'done', txnId: 'T-1' } }), 404);
    expectError(await api('PUT', '/api/windows/Z99/staff', { body: { duty: 'on' } }), 404);
    expect(hub.store.read((db) => db.prepare('SELECT COUNT(*) AS n FROM transactions').get())).toEqual({ n: 0 });
  });
});

describe('devices: pairing, settings, audit', () => {
  it('pairing a tablet returns a token once; an unknown id is a tablet unless kind says evaluator', async () => {
    const tablet = await api('POST', '/api/devices/TAB-01/pair', { body: { windowId: 'A01' } });
    expect(tablet.status).toBe(200);
    expect(tablet.json).toEqual({ deviceId: 'TAB-01', windowId: 'A01', kind: 'tablet', token: expect.stringMatching(/^[\w-]{16,}$/) });
    const again = await api('POST', '/api/devices/TAB-01/pair', { body: { windowId: 'A02' } });
    expect(again.json.token).not.toBe(tablet.json.token);
    const guessed = await api('POST', '/api/devices/HCP5-NEW/pair', { body: { windowId: 'A01' } });
    expect(guessed.json).toMatchObject({ kind: 'tablet', token: expect.any(String) });
    const evaluator = await api('POST', '/api/devices/HCP5-T0009/pair', { body: { windowId: 'A02', kind: 'evaluator' } });
    expect(evaluator.json).toEqual({ deviceId: 'HCP5-T0009', windowId: 'A02', kind: 'evaluator' });

    const listed = await api('GET', '/api/devices');
    const keys = ['deviceId', 'kind', 'paired', 'windowId', 'online', 'model', 'fwVersion', 'state', 'queued', 'lastSeenAt', 'linkErrors'];
    for (const d of listed.json.devices as Json[]) expect(Object.keys(d)).toEqual(expect.arrayContaining(keys));
    const byId = Object.fromEntries((listed.json.devices as Json[]).map((d) => [d.deviceId, d]));
    expect(byId['TAB-01']).toMatchObject({ kind: 'tablet', paired: true, windowId: 'A02', online: false, linkErrors: 0 });
    expect(byId['HCP5-T0009']).toMatchObject({ kind: 'evaluator', paired: true, windowId: 'A02', online: false });
    // Shown once: neither the device list nor the audit trail repeats a token.
    const audit = await api('GET', '/api/audit');
    for (const token of [tablet.json.token, again.json.token, guessed.json.token] as string[]) {
      expect(listed.text).not.toContain(token);
      expect(audit.text).not.toContain(token);
    }
    expect((await api('GET', '/api/health', { auth: null })).json.devices).toEqual({ online: 0, total: 3 });
  });

  it('unpairs, stores settings for an evaluator, and refuses bad bodies naming the field', async () => {
    await api('POST', '/api/devices/HCP5-T0009/pair', { body: { windowId: 'A01', kind: 'evaluator' } });
    const set = await api('PUT', '/api/devices/HCP5-T0009/settings', { body: VALID_SETTINGS });
    expect(set.status).toBe(200);
    expect(set.json).toEqual({ deviceId: 'HCP5-T0009', settings: VALID_SETTINGS, delivered: false });
    expect(hub.registry.pairing('HCP5-T0009')?.settings).toEqual(VALID_SETTINGS);
    expectError(await api('PUT', '/api/devices/HCP5-T0009/settings', { body: { ...VALID_SETTINGS, promptTimeoutS: 500 } }), 400, 'promptTimeoutS');
    expectError(await api('PUT', '/api/devices/HCP5-T0009/settings', { body: { ...VALID_SETTINGS, volume: undefined } }), 400, 'volume');
    expectError(await api('PUT', '/api/devices/HCP5-NONE/settings', { body: VALID_SETTINGS }), 404);
    expectError(await api('POST', '/api/devices/TAB-02/pair', { body: {} }), 400, 'windowId');
    expectError(await api('POST', '/api/devices/TAB-02/pair', { body: { windowId: 'A01', kind: 'printer' } }), 400, 'kind');
    expectError(await api('POST', '/api/devices/TAB-02/pair', { body: { windowId: 'Z99' } }), 404);
    expectError(await api('POST', '/api/devices/TAB-02/pair', { raw: '{windowId: A01}' }), 400);

    const unpaired = await api('DELETE', '/api/devices/HCP5-T0009/pair');
    expect(unpaired.status).toBe(200);
    expect(unpaired.json).toEqual({ deviceId: 'HCP5-T0009', paired: false });
    expect(hub.registry.pairing('HCP5-T0009')).toBeUndefined();
    expectError(await api('DELETE', '/api/devices/HCP5-T0009/pair'), 404);
    expect((await api('GET', '/api/devices')).json.devices).toEqual([expect.objectContaining({ deviceId: 'HCP5-T0009', paired: false, windowId: null })]);
  });

  it('the audit trail lists pair, staff, settings and unpair changes, newest first, by actor "api"', async () => {
    await api('POST', '/api/devices/TAB-01/pair', { body: { windowId: 'A01' } });
    await api('PUT', '/api/windows/A02/staff', { body: { duty: 'paused', staffId: 'S002', staffName: '王强' } });
    await api('POST', '/api/devices/HCP5-T0009/pair', { body: { windowId: 'A02', kind: 'evaluator' } });
    await api('PUT', '/api/devices/HCP5-T0009/settings', { body: VALID_SETTINGS });
    await api('DELETE', '/api/devices/TAB-01/pair');
    const { status, json } = await api('GET', '/api/audit');
    expect(status).toBe(200);
    expect(json.audit).toEqual([
      { at: expect.any(String), actor: 'admin', action: 'unpair', detail: { deviceId: 'TAB-01' } },
      { at: expect.any(String), actor: 'admin', action: 'settings', detail: { deviceId: 'HCP5-T0009', settings: VALID_SETTINGS } },
      { at: expect.any(String), actor: 'admin', action: 'pair', detail: { deviceId: 'HCP5-T0009', windowId: 'A02', kind: 'evaluator' } },
      { at: expect.any(String), actor: 'admin', action: 'staff', detail: { windowId: 'A02', duty: 'paused', staffId: 'S002' } },
      { at: expect.any(String), actor: 'admin', action: 'pair', detail: { deviceId: 'TAB-01', windowId: 'A01', kind: 'tablet' } },
    ]);
    const times = (json.audit as Json[]).map((a) => Date.parse(a.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });
});

describe('routing and limits', () => {
  it('404 for unknown routes and pages, 405 for a wrong method, 413 over 64 KiB', async () => {
    expectError(await api('GET', '/api/nothing'), 404);
    expectError(await api('GET', '/nothing-here', { auth: null }), 404);
    expectError(await api('GET', '/api/windows/A01/service'), 405);
    const big = { event: 'done', txnId: 'T-BIG', matterName: 'x'.repeat(MAX_BODY_BYTES) };
    expectError(await api('POST', '/api/windows/A01/service', { body: big }), 413);
    expect((await api('GET', '/api/health')).json.ok).toBe(true);
  });

  it('percent-escapes: a malformed one in the path is a client error, and a body windowId is taken literally', async () => {
    expectError(await api('POST', '/api/devices/TAB-01/pair', { body: { windowId: 'A%301' } }), 404);
    expectError(await api('POST', '/api/devices/TAB-01/pair', { body: { windowId: '100%' } }), 404);
    expect(hub.registry.device('TAB-01')).toBeUndefined();
    for (const [method, path] of [['POST', '/api/windows/%E0%A4%A/service'], ['DELETE', '/api/devices/%E0%A4%A/pair']] as const) {
      const answer = await api(method, path, { body: { event: 'done', txnId: 'T-1' } });
      expect([400, 404], `${method} ${path}: ${answer.status} ${answer.text}`).toContain(answer.status);
      expectError(answer, answer.status);
    }
  });
});

// ---- evaluations, stats, exports ----
const BASE = Date.now() - 3_600_000;
const at = (s: number) => new Date(BASE + s * 1000).toISOString();

const record = (id: string, level: number, patch: Partial<Evaluation> = {}): Evaluation =>
  evaluation({ id, level, hallId: HALL, areaCode: AREA, evaluatedAt: at(0), promptMs: 1500, ...patch });
const commit = (e: Evaluation) => hub.store.submit((db) => commitEvaluation(db, e, { attachWithinMs: 40_000, misuseWindowMs: 10_000 }));

/** The seeded hall; `counts` is what the contract says about each: does it count as a rating? */
type Seed = { e: Evaluation; counts: 'yes' | 'refused' | 'misuse' };
const SEED = ([
  { e: record('TAB-01-1', 5, { channel: 'tablet', origin: 'tablet', txnId: 'T-1', contact: '13812345678', consent: true, comment: '办得很快', reasons: [], promptMs: null }), counts: 'yes' },
  { e: record('HCP5-T0001-1', 4, { txnId: 'T-2' }), counts: 'yes' },
  { e: record('HCP5-T0001-2', 2, { txnId: 'T-3' }), counts: 'yes' },
  { e: record('HCP5-T0001-3', 0, { txnId: 'T-4', promptMs: 30_000 }), counts: 'yes' },
  { e: record('HCP5-T0001-4', 1, { txnId: 'T-1' }), counts: 'refused' },
  { e: record('HCP5-T0002-1', 1, { windowId: 'A02', txnId: 'T-6' }), counts: 'yes' },
  { e: record('HCP5-T0002-2', 5, { windowId: 'A02', origin: 'unsolicited', promptMs: 0 }), counts: 'yes' },
  { e: record('HCP5-T0002-3', 3, { windowId: 'A02', origin: 'unsolicited', promptMs: 0 }), counts: 'misuse' },
] satisfies Seed[]).map((s, i): Seed => ({ ...s, e: { ...s.e, evaluatedAt: at(i), receivedAt: at(i) } }));

async function seed(): Promise<void> {
  for (const { e, counts } of SEED) expect((await commit(e)).status).toBe(counts === 'refused' ? 'refused' : 'ok');
}

/** The expected dashboard row of one window, computed from the seed. */
function expectedStats(windowId: string, includeMisuse: boolean) {
  const rows = SEED.filter((s) => s.e.windowId === windowId && (s.counts === 'yes' || (includeMisuse && s.counts === 'misuse'))).map((s) => s.e);
  const levels = { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 } as Record<string, number>;
  for (const e of rows) if (e.level > 0) levels[String(e.level)]!++;
  const rated = rows.filter((e) => e.level > 0).length;
  const dissatisfied = rows.filter((e) => isDissatisfied(e.level)).length;
  const misuse = SEED.filter((s) => s.e.windowId === windowId && s.counts === 'misuse').length;
  return { key: windowId, levels, rated, dissatisfied, notEvaluated: rows.filter((e) => e.level === 0).length, satisfactionRate: rated ? (rated - dissatisfied) / rated : null, misuseExcluded: includeMisuse ? 0 : misuse };
}

describe('evaluations, stats, sync and exports', () => {
  it('GET /api/evaluations: newest first, contact masked, since and limit, bad parameters named', async () => {
    await seed();
    const all = await api('GET', '/api/evaluations');
    expect(all.status).toBe(200);
    expect((all.json.evaluations as Json[]).map((e) => e.id)).toEqual(SEED.map((s) => s.e.id).reverse());
    expect(all.json.evaluations.at(-1)).toMatchObject({ id: 'TAB-01-1', contact: '138****5678', channel: 'tablet', level: 5, hallId: HALL, areaCode: AREA, status: 'accepted', syncState: 'pending' });
    expect(all.text).not.toContain('13812345678');
    expect(all.json.evaluations.find((e: Json) => e.id === 'HCP5-T0001-4')).toMatchObject({ status: 'refused', refusal: 'already-evaluated' });
    const limited = await api('GET', '/api/evaluations?limit=2');
    expect((limited.json.evaluations as Json[]).map((e) => e.id)).toEqual(SEED.slice(-2).map((s) => s.e.id).reverse());
    const since = await api('GET', `/api/evaluations?since=${encodeURIComponent(SEED[5]!.e.receivedAt)}`);
    expect((since.json.evaluations as Json[]).map((e) => e.id)).toEqual(SEED.slice(5).map((s) => s.e.id).reverse());
    expectError(await api('GET', '/api/evaluations?limit=abc'), 400, 'limit');
    expectError(await api('GET', '/api/evaluations?limit=0'), 400, 'limit');
    expectError(await api('GET', '/api/evaluations?since=notadate'), 400, 'since');
  });

  it('GET /api/stats: counts per level, satisfaction, 差评, not evaluated; refused never, misuse only when asked', async () => {
    await seed();
    const range = `from=${encodeURIComponent(at(-60))}&to=${encodeURIComponent(at(60))}`;
    for (const includeMisuse of [false, true]) {
      const { status, json } = await api('GET', `/api/stats?${range}&by=window${includeMisuse ? '&includeMisuse=true' : ''}`);
      expect(status).toBe(200);
      expect(json).toMatchObject({ from: at(-60), to: at(60), by: 'window' });
      expect(json.groups.map((g: Json) => g.key)).toEqual(['A01', 'A02']);
      for (const g of json.groups as Json[]) {
        const { satisfactionRate, ...rest } = expectedStats(g.key, includeMisuse);
        expect(g).toMatchObject(rest);
        expect(g.satisfactionRate).toBeCloseTo(satisfactionRate!, 4);
      }
    }
    const byChannel = await api('GET', `/api/stats?${range}&by=channel`);
    const counted = SEED.filter((s) => s.counts === 'yes').map((s) => s.e);
    expect(byChannel.json.groups.map((g: Json) => [g.key, g.rated + g.notEvaluated])).toEqual(
      ['evaluator', 'tablet'].map((c) => [c, counted.filter((e) => e.channel === c).length]),
    );
    const empty = await api('GET', `/api/stats?from=${encodeURIComponent(at(600))}`);
    expect(empty.json.groups).toEqual([]);
    expectError(await api('GET', '/api/stats?by=color'), 400, 'by');
    expectError(await api('GET', '/api/stats?from=notadate'), 400, 'from');
    expectError(await api('GET', '/api/stats?to=yesterday-ish'), 400, 'to');
  });

  it('GET /api/sync and /api/health count the backlog: accepted pending, refused kept local', async () => {
    await seed();
    const accepted = SEED.filter((s) => s.counts !== 'refused');
    const sync = await api('GET', '/api/sync');
    expect(sync.status).toBe(200);
    expect(sync.json).toMatchObject({
      backlog: { pending: accepted.length, sent: 0, confirmed: 0, rejected: 0, notSynced: SEED.length - accepted.length },
      oldestUnsyncedAt: accepted[0]!.e.receivedAt,
      lastPubackAt: null,
      lastReceiptAt: null,
      platformConnected: false,
    });
    expect((await api('GET', '/api/health', { auth: null })).json.backlog).toBe(accepted.length);
  });

  it('exports csv, json and GB/T 39046: accepted records only, 5 -> code 1, level 0 -> 未评价 with no code', async () => {
    await seed();
    const accepted = SEED.filter((s) => s.counts !== 'refused').map((s) => s.e);
    const json = await api('GET', '/api/export?format=json');
    expect(json.type).toMatch(/^application\/json/);
    expect((json.json as Json[]).map((e) => e.id)).toEqual(accepted.map((e) => e.id));
    expect(json.json[0].contact).toBe('138****5678');
    expect(json.text).not.toContain('13812345678');

    const csv = await api('GET', '/api/export?format=csv');
    expect(csv.type).toMatch(/^text\/csv/);
    const csvLines = csv.text.trimEnd().split('\r\n');
    expect(csvLines[0]!.split(',').slice(0, 3)).toEqual(['id', 'channel', 'level']);
    expect(csvLines.slice(1).map((l) => l.split(',').slice(0, 3))).toEqual(accepted.map((e) => [e.id, e.channel, String(e.level)]));

    const gb = await api('GET', '/api/export?format=gb39046');
    const [header, ...lines] = gb.text.trimEnd().split('\r\n');
    expect(header).toBe(NATIONAL_COLUMNS.join(','));
    const rows = lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [NATIONAL_COLUMNS[i], v])));
    // PROTOCOL 4.2 [r2]: misuse-flagged records stay out of the national export
    const national = SEED.filter((x) => x.counts === 'yes');
    expect(rows).toHaveLength(national.length);
    expect(national.length).toBe(accepted.length - 1);
    const cst = (iso: string) => new Date(Date.parse(iso) + 8 * 3600_000).toISOString().replace(/[-:]/g, '').slice(0, 15);
    const first = accepted[0]!;
    expect(rows[0]).toEqual({ 办件编号: 'T-1', 评价渠道: '政务大厅平板电脑', 评价人: '', 评价时间: cst(first.evaluatedAt), 评价次数: '1', 满意度: '非常满意', 满意度代码: '1', 文字评价: '办得很快', 行政区划: AREA });
    expect(rows.find((r) => r['办件编号'] === 'T-4')).toMatchObject({ 评价渠道: '政务大厅其他终端', 满意度: '未评价', 满意度代码: '' });
    expect(rows.find((r) => r['办件编号'] === 'T-6')).toMatchObject({ 满意度: '非常不满意', 满意度代码: '5' });
    expectError(await api('GET', '/api/export?format=xml'), 400, 'format');
  });
});
