/**
 * The QR channel (PROTOCOL 8, issue 13 items 1 and 4): the token's exact bytes, every refusal,
 * the phone page in Debian's Chromium at 360×640, and ratings the platform collects, over a
 * real Mosquitto, answered on `channel-acks` only after the commit. In-process hubs; the
 * hub's clock is a manual one where expiry matters. Every wait is on an event with a deadline.
 */
import { createHmac } from 'node:crypto';
import mqtt from 'mqtt';
import type { Page } from 'playwright-core';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../hub/config.js';
import { Hub } from '../hub/hub.js';
import type { LogEntry } from '../hub/log.js';
import { hubBaseUrl, readToken, signToken } from '../hub/qr.js';
import { DEFAULT_REASONS, platformTopics } from '../protocol/index.js';
import { ManualClock } from '../simulators/manual-clock.js';
import { sharedBrowser } from './support/browser.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { startMosquitto } from './support/mosquitto.js';
import { waitFor } from './support/processes.js';
import { apiCall } from './support/hub.js';

const cleanups = cleanupsAfterEach();
const browser = sharedBrowser();
const HALL = '430300-001';
const ADMIN = 'qr-test-admin-token-4c1d';
const SECRET = 'qr-test-secret-9f8e7d6c5b4a';
const PHONE = '13912340001';
const DEADLINE_MS = 5000;
type Json = any;

/** PROTOCOL 8 computed here on its own: base64url of the JSON, HMAC-SHA256 cut to 16 bytes. */
function expectedToken(secret: string, json: string): string {
  const payload = Buffer.from(json, 'utf8').toString('base64url');
  const mac = createHmac('sha256', secret).update(payload, 'ascii').digest().subarray(0, 16).toString('base64url');
  return `${payload}.${mac}`;
}

describe('the QR token (PROTOCOL 8)', () => {
  it('has the exact bytes of the contract: fixed vectors, also checked with openssl when they were written', () => {
    const claims = { h: HALL, t: 'T-2026-000123', w: 'A01', e: 1796140800 };
    const vector = 'eyJoIjoiNDMwMzAwLTAwMSIsInQiOiJULTIwMjYtMDAwMTIzIiwidyI6IkEwMSIsImUiOjE3OTYxNDA4MDB9.5BnY6SBbS0Y6UPvNUwedSw';
    expect(expectedToken(SECRET, '{"h":"430300-001","t":"T-2026-000123","w":"A01","e":1796140800}')).toBe(vector);
    expect(signToken(SECRET, claims)).toBe(vector);
    // a txnId in Chinese is UTF-8 in the JSON, never escaped
    const chinese = { h: HALL, t: '办件-湘潭-001', w: 'B02', e: 1796140800 };
    const chineseVector = 'eyJoIjoiNDMwMzAwLTAwMSIsInQiOiLlip7ku7Yt5rmY5r2tLTAwMSIsInciOiJCMDIiLCJlIjoxNzk2MTQwODAwfQ.4v0C1tZMVnG5A1Ml2Jq-Qw';
    expect(expectedToken(SECRET, '{"h":"430300-001","t":"办件-湘潭-001","w":"B02","e":1796140800}')).toBe(chineseVector);
    expect(signToken(SECRET, chinese)).toBe(chineseVector);
    // keys in the contract's order whatever order the caller wrote them in
    expect(signToken(SECRET, { e: 1796140800, w: 'A01', t: 'T-2026-000123', h: HALL })).toBe(vector);
    expect(vector).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/); // no padding, URL-safe
    expect(readToken(SECRET, vector, HALL, 1796140800_000 - 1)).toEqual({ ok: true, claims });
    expect(readToken(SECRET, chineseVector, HALL, 0)).toEqual({ ok: true, claims: chinese });
  });

  it('refuses a bad MAC, a malformed token or another hall as bad-token, and one at or past its expiry as expired', () => {
    const e = 1796140800;
    const good = signToken(SECRET, { h: HALL, t: 'T-1', w: 'A01', e });
    const [payload, mac] = good.split('.') as [string, string];
    const flipped = `${payload}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`;
    const bad = { ok: false, reason: 'bad-token' };
    for (const token of [
      flipped,
      signToken('another-secret-of-16-chars', { h: HALL, t: 'T-1', w: 'A01', e }),
      `${payload}.${mac}.x`,
      payload,
      '',
      '.',
      `${payload}=.${mac}`,
      `${payload}.${mac.slice(0, 21)}`,
      `${payload.replace(/^e/, 'f')}.${mac}`,
      expectedToken(SECRET, 'not json'),
      expectedToken(SECRET, '{"h":"430300-001","t":"T-1","w":"A01"}'),
      expectedToken(SECRET, '{"h":"430300-001","t":"T-1","w":"A01","e":"soon"}'),
      signToken(SECRET, { h: '430300-002', t: 'T-1', w: 'A01', e }),
      'x'.repeat(5000),
    ]) {
      expect(readToken(SECRET, token, HALL, 0), token.slice(0, 60)).toEqual(bad);
    }
    expect(readToken(SECRET, good, HALL, e * 1000)).toEqual({ ok: false, reason: 'expired', claims: { h: HALL, t: 'T-1', w: 'A01', e } });
    expect(readToken(SECRET, good, HALL, e * 1000 - 1).ok).toBe(true);
  });

  it('the hub answers its own address when qr.baseUrl is not set; a hub on every interface names its LAN address', () => {
    expect(hubBaseUrl('127.0.0.1', 8080)).toBe('http://127.0.0.1:8080');
    const lan = { lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }], eth0: [{ address: '192.168.10.20', family: 'IPv4', internal: false }] } as unknown as ReturnType<typeof import('node:os').networkInterfaces>;
    expect(hubBaseUrl('0.0.0.0', 8080, lan)).toBe('http://192.168.10.20:8080');
  });
});

