/**
 * A hub in the test's own process for the page tests that need to reach inside it: seed its
 * store with ratings at chosen times, run it on a shifted clock, publish as the hub (a tablet
 * session with a `rateUrl`), or rate as a tablet over MQTT the way a real tablet does.
 */
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';
import { hallTopics, type Evaluation, type TabletEvaluation } from '../../protocol/index.js';
import { systemClock, type Clock } from '../../hub/clock.js';
import { parseConfig } from '../../hub/config.js';
import { commitEvaluation } from '../../hub/evaluations.js';
import { Hub } from '../../hub/hub.js';
import { tempDir, type Cleanups } from './cleanup.js';

export const HALL_ID = '430300-001';
export const PAGES_TOKEN = 'pages-test-admin-token';

export interface PagesHall {
  hub: Hub;
  url: string;
  /** Commits ratings as they were made (no misuse window, no attaching). */
  seed(...records: Evaluation[]): Promise<void>;
  /** Pairs a tablet to a window and connects it over MQTT; `rate` resolves once the hub has committed. */
  tablet(tabletId: string, windowId: string): Promise<{ token: string; rate(e: TabletEvaluation): Promise<void> }>;
}

/**
 * A hall with these windows; `nowMs`, when given, is where the hub's clock starts (it then runs
 * at real speed), so "today" and "this month" are the test's own.
 */
export async function pagesHall(cleanups: Cleanups, windows: { id: string; name: string }[], nowMs?: number): Promise<PagesHall> {
  const dir = tempDir(cleanups, 'pages');
  const offset = nowMs === undefined ? 0 : nowMs - Date.now();
  const clock: Clock = { ...systemClock, now: () => Date.now() + offset };
  const hub = new Hub({
    config: parseConfig({ hallId: HALL_ID, hallName: '湘潭市政务服务中心', areaCode: '430300', adminToken: PAGES_TOKEN, dataDir: join(dir, 'hub'), http: { host: '127.0.0.1', port: 0 }, devices: { discover: { serial: false, hid: false } }, windows }),
    clock,
  });
  await hub.start();
  cleanups.push(() => hub.stop());
  const url = `http://127.0.0.1:${hub.port}`;
  return {
    hub,
    url,
    seed: async (...records) => {
      for (const r of records) await hub.store.submit((db) => commitEvaluation(db, r, { attachWithinMs: 0, misuseWindowMs: 0 }));
    },
    tablet: async (tabletId, windowId) => {
      const { token } = await hub.pair(tabletId, windowId, 'test', 'tablet');
      const client = await mqtt.connectAsync(`ws://127.0.0.1:${hub.port}/mqtt`, { username: tabletId, password: token!, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
      cleanups.push(() => client.endAsync(true));
      return {
        token: token!,
        // PROTOCOL 2: the hub PUBACKs only after the commit
        rate: async (e) => void (await client.publishAsync(hallTopics.tablet(HALL_ID, tabletId, 'evaluations'), JSON.stringify(e), { qos: 1 })),
      };
    },
  };
}

/** A page with no script errors (checked after the test), at this viewport. */
export async function openPage(browser: Browser, cleanups: Cleanups, url: string, viewport: { width: number; height: number }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  cleanups.push(() => page.close());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  cleanups.push(() => expect(errors, 'no script errors on the page').toEqual([]));
  await page.goto(url);
  return page;
}
