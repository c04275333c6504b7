/**
 * The citizen's tablet page in Debian's headless Chromium against a real hub process and its
 * embedded broker: rating an offered transaction, surviving a hub outage, and the 适老化
 * numbers measured on the rendered page plus an automated accessibility audit. The first minute
 * as a 70-year-old citizen meets it (issue 13 item 5), on a landscape 1280x800 and a portrait
 * 800x1280 tablet: five choices that fit and fill the screen, the reasons screen's buttons on
 * screen, no empty transaction line, a level kept when the citizen walks away, and the QR code
 * for a citizen who would rather rate on their own phone.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import QRCode from 'qrcode';
import { describe, expect, it } from 'vitest';
import { hallTopics } from '../protocol/index.js';
import { freePort } from './support/mosquitto.js';
import { startHub, type HubProcess } from './support/hub.js';
import { contrast, sharedBrowser } from './support/browser.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { HALL_ID, openPage, pagesHall } from './support/pages-hall.js';

const require = createRequire(import.meta.url);
const browser = sharedBrowser();
const cleanups = cleanupsAfterEach();

async function hallWithTablet(port = 0, dir = tempDir(cleanups, 'tablet')): Promise<{ hub: HubProcess; dir: string; token: string }> {
  const hub = await startHub(dir, { hallId: '430300-001', hallName: '湘潭市政务服务中心', http: { host: '127.0.0.1', port }, windows: [{ id: 'A01', name: 'A01 综合受理' }] });
  cleanups.push(() => {
    if (hub.proc.child.exitCode === null) hub.proc.child.kill('SIGKILL');
  });
  const paired = await hub.api('POST', '/api/devices/TAB-01/pair', { windowId: 'A01' });
  await hub.api('PUT', '/api/windows/A01/staff', { duty: 'on', staffId: 'S007', staffName: '李明' });
  return { hub, dir, token: paired.json.token as string };
}

/** The two tablets of a hall: landscape and portrait. */
const SIZES = [
  { width: 1280, height: 800 },
  { width: 800, height: 1280 },
] as const;
type Size = (typeof SIZES)[number];

async function openTablet(hub: HubProcess, token: string, viewport: Size = SIZES[0]): Promise<Page> {
  const page = await browser().newPage({ viewport });
  cleanups.push(() => page.close());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  cleanups.push(() => expect(errors, 'no script errors on the page').toEqual([]));
  await page.goto(`${hub.url}/tablet?tablet=TAB-01&token=${token}`);
  await page.waitForFunction(() => document.getElementById('conn')?.dataset['state'] === 'online', null, { timeout: 10_000 });
  return page;
}

