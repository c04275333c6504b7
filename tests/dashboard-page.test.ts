/**
 * The supervisor's dashboard in Debian's headless Chromium against a hub in the test's process:
 * a new 差评 never moves the cards under the supervisor's pointer (it is held, counted, and put
 * in when the pointer leaves the list), and this month's most frequent reasons and matters of
 * 差评 (普遍性差评, issue 14 item 8) from `GET /api/stats?by=reason` and `by=matter`.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { Evaluation } from '../protocol/index.js';
import { sharedBrowser } from './support/browser.js';
import { cleanupsAfterEach } from './support/cleanup.js';
import { evaluation } from './support/evaluation.js';
import { openPage, pagesHall, PAGES_TOKEN, type PagesHall } from './support/pages-hall.js';

const browser = sharedBrowser();
const cleanups = cleanupsAfterEach();

const WINDOWS = [
  { id: 'A01', name: 'A01 综合受理' },
  { id: 'A02', name: 'A02 不动产登记' },
];

/** A 差评 (or any rating) `minutesAgo` minutes ago. */
const rating = (id: string, level: number, minutesAgo: number, extra: Partial<Evaluation> = {}) =>
  evaluation({ id, level, evaluatedAt: new Date(Date.now() - minutesAgo * 60_000).toISOString(), origin: 'invited', ...extra });

async function openDashboard(hall: PagesHall, viewport: { width: number; height: number }): Promise<Page> {
  const page = await openPage(browser(), cleanups, `${hall.url}/dashboard`, viewport);
  await page.evaluate((token) => localStorage.setItem('hcp.adminToken', token), PAGES_TOKEN);
  await page.goto(`${hall.url}/dashboard`);
  await page.waitForFunction(() => document.getElementById('live')?.textContent?.includes('实时更新'), null, { timeout: 10_000 });
  return page;
}

const cardBoxes = (page: Page) => page.$$eval('#dissatisfied-list li.dis', (lis) => lis.map((li) => ({ id: li.getAttribute('data-id'), ...(li.getBoundingClientRect().toJSON() as { x: number; y: number; width: number; height: number }) })));

