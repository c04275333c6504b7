/**
 * The dashboard and the technician pages in headless Chromium against a real hub process:
 * a 差评 from the tablet shows on the dashboard within a second; the technician pages refuse
 * without the token; a pending evaluator is paired from the page and welcomed.
 */
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, DevicePeer, startHub, type HubProcess } from './support/hub.js';
import { sharedBrowser } from './support/browser.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { ptyPair } from './support/processes.js';

const browser = sharedBrowser();
const cleanups = cleanupsAfterEach();

async function hall(extra: Record<string, unknown> = {}): Promise<HubProcess> {
  const dir = tempDir(cleanups, 'staff');
  const hub = await startHub(dir, { hallId: '430300-001', hallName: '湘潭市政务服务中心', windows: [{ id: 'A01', name: 'A01 综合受理' }, { id: 'A02', name: 'A02 不动产登记' }], ...extra });
  cleanups.push(() => {
    if (hub.proc.child.exitCode === null) hub.proc.child.kill('SIGKILL');
  });
  return hub;
}

async function staffPage(hub: HubProcess, path: string, token: string | null) {
  const page = await browser().newPage({ viewport: { width: 1440, height: 1000 } });
  cleanups.push(() => page.close());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  cleanups.push(() => expect(errors, 'no script errors').toEqual([]));
  await page.goto(`${hub.url}${path}`);
  if (token !== null) {
    await page.evaluate((t) => localStorage.setItem('hcp.adminToken', t), token);
    await page.goto(`${hub.url}${path}`);
  }
  return page;
}

describe('staff pages', () => {
  it('a 差评 rated on the tablet is committed with its fields and shows on the dashboard within a second', async () => {
    const hub = await hall();
    await hub.api('PUT', '/api/windows/A01/staff', { duty: 'on', staffId: 'S007', staffName: '李明' });
    const { json: paired } = await hub.api('POST', '/api/devices/TAB-01/pair', { windowId: 'A01' });
    const dashboard = await staffPage(hub, '/dashboard', ADMIN_TOKEN);
    await dashboard.waitForFunction(() => document.body.textContent?.includes('实时'), null, { timeout: 10_000 });

    const tablet = await browser().newPage({ viewport: { width: 1280, height: 800 } });
    cleanups.push(() => tablet.close());
    await tablet.goto(`${hub.url}/tablet?tablet=TAB-01&token=${paired.token as string}`);
    await tablet.waitForFunction(() => document.getElementById('conn')?.dataset['state'] === 'online', null, { timeout: 10_000 });
    await hub.api('POST', '/api/windows/A01/service', { event: 'done', txnId: 'T-501', matterName: '不动产登记' });
    await tablet.waitForFunction(() => document.getElementById('txn-matter')?.textContent === '不动产登记', null, { timeout: 5000 });
    await tablet.click('button[data-level="2"]');
    await tablet.click('button[data-reason="attitude"]');
    await tablet.click('button[data-reason="too-many-documents"]');
    await tablet.fill('#comment', '材料要求反复变');
    await tablet.click('#submit');
    await tablet.waitForFunction(() => JSON.parse(localStorage.getItem('hcp.outbox') ?? '[]').length === 0, null, { timeout: 5000 });
    const committedAt = Date.now(); // the tablet has the hub's ack: the rating is committed
    await dashboard.waitForSelector('#dissatisfied-list li[data-id="TAB-01-1"]', { timeout: 5000 });
    expect(Date.now() - committedAt, 'shown on the dashboard within a second').toBeLessThan(1000);
    expect(await dashboard.textContent('#dissatisfied-list li[data-id="TAB-01-1"]')).toContain('不满意');

    const { json } = await hub.api('GET', '/api/evaluations?limit=5');
    expect((json.evaluations as Record<string, unknown>[])[0]).toMatchObject({ id: 'TAB-01-1', level: 2, reasons: ['attitude', 'too-many-documents'], comment: '材料要求反复变', txnId: 'T-501', staffName: '李明' });

    // a handling step recorded on the dashboard is stored
    await dashboard.click('#dissatisfied-list li[data-id="TAB-01-1"] button:has-text("已受理")');
    const steps = async () => ((await hub.api('GET', '/api/dissatisfied')).json.dissatisfied as { evaluation: { id: string }; handling: { step: string }[] }[]).find((d) => d.evaluation.id === 'TAB-01-1')?.handling.map((h) => h.step);
    // the card lists the recorded step (the button's own label says 已受理 from the start)
    await dashboard.waitForFunction(() => document.querySelector('#dissatisfied-list li[data-id="TAB-01-1"] .dis-steps')?.textContent?.includes('已受理'), null, { timeout: 5000 });
    expect(await dashboard.isDisabled('#dissatisfied-list li[data-id="TAB-01-1"] button[data-step="acknowledged"]'), 'acknowledged once').toBe(true);
    expect(await steps()).toEqual(['acknowledged']);
  });

  it('the technician pages show nothing without the admin token, and refuse a wrong one', async () => {
    const hub = await hall();
    const page = await staffPage(hub, '/tech', null);
    await page.waitForSelector('#login:not([hidden])', { timeout: 5000 });
    expect(await page.isHidden('#app')).toBe(true);
    await page.fill('#token-input', 'not-the-token');
    await page.click('#login-form button[type="submit"]');
    await page.waitForFunction(() => (document.getElementById('login-error')?.textContent ?? '').length > 0, null, { timeout: 5000 });
    expect(await page.isHidden('#app')).toBe(true);
    await page.fill('#token-input', ADMIN_TOKEN);
    await page.click('#login-form button[type="submit"]');
    await page.waitForSelector('#app:not([hidden])', { timeout: 5000 });
  });

  it('a pending evaluator is paired from the technician page and welcomed', async () => {
    const pty = await ptyPair();
    cleanups.push(() => pty.close());
    const hub = await hall({ devices: { serial: [{ path: pty.b }], discover: { serial: false, hid: false } } });
    const peer = await DevicePeer.open(pty.a, 'HCP5-PEND1');
    cleanups.push(() => peer.close());
    const welcome = peer.hello(1, 30_000);
    const page = await staffPage(hub, '/tech', ADMIN_TOKEN);
    await page.waitForSelector('#pending-box tr[data-device="HCP5-PEND1"]', { timeout: 15_000 });
    await page.selectOption('#pending-box select', 'A02');
    await page.click('#pending-box button[data-action="pair"][data-device="HCP5-PEND1"]');
    expect((await welcome).message).toMatchObject({ type: 'WELCOME', windowId: 'A02' });
    await page.waitForSelector('#paired-box tr[data-device="HCP5-PEND1"]', { timeout: 10_000 });
    const { json } = await hub.api('GET', '/api/audit');
    expect((json.audit as { actor: string; action: string; detail: { deviceId?: string } }[]).some((a) => a.action === 'pair' && a.actor === 'admin' && a.detail.deviceId === 'HCP5-PEND1')).toBe(true);
  });
});