describe('the citizen tablet page', () => {
  it('rates an offered transaction 不满意 with two reasons and a comment; the hub has it with those fields', async () => {
    const { hub, token } = await hallWithTablet();
    const page = await openTablet(hub, token);
    await hub.api('POST', '/api/windows/A01/service', { event: 'done', txnId: 'T-77', matterCode: 'M9', matterName: '营业执照' });
    await page.waitForFunction(() => document.getElementById('txn-matter')?.textContent === '营业执照', null, { timeout: 5000 });
    expect(await page.textContent('#txn-clerk')).toBe('李明');
    await page.click('button[data-level="2"]');
    await page.click('button[data-reason="attitude"]');
    await page.click('button[data-reason="long-wait"]');
    await page.fill('#comment', '窗口人员态度冷淡，等了四十分钟');
    await page.fill('#phone', '13812345678');
    await page.check('#consent');
    await page.click('#submit');
    await page.waitForFunction(() => JSON.parse(localStorage.getItem('hcp.outbox') ?? '[]').length === 0, null, { timeout: 5000 });
    expect(await page.isVisible('#screen-thanks')).toBe(true);
    const { json } = await hub.api('GET', '/api/evaluations?limit=5');
    const e = (json.evaluations as Record<string, unknown>[]).find((x) => x['id'] === 'TAB-01-1');
    expect(e).toMatchObject({ channel: 'tablet', level: 2, reasons: ['attitude', 'long-wait'], comment: '窗口人员态度冷淡，等了四十分钟', txnId: 'T-77', windowId: 'A01', staffName: '李明', matterName: '营业执照', contact: '138****5678' });
    // the phone number never reaches the hub's log
    expect(hub.proc.stdout.join('\n')).not.toContain('13812345678');
  });

  it('a phone number needs the consent tick, and must be a mainland mobile number', async () => {
    const { hub, token } = await hallWithTablet();
    const page = await openTablet(hub, token);
    await page.click('button[data-level="3"]');
    await page.fill('#phone', '0731123');
    await page.click('#submit');
    expect(await page.textContent('#detail-error')).toBe('请输入11位手机号码');
    await page.fill('#phone', '13812345678');
    await page.click('#submit');
    expect(await page.textContent('#detail-error')).toBe('如需回访，请勾选同意');
    expect(await page.isVisible('#screen-detail')).toBe(true);
  });

  it('the hub stopped mid-way: the rating is kept and delivered once when the hub is back', async () => {
    const port = await freePort();
    const dir = tempDir(cleanups, 'tablet');
    const first = await hallWithTablet(port, dir);
    const page = await openTablet(first.hub, first.token);
    first.hub.proc.child.kill('SIGTERM');
    await first.hub.proc.exited(10_000);
    await page.waitForFunction(() => document.getElementById('conn')?.dataset['state'] === 'offline', null, { timeout: 10_000 });
    await page.click('button[data-level="5"]'); // 非常满意 submits at once
    expect(await page.evaluate(() => JSON.parse(localStorage.getItem('hcp.outbox') ?? '[]').length)).toBe(1);
    expect(await page.textContent('#conn')).toContain('已保存');
    const hub = await startHub(dir, { hallId: '430300-001', hallName: '湘潭市政务服务中心', http: { host: '127.0.0.1', port }, windows: [{ id: 'A01', name: 'A01 综合受理' }] });
    cleanups.push(() => {
      if (hub.proc.child.exitCode === null) hub.proc.child.kill('SIGKILL');
    });
    await page.waitForFunction(() => JSON.parse(localStorage.getItem('hcp.outbox') ?? '[]').length === 0, null, { timeout: 20_000 });
    const { json } = await hub.api('GET', '/api/evaluations?limit=10');
    expect((json.evaluations as { id: string; level: number }[]).filter((e) => e.id === 'TAB-01-1')).toEqual([expect.objectContaining({ level: 5 })]);
  });

  it('the five choices show and take a rating before mqtt.js has arrived; the rating waits in the outbox and is delivered once it connects', async () => {
    const { hub, token } = await hallWithTablet();
    const page = await browser().newPage({ viewport: SIZES[0] });
    cleanups.push(() => page.close());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let ask!: () => void;
    const asked = new Promise<void>((resolve) => (ask = resolve));
    await page.route('**/vendor/mqtt.min.js', async (route) => {
      ask();
      await released; // a slow Wi-Fi: mqtt.js is still on its way
      await route.continue();
    });
    cleanups.push(() => release());
    await page.goto(`${hub.url}/tablet?tablet=TAB-01&token=${token}`);
    await page.waitForFunction(() => document.querySelectorAll('#choices button[data-level]').length === 5 && !document.getElementById('screen-start')!.hidden, null, { timeout: 10_000 });
    await page.click('button[data-level="4"]');
    await asked;
    expect(await page.evaluate(() => typeof (window as unknown as { mqtt?: unknown }).mqtt)).toBe('undefined');
    expect(await page.evaluate(() => JSON.parse(localStorage.getItem('hcp.outbox') ?? '[]').length)).toBe(1);
    release();
    await page.waitForFunction(() => JSON.parse(localStorage.getItem('hcp.outbox') ?? '[]').length === 0, null, { timeout: 10_000 });
    const { json } = await hub.api('GET', '/api/evaluations?limit=10');
    expect((json.evaluations as { id: string; level: number }[]).filter((e) => e.id === 'TAB-01-1')).toEqual([expect.objectContaining({ level: 4 })]);
    expect(errors).toEqual([]);
  });

  it.each(SIZES)('适老化 at $width×$height: font sizes, line spacing, contrast and touch targets measured on the page; axe finds nothing serious', async (size) => {
    const { hub, token } = await hallWithTablet();
    const page = await openTablet(hub, token, size);
    await hub.api('POST', '/api/windows/A01/service', { event: 'done', txnId: 'T-88', matterName: '营业执照' });
    await page.waitForFunction(() => document.getElementById('txn-matter')?.textContent === '营业执照', null, { timeout: 5000 });
    for (const screen of ['start', 'detail'] as const) {
      if (screen === 'detail') await page.click('button[data-level="3"]');
      const measures = await page.evaluate(() => {
        const bg = (el: Element): string => {
          for (let e: Element | null = el; e; e = e.parentElement) {
            const c = getComputedStyle(e).backgroundColor;
            if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c;
          }
          return 'rgb(255, 255, 255)';
        };
        const texts = [...document.querySelectorAll<HTMLElement>('h1, h2, p, dt, dd, button, a, label span, legend, small, .word')].filter((el) => el.offsetParent !== null && el.textContent?.trim());
        return {
          texts: texts.map((el) => {
            const s = getComputedStyle(el);
            return { text: el.textContent!.trim().slice(0, 12), size: parseFloat(s.fontSize), line: s.lineHeight === 'normal' ? parseFloat(s.fontSize) * 1.2 : parseFloat(s.lineHeight), color: s.color, bg: bg(el) };
          }),
          words: [...document.querySelectorAll<HTMLElement>('.choice .word')].map((el) => parseFloat(getComputedStyle(el).fontSize)),
          targets: [...document.querySelectorAll<HTMLElement>('button, a, input')].filter((el) => el.offsetParent !== null).map((el) => ({ id: el.id || el.textContent?.trim().slice(0, 8), w: el.getBoundingClientRect().width, h: el.getBoundingClientRect().height })),
        };
      });
      if (screen === 'start') expect(measures.words).toHaveLength(5);
      for (const wordSize of measures.words) expect(wordSize).toBeGreaterThanOrEqual(40); // 30 pt
      for (const t of measures.texts) {
        expect(t.size, `${t.text}: at least 18 pt`).toBeGreaterThanOrEqual(24);
        expect(t.line / t.size, `${t.text}: line spacing`).toBeGreaterThanOrEqual(1.3);
        expect(contrast(t.color, t.bg), `${t.text}: contrast ${t.color} on ${t.bg}`).toBeGreaterThanOrEqual(4.5);
      }
      for (const target of measures.targets) {
        expect(target.w, `${target.id} width`).toBeGreaterThanOrEqual(60);
        expect(target.h, `${target.id} height`).toBeGreaterThanOrEqual(60);
      }
      expect(measures.texts.length, `${screen}: texts measured`).toBeGreaterThan(5);
    }
    await page.addScriptTag({ content: readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8') });
    const violations = await page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; help: string }[] }> } }).axe;
      return (await axe.run()).violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help }));
    });
    expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
  });
});

