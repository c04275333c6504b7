/**
 * The citizen's tablet page in Debian's headless Chromium against a real hub process and its
 * embedded broker: rating an offered transaction, surviving a hub outage, and the 适老化
 * numbers measured on the rendered page plus an automated accessibility audit.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { freePort } from './support/mosquitto.js';
import { startHub, type HubProcess } from './support/hub.js';
import { contrast, sharedBrowser } from './support/browser.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';

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

async function openTablet(hub: HubProcess, token: string): Promise<Page> {
  const page = await browser().newPage({ viewport: { width: 1280, height: 800 } });
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

  it('适老化: font sizes, line spacing, contrast and touch targets measured on the page; axe finds nothing serious', async () => {
    const { hub, token } = await hallWithTablet();
    const page = await openTablet(hub, token);
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
      const texts = [...document.querySelectorAll<HTMLElement>('h1, h2, p, dt, dd, button, a, label span, legend, .word')].filter((el) => el.offsetParent !== null && el.textContent?.trim());
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
    for (const size of measures.words) expect(size).toBeGreaterThanOrEqual(40); // 30 pt
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