describe('the dashboard', () => {
  it.each([
    { width: 1280, height: 800 },
    { width: 800, height: 1280 },
  ])('at $width×$height: a new 差评 does not move the cards under the pointer; it is counted, and goes in when the pointer leaves', async (viewport) => {
    const hall = await pagesHall(cleanups, WINDOWS);
    await hall.seed(rating('HCP5-D01-1', 1, 50), rating('HCP5-D01-2', 2, 40), rating('HCP5-D01-3', 2, 30));
    const tablet = await hall.tablet('TAB-01', 'A01');
    const page = await openDashboard(hall, viewport);
    await page.waitForFunction(() => document.querySelectorAll('#dissatisfied-list li.dis').length === 3, null, { timeout: 10_000 });

    // the supervisor points at a card
    await page.hover('#dissatisfied-list li[data-id="HCP5-D01-2"] .dis-due');
    const before = await cardBoxes(page);
    const notice = await page.$eval('#dis-held', (el) => ({ visibility: getComputedStyle(el).visibility, height: el.getBoundingClientRect().height }));
    expect(notice.visibility).toBe('hidden');
    expect(notice.height, 'the notice is laid out even while hidden').toBeGreaterThan(0);

    await tablet.rate({ id: 'TAB-01-1', level: 1, reasons: ['attitude'], comment: '', evaluatedAt: new Date().toISOString() });
    await page.waitForFunction(() => getComputedStyle(document.getElementById('dis-held')!).visibility === 'visible', null, { timeout: 5000 });
    expect(await page.textContent('#dis-held')).toBe('有 1 条新差评，点击显示');
    expect(await cardBoxes(page), 'not one card moved').toEqual(before);
    expect(await page.$$('#dissatisfied-list li[data-id="TAB-01-1"]')).toHaveLength(0);
    // the screen reader hears of it all the same
    expect(await page.textContent('#announce')).toContain('非常不满意');

    // the pointer leaves the list: the new 差评 goes in, the notice goes
    await page.mouse.move(2, 2);
    await page.waitForSelector('#dissatisfied-list li[data-id="TAB-01-1"]', { timeout: 5000 });
    await page.waitForFunction(() => getComputedStyle(document.getElementById('dis-held')!).visibility === 'hidden', null, { timeout: 5000 });
    expect(await page.$$eval('#dissatisfied-list li.dis', (lis) => lis.length)).toBe(4);

    // pointing again, and pressing the notice puts it in at once
    await page.hover('#dissatisfied-list li[data-id="HCP5-D01-1"] .dis-due');
    const again = await cardBoxes(page);
    await tablet.rate({ id: 'TAB-01-2', level: 2, reasons: [], comment: '', evaluatedAt: new Date().toISOString() });
    await page.waitForFunction(() => getComputedStyle(document.getElementById('dis-held')!).visibility === 'visible', null, { timeout: 5000 });
    expect(await cardBoxes(page)).toEqual(again);
    await page.focus('#dis-held');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#dissatisfied-list li[data-id="TAB-01-2"]', { timeout: 5000 });
  });

  it('shows this month\'s most frequent reasons and matters of 差评, from the statistics by reason and by matter', async () => {
    const hall = await pagesHall(cleanups, WINDOWS);
    const m1 = { matterCode: 'M1', matterName: '不动产登记' };
    const m2 = { matterCode: 'M2', matterName: '营业执照' };
    await hall.seed(
      rating('HCP5-D02-1', 1, 60, { reasons: ['long-wait', 'attitude'], ...m1 }),
      rating('HCP5-D02-2', 2, 50, { reasons: ['long-wait'], ...m1 }),
      rating('HCP5-D02-3', 2, 40, { reasons: ['long-wait', 'too-many-documents'], ...m2 }),
      rating('HCP5-D02-4', 1, 30, { reasons: ['attitude'], ...m1 }),
      rating('HCP5-D02-5', 2, 20, { reasons: [], ...m2 }),
      // not a 差评: its reason is no complaint
      rating('HCP5-D02-6', 3, 10, { reasons: ['long-wait'], matterCode: 'M3', matterName: '社保卡' }),
      // last month's: not this month's
      rating('HCP5-D02-7', 1, 40 * 24 * 60, { reasons: ['other'], matterCode: 'M3', matterName: '社保卡' }),
    );
    const page = await openDashboard(hall, { width: 1440, height: 1000 });
    await page.waitForFunction(() => document.querySelectorAll('#top-reasons li[data-key]').length === 3 && document.querySelectorAll('#top-matters li[data-key]').length === 2, null, { timeout: 10_000 });
    const rows = (id: string) => page.$$eval(`#${id} li`, (lis) => lis.map((li) => [li.querySelector('.top-name')?.textContent, li.querySelector('.top-n')?.textContent]));
    expect(await rows('top-reasons')).toEqual([
      ['等候时间长', '3 件'],
      ['服务态度', '2 件'],
      ['材料要求多', '1 件'],
    ]);
    expect(await rows('top-matters')).toEqual([
      ['不动产登记', '3 件'],
      ['营业执照', '2 件'],
    ]);
    expect(await page.textContent('#common-title')).toContain('本月普遍性差评');

    // a new 差评 this month moves the ranking, live
    const tablet = await hall.tablet('TAB-01', 'A01');
    for (const [i, reason] of (['too-many-documents', 'too-many-documents', 'too-many-documents'] as const).entries()) {
      await tablet.rate({ id: `TAB-01-${i + 1}`, level: 2, reasons: [reason], comment: '', evaluatedAt: new Date().toISOString() });
    }
    await page.waitForFunction(() => document.querySelector('#top-reasons li .top-name')?.textContent === '材料要求多', null, { timeout: 10_000 });
    expect((await rows('top-reasons'))[0]).toEqual(['材料要求多', '4 件']);
  });
});