/** Where the start screen's parts are, and whether the page scrolls. */
function startLayout(page: Page) {
  return page.evaluate(() => {
    const box = (el: Element) => el.getBoundingClientRect().toJSON() as { left: number; right: number; top: number; bottom: number; width: number; height: number };
    const bg = (el: Element): string => {
      for (let e: Element | null = el; e; e = e.parentElement) {
        const c = getComputedStyle(e).backgroundColor;
        if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c;
      }
      return 'rgb(255, 255, 255)';
    };
    const txn = document.getElementById('txn')!;
    return {
      viewport: { width: innerWidth, height: innerHeight },
      scroll: { height: document.documentElement.scrollHeight, width: document.documentElement.scrollWidth },
      txn: { display: getComputedStyle(txn).display, height: box(txn).height },
      choices: [...document.querySelectorAll<HTMLElement>('.choice')].map((b) => {
        const word = b.querySelector<HTMLElement>('.word')!;
        const s = getComputedStyle(word);
        return {
          text: word.textContent!,
          button: box(b),
          word: box(word),
          // a word cut off or spilling out of its box: its content is wider than the box
          spills: word.scrollWidth > word.clientWidth + 1,
          lines: Math.round(box(word).height / parseFloat(s.lineHeight)),
          size: parseFloat(s.fontSize),
          contrast: [s.color, bg(word)] as [string, string],
        };
      }),
    };
  });
}

