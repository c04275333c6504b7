/**
 * `npm run screenshots`: pictures of the real pages for the README, in docs/. Runs a hub
 * in-process with a little data, and Debian's headless Chromium (install `chromium` and
 * `fonts-noto-cjk` for the Chinese text).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Evaluation } from '../protocol/index.js';
import { parseConfig } from '../hub/config.js';
import { commitEvaluation } from '../hub/evaluations.js';
import { Hub } from '../hub/hub.js';
import { tempDir } from '../simulators/pty.js';

const TOKEN = 'screenshot-admin-token';
const dir = tempDir('screens');
const hub = new Hub({
  config: parseConfig({
    hallId: '430300-001',
    hallName: '湘潭市政务服务中心',
    areaCode: '430300',
    adminToken: TOKEN,
    dataDir: join(dir, 'hub'),
    http: { port: 0 },
    devices: { discover: { serial: false, hid: false } },
    windows: [
      { id: 'A01', name: 'A01 综合受理' },
      { id: 'A02', name: 'A02 不动产登记' },
      { id: 'A03', name: 'A03 社保医保' },
    ],
  }),
});
await hub.start();
const base = `http://127.0.0.1:${hub.port}`;
await hub.setStaff('A01', { duty: 'on', staffId: 'S007', staffName: '李明', staffTitle: '' }, 'demo');
await hub.setStaff('A02', { duty: 'on', staffId: 'S011', staffName: '王芳', staffTitle: '' }, 'demo');
const tablet = await hub.pair('TAB-01', 'A01', 'demo', 'tablet');
const clerks = [['A01', 'S007', '李明'], ['A02', 'S011', '王芳'], ['A03', 'S015', '张伟']] as const;
const now = Date.now();
for (let i = 1; i <= 120; i++) {
  const [windowId, staffId, staffName] = clerks[i % 3]!;
  const at = new Date(now - (120 - i) * 180_000).toISOString();
  const level = i % 17 === 0 ? 1 : i % 11 === 0 ? 2 : i % 7 === 0 ? 3 : i % 3 === 0 ? 4 : i % 29 === 0 ? 0 : 5;
  const e: Evaluation = {
    id: `HCP5-DEMO0${(i % 3) + 1}-${i}`, hallId: '430300-001', areaCode: '430300', deptCode: '', channel: i % 5 === 0 ? 'tablet' : 'evaluator', level,
    reasons: level <= 2 ? ['long-wait'] : [], comment: level <= 2 ? '等候时间太长' : '', contact: null, txnId: `T-${i}`, matterCode: '000105001000', matterName: '居民身份证换领',
    windowId, staffId, staffName, origin: i % 5 === 0 ? 'tablet' : 'prompted', evaluatedAt: at, receivedAt: at, deviceId: `HCP5-DEMO0${(i % 3) + 1}`, fwVersion: '0.1.0', promptMs: 2000, flags: [], consent: false, ratingNo: 1, followUpOf: null,
  };
  await hub.store.submit((db) => commitEvaluation(db, e, { attachWithinMs: 0, misuseWindowMs: 10_000 }));
}
await hub.service('A01', { event: 'done', txnId: 'T-2026-0042', matterCode: '000108002000', matterName: '营业执照变更登记' }, 'demo');

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
await page.goto(`${base}/tablet?tablet=TAB-01&token=${tablet.token}`);
await page.waitForFunction(() => document.getElementById('txn-matter')?.textContent === '营业执照变更登记', null, { timeout: 15_000 });
await page.screenshot({ path: 'docs/screenshot-tablet.png' });
await page.click('button[data-level="2"]');
await page.click('button[data-reason="long-wait"]');
await page.screenshot({ path: 'docs/screenshot-tablet-reasons.png' });

const staff = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
await staff.goto(`${base}/dashboard`);
await staff.evaluate((token) => localStorage.setItem('hcp.adminToken', token), TOKEN);
await staff.goto(`${base}/dashboard`);
await staff.waitForSelector('#dissatisfied-list li[data-id]', { timeout: 15_000 });
await staff.screenshot({ path: 'docs/screenshot-dashboard.png', fullPage: false });
await staff.goto(`${base}/tech`);
await staff.waitForSelector('tr[data-device]', { timeout: 15_000 });
await staff.screenshot({ path: 'docs/screenshot-technician.png', fullPage: false });
await browser.close();
await hub.stop();
rmSync(dir, { recursive: true, force: true });
console.log('docs/screenshot-tablet.png, docs/screenshot-tablet-reasons.png, docs/screenshot-dashboard.png, docs/screenshot-technician.png');
