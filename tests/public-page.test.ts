/**
 * 结果全公开 (issue 14 item 6): the hall's big screen at 1920x1080 in Debian's headless Chromium,
 * against a hub whose clock stands on Wednesday 18 November 2026, 14:00 China time, with ratings
 * of today, earlier this month and last month, and 差评 handled on time, late, or not yet. The
 * figures on screen and in `GET /api/public` are the ones worked out by hand below; no contact,
 * comment or evaluation id is in either; a new rating shows without a reload.
 */
import { describe, expect, it } from 'vitest';
import type { Evaluation } from '../protocol/index.js';
import type { PublicAnswer } from '../protocol/api.js';
import { contrast, sharedBrowser } from './support/browser.js';
import { cleanupsAfterEach } from './support/cleanup.js';
import { evaluation } from './support/evaluation.js';
import { openPage, pagesHall } from './support/pages-hall.js';

const browser = sharedBrowser();
const cleanups = cleanupsAfterEach();

/** Wednesday 18 November 2026, 14:00 China time. */
const NOW = Date.parse('2026-11-18T14:00:00+08:00');
const at = (cst: string) => new Date(Date.parse(`${cst}+08:00`)).toISOString();
const CONTACT = '13812345678';

let n = 0;
/** A rating at a window, at a China time; 差评 carry a comment and a consenting citizen's number. */
function rating(windowId: string, level: number, when: string): Evaluation {
  n++;
  const bad = level === 1 || level === 2;
  return evaluation({
    id: `HCP5-PUB${windowId}-${n}`,
    level,
    windowId,
    evaluatedAt: at(when),
    ...(bad ? { comment: `评论${n}：窗口态度冷淡`, contact: CONTACT, consent: true, reasons: ['attitude'] } : {}),
  });
}

const WINDOWS = [
  { id: 'A01', name: 'A01 综合受理' },
  { id: 'A02', name: 'A02 不动产登记' },
  { id: 'A03', name: 'A03 社保医保' },
];