/** The five choices as a 70-year-old needs them: big, apart, whole words on one line, filling the screen. */
function expectChoicesFit(layout: Awaited<ReturnType<typeof startLayout>>, what: string): void {
  const { choices, viewport } = layout;
  expect(choices, what).toHaveLength(5);
  for (const c of choices) {
    expect(c.size, `${what} ${c.text}: word size`).toBeGreaterThanOrEqual(24);
    expect(c.spills, `${what} ${c.text}: the word fits its box`).toBe(false);
    expect(c.lines, `${what} ${c.text}: one line`).toBe(1);
    const inside = c.word.left >= c.button.left && c.word.right <= c.button.right && c.word.top >= c.button.top && c.word.bottom <= c.button.bottom;
    expect(inside, `${what} ${c.text}: the word inside its button`).toBe(true);
    expect(c.button.width, `${what} ${c.text}: target width`).toBeGreaterThanOrEqual(60);
    expect(c.button.height, `${what} ${c.text}: target height`).toBeGreaterThanOrEqual(60);
    expect(c.button.bottom, `${what} ${c.text}: on screen`).toBeLessThanOrEqual(viewport.height);
    expect(contrast(...c.contrast), `${what} ${c.text}: contrast`).toBeGreaterThanOrEqual(4.5);
  }
  for (let i = 0; i < choices.length; i++) {
    for (let j = i + 1; j < choices.length; j++) {
      const [a, b] = [choices[i]!.word, choices[j]!.word];
      const apart = a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top;
      expect(apart, `${what}: ${choices[i]!.text} and ${choices[j]!.text} do not run together`).toBe(true);
    }
  }
  // the choices use the screen: nothing like an empty lower half
  expect(Math.max(...choices.map((c) => c.button.bottom)), `${what}: the choices reach the lower part of the screen`).toBeGreaterThanOrEqual(0.75 * viewport.height);
  expect(layout.scroll, `${what}: one screen, no scrolling`).toEqual(viewport);
}

/** A button wholly on screen, and the one thing under a finger at its centre. */
async function expectOnScreen(page: Page, selector: string, what: string): Promise<void> {
  const found = await page.$eval(selector, (el) => {
    const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return { top: r.top, bottom: r.bottom, left: r.left, right: r.right, hit: !!hit && el.contains(hit), viewport: { width: innerWidth, height: innerHeight } };
  });
  expect(found.top >= 0 && found.left >= 0 && found.bottom <= found.viewport.height && found.right <= found.viewport.width, `${what}: ${selector} within the screen ${JSON.stringify(found)}`).toBe(true);
  expect(found.hit, `${what}: ${selector} is what a tap at its centre reaches`).toBe(true);
}