/** An in-process hub on a manual clock; `qr` and `platform` as given. */
async function qrHub(options: { qr?: Record<string, unknown> | null; platformUrl?: string; clock?: ManualClock } = {}) {
  const dir = tempDir(cleanups, 'qr');
  const logs: LogEntry[] = [];
  const config = parseConfig({
    hallId: HALL,
    hallName: '湘潭市政务服务中心',
    areaCode: '430300',
    dataDir: dir,
    adminToken: ADMIN,
    http: { host: '127.0.0.1', port: 0 },
    devices: { discover: { serial: false, hid: false } },
    windows: [
      { id: 'A01', name: 'A01 综合受理' },
      { id: 'B01', name: 'B01 不动产登记' },
    ],
    ...(options.qr === null ? {} : { qr: options.qr ?? { secret: SECRET, validH: 72 } }),
    ...(options.platformUrl ? { platform: { url: options.platformUrl } } : {}),
  });
  const hub = new Hub({ config, log: (e) => logs.push(e), ...(options.clock ? { clock: options.clock } : {}) });
  await hub.start();
  cleanups.push(() => hub.stop());
  const base = `http://127.0.0.1:${hub.port}`;
  const api = (method: string, path: string, body?: unknown, auth: string | null = `Bearer ${ADMIN}`) => apiCall(base, method, path, body, auth);
  const done = async (windowId: string, txnId: string, extra: Record<string, unknown> = {}) => {
    const r = await api('POST', `/api/windows/${windowId}/service`, { event: 'done', txnId, matterCode: 'M1', matterName: '营业执照', ...extra });
    expect(r.status).toBe(202);
    return r.json.rateUrl as string | undefined;
  };
  const tokenOf = (rateUrl: string) => rateUrl.slice(rateUrl.indexOf('/r/') + 3);
  const rows = (sql: string, ...params: unknown[]) => hub.store.read((db) => db.prepare(sql).all(...params)) as Json[];
  await api('PUT', '/api/windows/A01/staff', { duty: 'on', staffId: 'S-A', staffName: '李明' });
  return { hub, base, api, done, tokenOf, rows, logs };
}