describe('the public big screen (GET /public)', () => {
  it('shows today, this month, each window and the handling of 差评 as worked out by hand; never a contact, comment or id; a new rating shows live', async () => {
    const hall = await pagesHall(cleanups, WINDOWS, NOW);
    await hall.hub.setStaff('A01', { duty: 'on', staffId: 'S007', staffName: '李明', staffTitle: '' }, 'test');
    await hall.hub.setStaff('A02', { duty: 'paused', staffId: 'S011', staffName: '王芳', staffTitle: '' }, 'test');
    const records = [
      // today: A01 5 5 4 2, A02 5 3, A03 not evaluated (level 0)
      rating('A01', 5, '2026-11-18T09:01:00'),
      rating('A01', 5, '2026-11-18T09:30:00'),
      rating('A01', 4, '2026-11-18T10:00:00'),
      rating('A01', 2, '2026-11-18T11:00:00'), // (a) open, due at the end of Friday 20th
      rating('A02', 5, '2026-11-18T08:30:00'),
      rating('A02', 3, '2026-11-18T13:59:00'),
      rating('A03', 0, '2026-11-18T12:00:00'),
      // earlier this month
      rating('A01', 1, '2026-11-05T10:00:00'), // (b) resolved on the 6th, due the 9th: on time
      rating('A03', 5, '2026-11-05T10:10:00'),
      rating('A03', 5, '2026-11-05T10:20:00'),
      rating('A02', 2, '2026-11-05T11:00:00'), // (c) open past its deadline: overdue
      rating('A02', 1, '2026-11-17T10:00:00'), // (d) open, due at the end of Thursday 19th
      rating('A03', 2, '2026-11-03T10:00:00'), // (e) resolved on the 10th, due the 5th: late
      // last month: out of the month's figures; an open 差评 still counts as open and overdue
      rating('A01', 5, '2026-10-20T10:00:00'),
      rating('A01', 5, '2026-10-20T10:05:00'),
      rating('A01', 1, '2026-10-20T10:10:00'), // (f)
    ];
    await hall.seed(...records);
    const step = (id: string, s: string, when: string) => hall.hub.store.submit((db) => db.prepare('INSERT INTO handling (evaluation_id, step, at, by, note) VALUES (?, ?, ?, ?, ?)').run(id, s, at(when), '王主任', null));
    const [b, e] = [records[7]!.id, records[12]!.id];
    await step(b, 'acknowledged', '2026-11-05T11:00:00');
    await step(b, 'resolved', '2026-11-06T16:00:00');
    await step(e, 'acknowledged', '2026-11-04T09:00:00');
    await step(e, 'resolved', '2026-11-10T09:00:00');

    const expected = {
      hallName: '湘潭市政务服务中心',
      today: { rated: 6, satisfactionRate: 0.8333, dissatisfied: 1 },
      month: { rated: 12, satisfactionRate: 0.5833, dissatisfied: 5 },
      windows: [
        { windowId: 'A01', name: 'A01 综合受理', staffName: '李明', rated: 4, satisfactionRate: 0.75 },
        { windowId: 'A02', name: 'A02 不动产登记', staffName: '王芳', rated: 2, satisfactionRate: 1 },
        { windowId: 'A03', name: 'A03 社保医保', staffName: '', rated: 0, satisfactionRate: null },
      ],
      // open: a, c, d, f; overdue: c, f; this month decided: b (on time), c and e (late)
      handling: { open: 4, overdue: 2, onTimeRate: 0.3333 },
    };
    const get = async (path: string) => {
      const res = await fetch(`${hall.url}${path}`); // no token
      expect(res.status, path).toBe(200);
      return res.text();
    };
    const todayText = await get('/api/public');
    const today = JSON.parse(todayText) as PublicAnswer;
    expect(Object.keys(today).sort()).toEqual(['hallName', 'handling', 'month', 'today', 'updatedAt', 'windows']);
    expect(today).toEqual({ ...expected, updatedAt: expect.stringMatching(/^2026-11-18T06:0/) });
    const monthText = await get('/api/public?period=month');
    expect((JSON.parse(monthText) as PublicAnswer).windows.map((w) => [w.windowId, w.rated, w.satisfactionRate])).toEqual([
      ['A01', 5, 0.6],
      ['A02', 4, 0.5],
      ['A03', 3, 0.6667],
    ]);
    expect((await fetch(`${hall.url}/public`)).headers.get('content-type')).toMatch(/^text\/html/);

    const page = await openPage(browser(), cleanups, `${hall.url}/public`, { width: 1920, height: 1080 });
    await page.waitForFunction(() => document.querySelectorAll('#windows tbody tr').length === 3 && document.getElementById('month-rate')?.textContent !== '—', null, { timeout: 10_000 });
    const text = (id: string) => page.textContent(`#${id}`);
    expect([await text('today-rate'), await text('today-rated'), await text('today-dissatisfied')]).toEqual(['83.3%', '评价 6 件', '差评 1 件']);
    expect([await text('month-rate'), await text('month-rated'), await text('month-dissatisfied')]).toEqual(['58.3%', '评价 12 件', '差评 5 件']);
    expect([await text('handling-open'), await text('handling-overdue'), await text('handling-on-time')]).toEqual(['4', '2', '33.3%']);
    const rows = await page.$$eval('#windows tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    expect(rows).toEqual([
      ['A01 综合受理', '李明', '4', '75.0%', '60.0%'],
      ['A02 不动产登记', '王芳', '2', '100.0%', '50.0%'],
      ['A03 社保医保', '—', '0', '—', '66.7%'],
    ]);

    // nothing that identifies a citizen or a rating, in the answers or anywhere in the page
    const html = await page.evaluate(() => document.documentElement.outerHTML);
    for (const [where, body] of [['GET /api/public', todayText], ['GET /api/public?period=month', monthText], ['the page', html]] as const) {
      for (const r of records) {
        expect(body, `${where}: evaluation id`).not.toContain(r.id);
        if (r.comment) expect(body, `${where}: comment`).not.toContain(r.comment);
      }
      expect(body, `${where}: contact`).not.toContain(CONTACT);
      expect(body, `${where}: masked contact`).not.toContain('5678');
    }
    for (const key of ['contact', 'comment', '"id"', 'evaluationId', 'reasons']) expect(todayText + monthText).not.toContain(key);

    // readable from 5 m: no text under 36 px, the rates at 120 px or more, strong contrast, one screen
    const measures = await page.evaluate(() => {
      const bg = (el: Element): string => {
        for (let e: Element | null = el; e; e = e.parentElement) {
          const c = getComputedStyle(e).backgroundColor;
          if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c;
        }
        return 'rgb(255, 255, 255)';
      };
      const texts = [...document.querySelectorAll<HTMLElement>('h1 span, h2 span, h2, p, span, strong, dt, dd, th, td')].filter((el) => el.offsetParent !== null && [...el.childNodes].some((c) => c.nodeType === Node.TEXT_NODE && c.textContent!.trim()));
      return {
        texts: texts.map((el) => ({ text: el.textContent!.trim().slice(0, 12), size: parseFloat(getComputedStyle(el).fontSize), color: getComputedStyle(el).color, bg: bg(el), box: el.getBoundingClientRect().toJSON() as DOMRect })),
        rates: ['today-rate', 'month-rate'].map((id) => parseFloat(getComputedStyle(document.getElementById(id)!).fontSize)),
        scroll: { h: document.documentElement.scrollHeight, w: document.documentElement.scrollWidth },
      };
    });
    expect(measures.texts.length).toBeGreaterThan(20);
    for (const t of measures.texts) {
      expect(t.size, `${t.text}: at least 36 px`).toBeGreaterThanOrEqual(36);
      expect(contrast(t.color, t.bg), `${t.text}: contrast ${t.color} on ${t.bg}`).toBeGreaterThanOrEqual(7);
      expect(t.box.right <= 1920 && t.box.bottom <= 1080 && t.box.left >= 0 && t.box.top >= 0, `${t.text} on the screen`).toBe(true);
    }
    for (const size of measures.rates) expect(size).toBeGreaterThanOrEqual(120);
    expect(measures.scroll).toEqual({ h: 1080, w: 1920 });

    // a citizen rates at A02: the screen shows it by itself (it reads the hub every few seconds)
    const tablet = await hall.tablet('TAB-02', 'A02');
    await tablet.rate({ id: 'TAB-02-1', level: 5, reasons: [], comment: '', evaluatedAt: new Date(NOW + 60_000).toISOString() });
    await page.waitForFunction(() => document.getElementById('today-rated')?.textContent === '评价 7 件', null, { timeout: 15_000 });
    expect(await page.textContent('#today-rate')).toBe('85.7%');
    expect(await page.$$eval('#windows tbody tr[data-window="A02"] td', (tds) => tds.map((td) => td.textContent))).toEqual(['王芳', '3', '100.0%', '60.0%']);
  });
});