describe('the tablet\'s first minute (issue 13 item 5)', () => {
  it.each(SIZES)('at $width×$height: the five choices fit and fill the screen in both languages; no empty transaction line; the reasons screen\'s buttons on screen', async (size) => {
    const { hub, token } = await hallWithTablet();
    const page = await openTablet(hub, token, size);
    const what = `${size.width}×${size.height}`;

    // no transaction offered: the window/clerk/matter line is not there at all
    let layout = await startLayout(page);
    expect(layout.txn, `${what}: no empty transaction line`).toEqual({ display: 'none', height: 0 });
    expectChoicesFit(layout, `${what} zh`);

    await hub.api('POST', '/api/windows/A01/service', { event: 'done', txnId: 'T-90', matterName: '居民身份证换领' });
    await page.waitForFunction(() => document.getElementById('txn-matter')?.textContent === '居民身份证换领', null, { timeout: 5000 });
    layout = await startLayout(page);
    expect(layout.txn.display).toBe('flex');
    expect(layout.txn.height).toBeGreaterThan(0);
    expectChoicesFit(layout, `${what} zh, with a transaction`);

    await page.click('#lang');
    await page.waitForFunction(() => document.documentElement.lang === 'en');
    expectChoicesFit(await startLayout(page), `${what} en`);
    await page.click('#lang');
    await page.waitForFunction(() => document.documentElement.lang === 'zh-CN');

    // the reasons screen: 提交评价 and 返回 on screen without scrolling, reasons ticked or not
    await page.click('button[data-level="2"]');
    await page.waitForSelector('#screen-detail:not([hidden])');
    for (const reason of ['', 'attitude', 'long-wait', 'too-many-documents', 'repeat-visits']) {
      if (reason) await page.click(`button[data-reason="${reason}"]`);
      await expectOnScreen(page, '#submit', what);
      await expectOnScreen(page, '#back', what);
      expect(await page.evaluate(() => [document.documentElement.scrollHeight, document.documentElement.scrollWidth]), `${what}: the page does not scroll`).toEqual([size.height, size.width]);
    }
    // and what the citizen fills in is on screen too, not hidden below the buttons
    for (const field of ['#comment', '#phone', '#consent', 'button[data-reason="other"]']) await expectOnScreen(page, field, what);
    await page.click('#submit');
    await page.waitForFunction(() => JSON.parse(localStorage.getItem('hcp.outbox') ?? '[]').length === 0, null, { timeout: 5000 });
    const { json } = await hub.api('GET', '/api/evaluations?limit=5');
    expect((json.evaluations as Record<string, unknown>[]).find((e) => e['id'] === 'TAB-01-1')).toMatchObject({ level: 2, txnId: 'T-90', reasons: ['attitude', 'long-wait', 'too-many-documents', 'repeat-visits'] });
  });

  it.each(SIZES)('at $width×$height: a citizen who taps 不满意 and walks away: the level is recorded with no reasons when the screen times out', async (size) => {
    const { hub, token } = await hallWithTablet();
    const page = await browser().newPage({ viewport: size });
    cleanups.push(() => page.close());
    await page.clock.install(); // the page's timers on a clock the test moves
    await page.goto(`${hub.url}/tablet?tablet=TAB-01&token=${token}`);
    await page.waitForFunction(() => document.getElementById('conn')?.dataset['state'] === 'online', null, { timeout: 10_000 });
    await hub.api('POST', '/api/windows/A01/service', { event: 'done', txnId: 'T-91', matterName: '社保卡补办' });
    await page.waitForFunction(() => document.getElementById('txn-matter')?.textContent === '社保卡补办', null, { timeout: 5000 });
    await page.click('button[data-level="2"]');
    await page.click('button[data-reason="attitude"]'); // touched, never confirmed
    await page.clock.fastForward(59_000);
    expect(await page.isVisible('#screen-detail'), 'still waiting before the inactivity time').toBe(true);
    await page.clock.fastForward(2_000); // PROTOCOL 2 public config: inactivityS 60
    await page.waitForSelector('#screen-start:not([hidden])', { timeout: 5000 });
    await page.waitForFunction(() => JSON.parse(localStorage.getItem('hcp.outbox') ?? '[]').length === 0 && localStorage.getItem('hcp.counter') === '1', null, { timeout: 10_000 });
    const { json } = await hub.api('GET', '/api/evaluations?limit=5');
    expect(json.evaluations as Record<string, unknown>[]).toEqual([expect.objectContaining({ id: 'TAB-01-1', level: 2, reasons: [], comment: '', txnId: 'T-91', windowId: 'A01', contact: null })]);
    // the transaction is rated: the next citizen sees the hall prompt, not this one's
    await page.waitForFunction(() => document.getElementById('txn')?.hidden === true, null, { timeout: 5000 });
  });

  it.each(SIZES)('at $width×$height: a session with a rateUrl offers 用手机评价 and shows its QR code; without one the button is not there', async (size) => {
    const hall = await pagesHall(cleanups, [{ id: 'A01', name: 'A01 综合受理' }]);
    const { token } = await hall.hub.pair('TAB-01', 'A01', 'test', 'tablet');
    const page = await openPage(browser(), cleanups, `${hall.url}/tablet?tablet=TAB-01&token=${token}`, size);
    await page.waitForFunction(() => document.getElementById('conn')?.dataset['state'] === 'online', null, { timeout: 10_000 });
    const topic = hallTopics.tablet(HALL_ID, 'TAB-01', 'session');
    const session = { txnId: 'T-92', windowId: 'A01', staffId: 'S007', staffName: '李明', matterCode: 'M1', matterName: '营业执照变更登记', offeredAt: new Date().toISOString() };

    // a session without one (a hub without the QR channel): no button
    hall.hub.broker.publish(topic, session, true);
    await page.waitForFunction(() => document.getElementById('txn-matter')?.textContent === '营业执照变更登记', null, { timeout: 5000 });
    expect(await page.isHidden('#qr-open')).toBe(true);

    const rateUrl = `${hall.url}/r/eyJoIjoiNDMwMzAwLTAwMSIsInQiOiJULTkyIn0.c2lnbmF0dXJl`;
    hall.hub.broker.publish(topic, { ...session, rateUrl }, true);
    await page.waitForSelector('#qr-open:not([hidden])', { timeout: 5000 });
    await expectOnScreen(page, '#qr-open', 'the QR button');
    const button = await page.$eval('#qr-open', (el) => ({ w: el.getBoundingClientRect().width, h: el.getBoundingClientRect().height, size: parseFloat(getComputedStyle(el).fontSize), text: el.textContent }));
    expect(button).toMatchObject({ text: '用手机评价' });
    expect(Math.min(button.w, button.h)).toBeGreaterThanOrEqual(60);
    expect(button.size).toBeGreaterThanOrEqual(24);
    expectChoicesFit(await startLayout(page), `${size.width}×${size.height} with the QR button`);

    await page.click('#qr-open');
    await page.waitForSelector('#qr-code svg', { timeout: 5000 });
    // the code is the rateUrl's, as the qrcode package draws it
    const drawn = await page.$eval('#qr-code svg path:last-child', (el) => el.getAttribute('d'));
    const expected = [...(await QRCode.toString(rateUrl, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' })).matchAll(/ d="([^"]+)"/g)].at(-1)?.[1];
    expect(expected).toMatch(/^M/);
    expect(drawn).toBe(expected);
    const qr = await page.$eval('#qr-code svg', (el) => el.getBoundingClientRect().toJSON() as DOMRect);
    expect(Math.min(qr.width, qr.height), 'big enough to scan from the counter').toBeGreaterThanOrEqual(240);
    expect(qr.top >= 0 && qr.bottom <= size.height && qr.left >= 0 && qr.right <= size.width, 'the whole code on screen').toBe(true);
    await expectOnScreen(page, '#qr-close', 'the close button');

    // rated on the phone: the hub takes the session back, the code and the button go
    hall.hub.broker.publish(topic, {}, true);
    await page.waitForFunction(() => !(document.getElementById('qr-dialog') as HTMLDialogElement).open && document.getElementById('qr-open')!.hidden, null, { timeout: 5000 });
    expect(await page.$$('#qr-code svg')).toHaveLength(0);
  });
});