describe('QR links on the hub', () => {
  let clock: ManualClock;
  let h: Awaited<ReturnType<typeof qrHub>>;
  beforeEach(async () => {
    clock = new ManualClock(Date.parse('2026-12-01T02:00:00.250Z'));
    h = await qrHub({ clock });
  });

  it('`done` answers the rateUrl of PROTOCOL 8, expiring qr.validH hours after done on the hub clock; other events answer none', async () => {
    const rateUrl = await h.done('A01', 'T-1');
    const e = Math.floor(clock.now() / 1000) + 72 * 3600;
    expect(rateUrl).toBe(`${h.base}/r/${expectedToken(SECRET, `{"h":"${HALL}","t":"T-1","w":"A01","e":${e}}`)}`);
    const started = await h.api('POST', '/api/windows/A01/service', { event: 'started', txnId: 'T-2' });
    expect(started.json.rateUrl).toBeUndefined();
  });

  it('a rating through the link is committed on channel qr, id QR-{txnId}, with the window and clerk of the transaction and the hub time; the same rating again is a duplicate, another one already-evaluated', async () => {
    const token = h.tokenOf((await h.done('A01', 'T-1'))!);
    // the clerk changes after the transaction: the rating is still the first clerk's
    await h.api('PUT', '/api/windows/A01/staff', { duty: 'on', staffId: 'S-X', staffName: '王五' });
    expect(await h.api('GET', `/api/rate/${token}`, undefined, null)).toMatchObject({ status: 200, json: { state: 'open', hallName: '湘潭市政务服务中心', windowName: 'A01 综合受理', staffName: '李明', matterName: '营业执照', reasons: DEFAULT_REASONS } });
    clock.set(clock.now() + 90_000);
    const r = await h.api('POST', `/api/rate/${token}`, { level: 2, reasons: ['attitude', 'long-wait'], comment: '等了很久', windowId: 'B01', staffId: 'S-B' }, null);
    expect(r).toEqual({ status: 200, json: { id: 'QR-T-1', status: 'ok' } });
    expect(h.rows(`SELECT id, channel, level, reasons, comment, txn_id, window_id, staff_id, staff_name, matter_name, origin, evaluated_at, device_id, status FROM evaluations`)).toEqual([
      { id: 'QR-T-1', channel: 'qr', level: 2, reasons: '["attitude","long-wait"]', comment: '等了很久', txn_id: 'T-1', window_id: 'A01', staff_id: 'S-A', staff_name: '李明', matter_name: '营业执照', origin: 'prompted', evaluated_at: new Date(clock.now()).toISOString(), device_id: 'qr-page', status: 'accepted' },
    ]);
    expect(h.rows(`SELECT rated_by FROM transactions WHERE txn_id = 'T-1'`)).toEqual([{ rated_by: 'QR-T-1' }]);
    expect((await h.api('POST', `/api/rate/${token}`, { level: 2, reasons: ['long-wait', 'attitude'], comment: '等了很久' }, null)).json).toEqual({ id: 'QR-T-1', status: 'duplicate' });
    const second = await h.api('POST', `/api/rate/${token}`, { level: 5 }, null);
    expect(second).toMatchObject({ status: 409, json: { id: 'QR-T-1', status: 'rejected', reason: 'already-evaluated', error: { code: 'already-evaluated' } } });
    expect((await h.api('GET', `/api/rate/${token}`, undefined, null)).json).toEqual({ state: 'rated', hallName: '湘潭市政务服务中心', byThisLink: true });
    expect(h.rows(`SELECT COUNT(*) AS n FROM evaluations`)[0].n).toBe(1);
  });

  it('refuses every bad link: bad MAC, malformed, another hall, another window, a transaction never recorded or cancelled (bad-token), past its expiry (expired), rated on another channel (already-evaluated), invalid fields (invalid)', async () => {
    const token = h.tokenOf((await h.done('A01', 'T-1'))!);
    const e = Math.floor(clock.now() / 1000) + 72 * 3600;
    await h.api('POST', '/api/windows/B01/service', { event: 'done', txnId: 'T-B' });
    await h.done('A01', 'T-C');
    await h.api('POST', '/api/windows/A01/service', { event: 'cancelled', txnId: 'T-C' });
    const [payload, mac] = token.split('.') as [string, string];
    const badTokens = [
      `${payload}.${mac.slice(0, -2)}AA`,
      'not-a-token',
      '%E0%A4%A',
      signToken(SECRET, { h: '430300-002', t: 'T-1', w: 'A01', e }),
      signToken(SECRET, { h: HALL, t: 'T-1', w: 'B01', e }), // T-1 was done at A01
      signToken(SECRET, { h: HALL, t: 'T-B', w: 'A01', e }),
      signToken(SECRET, { h: HALL, t: 'T-NEVER', w: 'A01', e }),
      signToken(SECRET, { h: HALL, t: 'T-C', w: 'A01', e }),
    ];
    for (const bad of badTokens) {
      expect(await h.api('POST', `/api/rate/${bad}`, { level: 5 }, null), bad).toMatchObject({ status: 404, json: { id: '', status: 'rejected', reason: 'bad-token', error: { code: 'bad-token' } } });
      expect((await h.api('GET', `/api/rate/${bad}`, undefined, null)).json.state).toBe('bad-token');
    }
    for (const body of [{ level: 0 }, { level: 6 }, { level: '5' }, { level: 4.5 }, {}, { level: 2, reasons: ['not-in-the-catalogue'] }, { level: 2, reasons: 'attitude' }, { level: 3, comment: '很'.repeat(501) }, '{"level": 5', '']) {
      expect(await h.api('POST', `/api/rate/${token}`, body, null), JSON.stringify(body).slice(0, 40)).toMatchObject({ status: 400, json: { id: 'QR-T-1', status: 'rejected', reason: 'invalid' } });
    }
    expect(h.rows(`SELECT COUNT(*) AS n FROM evaluations`)[0].n).toBe(0);

    // rated by telephone first: the link is used up, the QR attempt kept for audit and not counted
    const t2 = h.tokenOf((await h.done('A01', 'T-2', { contact: PHONE, contactConsent: true }))!);
    expect((await h.api('POST', '/api/callbacks/T-2', { level: 4 })).status).toBe(201);
    expect(await h.api('POST', `/api/rate/${t2}`, { level: 1 }, null)).toMatchObject({ status: 409, json: { id: 'QR-T-2', status: 'rejected', reason: 'already-evaluated' } });
    expect((await h.api('GET', `/api/rate/${t2}`, undefined, null)).json).toEqual({ state: 'rated', hallName: '湘潭市政务服务中心', byThisLink: false });
    expect(h.rows(`SELECT id, status, refusal FROM evaluations WHERE txn_id = 'T-2' ORDER BY id`)).toEqual([
      { id: 'QR-T-2', status: 'refused', refusal: 'already-evaluated' },
      { id: 'TEL-T-2', status: 'accepted', refusal: null },
    ]);

    // past the expiry on the hub's clock
    clock.set(e * 1000);
    expect(await h.api('POST', `/api/rate/${token}`, { level: 5 }, null)).toMatchObject({ status: 410, json: { id: 'QR-T-1', status: 'rejected', reason: 'expired', error: { code: 'expired' } } });
    expect((await h.api('GET', `/api/rate/${token}`, undefined, null)).json.state).toBe('expired');
    expect(h.rows(`SELECT COUNT(*) AS n FROM evaluations WHERE txn_id = 'T-1'`)[0].n).toBe(0);
  });

  it('a hub without `qr` answers no rateUrl and refuses every link as bad-token', async () => {
    const plain = await qrHub({ qr: null });
    expect(await plain.done('A01', 'T-1')).toBeUndefined();
    const token = signToken(SECRET, { h: HALL, t: 'T-1', w: 'A01', e: Math.floor(Date.now() / 1000) + 3600 });
    expect(await plain.api('POST', `/api/rate/${token}`, { level: 5 }, null)).toMatchObject({ status: 404, json: { reason: 'bad-token' } });
  });
});

describe('the phone page (GET /r/{token}) in Chromium at 360×640', () => {
  async function phone(url: string): Promise<Page> {
    const page = await browser().newPage({ viewport: { width: 360, height: 640 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 });
    cleanups.push(() => page.close());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    cleanups.push(() => expect(errors, 'no script errors on the page').toEqual([]));
    await page.goto(url);
    return page;
  }
  const visible = (page: Page, id: string) => page.waitForSelector(`#${id}`, { state: 'visible', timeout: DEADLINE_MS });

  it('five faces and words at 适老化 sizes on one screen; tap 满意 → thanks, committed', async () => {
    const h = await qrHub();
    const rateUrl = (await h.done('A01', 'T-P1'))!;
    const page = await phone(rateUrl);
    await visible(page, 'choose');
    expect(await page.textContent('#hall')).toBe('湘潭市政务服务中心');
    expect(await page.textContent('#txn')).toContain('营业执照');
    const levels = await page.$$eval('#levels button', (buttons) =>
      buttons.map((b) => {
        const box = b.getBoundingClientRect();
        const word = b.querySelector('span')!;
        return { level: b.getAttribute('data-level'), word: word.textContent, fontPx: parseFloat(getComputedStyle(word).fontSize), width: box.width, height: box.height, bottom: box.bottom, hasFace: !!b.querySelector('svg') };
      }),
    );
    expect(levels.map((l) => [l.level, l.word])).toEqual([['5', '非常满意'], ['4', '满意'], ['3', '基本满意'], ['2', '不满意'], ['1', '非常不满意']]);
    for (const l of levels) {
      expect(l.fontPx, `word of level ${l.level}`).toBeGreaterThanOrEqual(24);
      expect(l.width).toBeGreaterThanOrEqual(60);
      expect(l.height).toBeGreaterThanOrEqual(60);
      expect(l.bottom, 'all five on the first screen, no scrolling').toBeLessThanOrEqual(640);
      expect(l.hasFace).toBe(true);
    }
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    const minText = await page.evaluate(() => Math.min(...[...document.querySelectorAll('h1, h2, p, button, span')].filter((e) => (e as HTMLElement).offsetParent).map((e) => parseFloat(getComputedStyle(e).fontSize))));
    expect(minText).toBeGreaterThanOrEqual(24);
    await page.tap('#levels button[data-level="4"]');
    await visible(page, 'thanks');
    expect(h.rows(`SELECT id, channel, level FROM evaluations`)).toEqual([{ id: 'QR-T-P1', channel: 'qr', level: 4 }]);
    // the link opened again says thanks, not an error
    await page.reload();
    await visible(page, 'thanks');
  });

  it('a 差评 asks why with the hall\'s reasons (60 px targets), takes a comment, and says thanks', async () => {
    const h = await qrHub();
    const page = await phone((await h.done('A01', 'T-P2'))!);
    await visible(page, 'choose');
    await page.tap('#levels button[data-level="2"]');
    await visible(page, 'detail');
    expect(await page.textContent('#chosen')).toBe('不满意');
    const chips = await page.$$eval('#reasons button', (buttons) => buttons.map((b) => ({ code: b.getAttribute('data-reason'), height: b.getBoundingClientRect().height, width: b.getBoundingClientRect().width, fontPx: parseFloat(getComputedStyle(b).fontSize) })));
    expect(chips.map((c) => c.code)).toEqual(DEFAULT_REASONS.map((r) => r.code));
    for (const c of chips) {
      expect(c.height).toBeGreaterThanOrEqual(60);
      expect(c.width).toBeGreaterThanOrEqual(60);
      expect(c.fontPx).toBeGreaterThanOrEqual(24);
    }
    for (const id of ['back', 'send']) {
      const box = (await page.locator(`#${id}`).boundingBox())!;
      expect(box.height).toBeGreaterThanOrEqual(60);
    }
    await page.tap('button[data-reason="attitude"]');
    await page.tap('button[data-reason="long-wait"]');
    expect(await page.getAttribute('button[data-reason="attitude"]', 'aria-pressed')).toBe('true');
    await page.fill('#comment', '窗口人员态度冷淡');
    await page.tap('#send');
    await visible(page, 'thanks');
    expect(h.rows(`SELECT id, level, reasons, comment FROM evaluations`)).toEqual([{ id: 'QR-T-P2', level: 2, reasons: '["attitude","long-wait"]', comment: '窗口人员态度冷淡' }]);
  });

  it('a rating that cannot get through (the phone lost the Wi-Fi) stays on the page and goes with 重试', async () => {
    const h = await qrHub();
    const page = await phone((await h.done('A01', 'T-P3'))!);
    await visible(page, 'choose');
    await page.context().setOffline(true);
    await page.tap('#levels button[data-level="5"]');
    await visible(page, 'message');
    expect(await page.textContent('#message-title')).toBe('网络不畅，评价尚未提交');
    expect(h.rows(`SELECT id FROM evaluations`)).toEqual([]);
    await page.context().setOffline(false);
    await page.tap('#retry');
    await visible(page, 'thanks');
    expect(h.rows(`SELECT id, level FROM evaluations`)).toEqual([{ id: 'QR-T-P3', level: 5 }]);
  });

  it('an expired, used or bad link shows a clear message; the page is a few KB', async () => {
    const clock = new ManualClock(Date.now());
    const h = await qrHub({ clock });
    const expired = (await h.done('A01', 'T-E'))!;
    const used = (await h.done('A01', 'T-U', { contact: PHONE, contactConsent: true }))!;
    expect((await h.api('POST', '/api/callbacks/T-U', { level: 5 })).status).toBe(201);
    const page = await phone(used);
    await visible(page, 'message');
    expect(await page.textContent('#message-title')).toBe('此次办件已评价');
    await page.goto(`${h.base}/r/not-a-token`);
    await visible(page, 'message');
    expect(await page.textContent('#message-title')).toBe('评价链接无效');
    clock.set(clock.now() + 72 * 3_600_000);
    await page.goto(expired);
    await visible(page, 'message');
    expect(await page.textContent('#message-title')).toBe('评价链接已过期');
    const [html, js, css] = await Promise.all([`/r/x.y`, '/assets/rate.js', '/assets/rate.css'].map(async (p) => (await fetch(`${h.base}${p}`)).text()));
    expect(js!.length, 'rate.js').toBeLessThan(6 * 1024);
    expect(html!.length + js!.length + css!.length, 'the whole page').toBeLessThan(12 * 1024);
  });
});

describe('QR ratings collected by the platform (PROTOCOL 3 channel-ratings, channel-acks) over a real Mosquitto', () => {
  it('verifies, applies 一事一评, commits, then answers on channel-acks; every refusal has its reason', async () => {
    const broker = await startMosquitto(tempDir(cleanups, 'qr-mosquitto'));
    cleanups.push(() => broker.stop());
    const h = await qrHub({ platformUrl: broker.url });
    const platform = await mqtt.connectAsync(broker.url, { clientId: 'platform-test', protocolVersion: 5, reconnectPeriod: 0 });
    cleanups.push(() => platform.endAsync(true));
    const acks: { ack: Json; storedAtAck: Json[] }[] = [];
    const listeners = new Set<(a: Json) => void>();
    const batches: Json[] = [];
    platform.on('message', (topic, payload) => {
      if (topic === platformTopics.evaluations(HALL)) {
        batches.push(JSON.parse(payload.toString()));
        for (const l of listeners) l(undefined);
        return;
      }
      const ack = JSON.parse(payload.toString());
      // what the hub had committed when it answered
      acks.push({ ack, storedAtAck: h.rows(`SELECT id, level, status FROM evaluations WHERE id LIKE 'QR-%' ORDER BY id`) });
      for (const l of listeners) l(ack);
    });
    await platform.subscribeAsync([platformTopics.channelAcks(HALL), platformTopics.evaluations(HALL)], { qos: 1 });
    if (!h.hub.platform!.state.connected) await waitFor<void>((l) => (h.hub.platform!.on('connected', l), () => h.hub.platform!.off('connected', l)), () => true, DEADLINE_MS, 'the hub to connect to the platform');

    let n = 0;
    const send = async (fields: Record<string, unknown> | string) => {
      const id = typeof fields === 'string' ? '' : String(fields['id']);
      const seen = n++;
      const answered = waitFor<Json>((l) => (listeners.add(l), () => listeners.delete(l)), () => acks.length > seen, DEADLINE_MS, `the ack of ${id || 'a malformed rating'}`);
      await platform.publishAsync(platformTopics.channelRatings(HALL), typeof fields === 'string' ? fields : JSON.stringify(fields), { qos: 1 });
      await answered;
      return acks[seen]!;
    };
    const now = Date.now();
    const at = (ms: number) => new Date(ms).toISOString();
    const token = h.tokenOf((await h.done('A01', 'T-1'))!);

    const first = await send({ id: 'PF-1', token, level: 2, reasons: ['attitude'], comment: '态度差', evaluatedAt: at(now - 60_000) });
    expect(first.ack).toEqual({ id: 'PF-1', status: 'ok' });
    expect(first.storedAtAck).toEqual([{ id: 'QR-T-1', level: 2, status: 'accepted' }]); // committed before the answer
    expect(h.rows(`SELECT channel, window_id, staff_id, evaluated_at, device_id FROM evaluations WHERE id = 'QR-T-1'`)).toEqual([{ channel: 'qr', window_id: 'A01', staff_id: 'S-A', evaluated_at: at(now - 60_000), device_id: 'qr-platform' }]);
    // the same rating delivered again is a duplicate; another rating of T-1 is a second one
    expect((await send({ id: 'PF-1', token, level: 2, reasons: ['attitude'], comment: '态度差', evaluatedAt: at(now - 60_000) })).ack).toEqual({ id: 'PF-1', status: 'duplicate' });
    expect((await send({ id: 'PF-2', token, level: 5, evaluatedAt: at(now) })).ack).toEqual({ id: 'PF-2', status: 'rejected', reason: 'already-evaluated' });

    // expiry is checked at the citizen's tap: a rating made in time and delivered late is taken
    await h.done('A01', 'T-LATE');
    const e = Math.floor(now / 1000) - 10;
    const late = signToken(SECRET, { h: HALL, t: 'T-LATE', w: 'A01', e });
    expect((await send({ id: 'PF-3', token: late, level: 4, evaluatedAt: at((e - 60) * 1000) })).ack).toEqual({ id: 'PF-3', status: 'ok' });
    await h.done('A01', 'T-EXP');
    expect((await send({ id: 'PF-4', token: signToken(SECRET, { h: HALL, t: 'T-EXP', w: 'A01', e }), level: 4, evaluatedAt: at(now) })).ack).toEqual({ id: 'PF-4', status: 'rejected', reason: 'expired' });

    const t3 = h.tokenOf((await h.done('A01', 'T-3'))!);
    for (const [id, fields, reason] of [
      ['PF-5', { token: `${t3.slice(0, -1)}${t3.endsWith('A') ? 'B' : 'A'}`, level: 4 }, 'bad-token'],
      ['PF-6', { token: signToken(SECRET, { h: '430300-002', t: 'T-3', w: 'A01', e: e + 3600 }), level: 4 }, 'bad-token'],
      ['PF-7', { token: t3, level: 0 }, 'invalid'],
      ['PF-8', { token: t3, level: 2, reasons: ['nope'] }, 'invalid'],
      ['PF-9', { token: t3, level: 4, evaluatedAt: 'yesterday' }, 'invalid'],
      ['PF-10', { token: t3, level: 4, evaluatedAt: at(now + 3_600_000) }, 'invalid'],
    ] as const) {
      expect((await send({ id, evaluatedAt: at(now), ...fields })).ack, id).toEqual({ id, status: 'rejected', reason });
    }
    expect((await send('{"id": "PF-11", "token"')).ack).toEqual({ id: '', status: 'rejected', reason: 'invalid' });
    expect(h.rows(`SELECT COUNT(*) AS n FROM evaluations WHERE txn_id = 'T-3'`)[0].n).toBe(0);

    // and the rating goes to the platform like any other
    const synced = () => batches.some((b) => b.items.some((i: Json) => i.id === 'QR-T-1' && i.channel === 'qr'));
    if (!synced()) await waitFor<void>((l) => (listeners.add(l), () => listeners.delete(l)), synced, DEADLINE_MS, 'QR-T-1 in an evaluations batch');
  });
});
