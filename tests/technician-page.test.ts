/**
 * The technician page tells the truth (issue 12 item 6), in Chromium against a hub in this
 * process: the settings dialog starts from what the hub keeps and a save keeps the other
 * fields; a self-test's result per part, from the real firmware on a simulated board with
 * broken pins, also after a restart; a tablet's last-seen time; the last sync times after a
 * restart; catch-up progress while a backlog drains; and the device tables at 800 px.
 */
import { join } from 'node:path';
import five from 'johnny-five';
import mqtt from 'mqtt';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { Firmware } from '../device/firmware.js';
import { JohnnyFiveHardware, SELF_TEST_BIT, SIM_PIN_MAP, boardReady } from '../device/hardware.js';
import { parseConfig } from '../hub/config.js';
import { Hub } from '../hub/hub.js';
import { failedParts, SELF_TEST_PARTS } from '../hub/ingest.js';
import { DEFAULT_SETTINGS, type DeviceListItem, type Settings, type SyncSummary } from '../protocol/index.js';
import { bytePipePair } from '../simulators/memory-link.js';
import { PlatformIngest, startEmbeddedBroker } from '../simulators/platform.js';
import { SimIO } from '../simulators/sim-io.js';
import { sharedBrowser } from './support/browser.js';
import { cleanupsAfterEach, tempDir, type Cleanups } from './support/cleanup.js';
import { waitFor } from './support/processes.js';
import { HALL, seedOffline } from './support/seed.js';

const TOKEN = 'technician-test-admin-token';
const browser = sharedBrowser();
const cleanups = cleanupsAfterEach();

async function startHall(dataDir: string, extra: Record<string, unknown> = {}): Promise<Hub> {
  const hub = new Hub({
    config: parseConfig({
      hallId: HALL,
      hallName: '湘潭市政务服务中心',
      areaCode: '430300',
      adminToken: TOKEN,
      dataDir,
      http: { host: '127.0.0.1', port: 0 },
      devices: { discover: { serial: false, hid: false } },
      windows: [{ id: 'A01', name: 'A01 综合受理' }, { id: 'A02', name: 'A02 不动产登记' }, { id: 'A03', name: 'A03 社保医保' }],
      ...extra,
    }),
  });
  await hub.start();
  let stopped = false;
  const stop = hub.stop.bind(hub);
  hub.stop = async () => {
    if (stopped) return;
    stopped = true;
    await stop();
  };
  cleanups.push(() => hub.stop());
  return hub;
}

async function api<T>(hub: Hub, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${hub.port}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const device = async (hub: Hub, id: string) => (await api<{ devices: DeviceListItem[] }>(hub, 'GET', '/api/devices')).devices.find((d) => d.deviceId === id);

/** The technician page, signed in, in English. */
async function techPage(hub: Hub, viewport = { width: 1440, height: 1000 }): Promise<Page> {
  const page = await browser().newPage({ viewport });
  cleanups.push(() => page.close());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  cleanups.push(() => expect(errors, 'no script errors').toEqual([]));
  const url = `http://127.0.0.1:${hub.port}/tech`;
  await page.goto(url);
  await page.evaluate((t) => {
    localStorage.setItem('hcp.adminToken', t);
    localStorage.setItem('hcp.lang', 'en');
  }, TOKEN);
  await page.goto(url);
  await page.waitForSelector('#app:not([hidden])', { timeout: 10_000 });
  return page;
}

/**
 * An evaluator running the real firmware on a simulated board, linked to the hub in memory;
 * resolves once the hub welcomed it (a paired one) or at once (`welcome: false`).
 */
async function evaluator(hub: Hub, deviceId: string, dir: string, brokenPins: number[], c: Cleanups, welcome = true): Promise<Firmware> {
  const pipe = bytePipePair();
  await hub.attach(pipe.b, `mem-${deviceId}`);
  const io = new SimIO({ brokenPins });
  const board = new five.Board({ io, repl: false, debug: false, sigint: false } as unknown as five.BoardOption);
  await boardReady(board);
  const firmware = new Firmware({ core: { deviceId }, stateDir: join(dir, deviceId), transport: pipe.a, hardware: new JohnnyFiveHardware(board, SIM_PIN_MAP) });
  const welcomed = waitFor<string>((l) => (firmware.on('state', l), () => firmware.off('state', l)), (s) => s === 'idle' || s === 'signed-out', 15_000, `${deviceId} welcomed`);
  await firmware.start();
  c.push(() => firmware.stop());
  if (welcome) await welcomed;
  else welcomed.catch(() => {});
  return firmware;
}

describe('the technician page', () => {
  it('opens the settings dialog on the stored settings, and saving one field keeps the others', async () => {
    const hub = await startHall(join(tempDir(cleanups, 'tech'), 'hub'));
    await hub.pair('HCP5-SET01', 'A01', 'test', 'evaluator');
    await hub.pair('HCP5-SET02', 'A02', 'test', 'evaluator');
    const stored: Settings = { promptTimeoutS: 45, thanksS: 5, volume: 2, brightness: 3, language: 1, flags: 2 };
    await api(hub, 'PUT', '/api/devices/HCP5-SET01/settings', stored);
    const page = await techPage(hub);
    const dialog = async (id: string) => {
      await page.click(`button[data-action="settings"][data-device="${id}"]`);
      await page.waitForSelector('#settings-dialog[open]', { timeout: 5000 });
      return page.evaluate(() => {
        const n = (id: string) => (document.getElementById(id) as HTMLInputElement).valueAsNumber;
        const checked = (id: string) => (document.getElementById(id) as HTMLInputElement).checked;
        return {
          promptTimeoutS: n('set-promptTimeoutS'),
          thanksS: n('set-thanksS'),
          volume: n('set-volume'),
          brightness: n('set-brightness'),
          language: Number((document.getElementById('set-language') as HTMLSelectElement).value),
          flags: (checked('set-unsolicited') ? 1 : 0) | (checked('set-voice') ? 2 : 0),
        };
      });
    };
    // never set: the factory settings, which is what the hub sends it on WELCOME
    expect(await dialog('HCP5-SET02')).toEqual({ ...DEFAULT_SETTINGS });
    await page.click('#settings-close');
    expect(await dialog('HCP5-SET01')).toEqual(stored);
    await page.fill('#set-brightness', '9');
    await page.click('#settings-form button[type="submit"]');
    await page.waitForSelector('#settings-dialog:not([open])', { state: 'attached', timeout: 5000 });
    expect((await device(hub, 'HCP5-SET01'))?.settings).toEqual({ ...stored, brightness: 9 });
    // a new page (another browser) starts from the hub's settings too, not from what one page saved
    const other = await techPage(hub);
    await other.click('button[data-action="settings"][data-device="HCP5-SET01"]');
    await other.waitForSelector('#settings-dialog[open]', { timeout: 5000 });
    expect(await other.inputValue('#set-brightness')).toBe('9');
    expect(await other.inputValue('#set-promptTimeoutS')).toBe('45');
  });

  it('shows the self-test result per part, from the device, and still after a restart', async () => {
    const dir = tempDir(cleanups, 'tech');
    const dataDir = join(dir, 'hub');
    const hub = await startHall(dataDir);
    await hub.pair('HCP5-BAD01', 'A01', 'test', 'evaluator');
    await hub.pair('HCP5-GOOD1', 'A02', 'test', 'evaluator');
    const devices: Cleanups = [];
    cleanups.push(async () => {
      for (const c of devices.splice(0).reverse()) await c();
    });
    await evaluator(hub, 'HCP5-BAD01', dir, [SIM_PIN_MAP.leds['3'] as number, SIM_PIN_MAP.buzzer as number], devices);
    await evaluator(hub, 'HCP5-GOOD1', dir, [], devices);
    const page = await techPage(hub);
    const cell = (id: string) => `#paired-devices tr[data-device="${id}"] td[data-self-test]`;
    expect(await page.getAttribute(cell('HCP5-BAD01'), 'data-self-test')).toBe('none');

    await page.click('button[data-action="self-test"][data-device="HCP5-BAD01"]');
    await page.waitForSelector(`${cell('HCP5-BAD01')}[data-self-test="running"]`, { timeout: 5000 });
    await page.waitForSelector(`${cell('HCP5-BAD01')}[data-self-test="failed"]`, { timeout: 10_000 });
    expect(await page.textContent(cell('HCP5-BAD01'))).toMatch(/^⚠ Failed: LED 3, buzzer /);
    await page.click('button[data-action="self-test"][data-device="HCP5-GOOD1"]');
    await page.waitForSelector(`${cell('HCP5-GOOD1')}[data-self-test="passed"]`, { timeout: 10_000 });
    expect(await page.textContent(cell('HCP5-GOOD1'))).toMatch(/^✓ Passed /);
    const bad = await device(hub, 'HCP5-BAD01');
    expect(bad?.selfTest?.failed).toEqual(['led3', 'buzzer']);
    expect((await device(hub, 'HCP5-GOOD1'))?.selfTest?.failed).toEqual([]);

    // the hub keeps the result: a restarted hub shows it before any device speaks again
    for (const c of devices.splice(0).reverse()) await c();
    await hub.stop();
    const again = await startHall(dataDir);
    expect((await device(again, 'HCP5-BAD01'))?.selfTest).toEqual(bad?.selfTest);
    const fresh = await techPage(again);
    await fresh.waitForSelector(`${cell('HCP5-BAD01')}[data-self-test="failed"]`, { timeout: 5000 });
  });

  it('names the parts by the bits the firmware sets', () => {
    for (const [i, part] of SELF_TEST_PARTS.entries()) {
      const bit = part.startsWith('led') ? SELF_TEST_BIT.led(Number(part.slice(3))) : SELF_TEST_BIT[part as 'status' | 'buzzer'];
      expect(bit, part).toBe(1 << i);
    }
    expect(failedParts(SELF_TEST_BIT.led(3) | SELF_TEST_BIT.buzzer | (1 << 9))).toEqual(['led3', 'buzzer', 'bit9']);
    expect(failedParts(0)).toEqual([]);
  });

  it("records a tablet's last-seen time when it connects and disconnects", async () => {
    const hub = await startHall(join(tempDir(cleanups, 'tech'), 'hub'));
    const { token } = await api<{ token: string }>(hub, 'POST', '/api/devices/TAB-07/pair', { windowId: 'A01' });
    const page = await techPage(hub);
    const seen = '#paired-devices tr[data-device="TAB-07"] td.when';
    expect(await page.textContent(seen)).toBe('Never');

    const before = Date.now();
    const client = await mqtt.connectAsync(`ws://127.0.0.1:${hub.port}/mqtt`, { username: 'TAB-07', password: token, clientId: 'tab-07-test', reconnectPeriod: 0 });
    cleanups.push(() => client.endAsync(true));
    const seenAt = (min: number) =>
      page.waitForFunction(([sel, min]) => Date.parse(document.querySelector(`${sel} time`)?.getAttribute('datetime') ?? '') >= min, [seen, min] as const, { timeout: 10_000 });
    await seenAt(before);
    const online = await page.textContent('#paired-devices tr[data-device="TAB-07"]');
    expect(online).toContain('Online');

    const leaving = Date.now();
    await client.endAsync();
    await seenAt(leaving);
    await page.waitForFunction(() => document.querySelector('#paired-devices tr[data-device="TAB-07"]')?.textContent?.includes('Offline'), null, { timeout: 10_000 });
    expect(Date.parse((await device(hub, 'TAB-07'))!.lastSeenAt!)).toBeGreaterThanOrEqual(leaving);
  });

  it('after a restart shows the last PUBACK and receipt from the store, not "never"', async () => {
    const dir = tempDir(cleanups, 'tech');
    const dataDir = join(dir, 'hub');
    await seedOffline(dataDir, 30);
    const broker = await startEmbeddedBroker(0);
    let brokerUp = true;
    cleanups.push(() => brokerUp && broker.close());
    const ingest = await PlatformIngest.start({ brokerUrl: `mqtt://127.0.0.1:${broker.port}`, dbFile: join(dir, 'platform.sqlite') });
    cleanups.push(() => ingest.close());
    const platform = { platform: { url: `mqtt://127.0.0.1:${broker.port}` } };
    const hub = await startHall(dataDir, platform);
    const allConfirmed = () => hub.views.syncStatus().backlog.confirmed === 30;
    if (!allConfirmed()) await waitFor<number>((l) => (hub.platform!.on('confirmed', l), () => hub.platform!.off('confirmed', l)), allConfirmed, 20_000, 'all 30 confirmed');
    const live = { lastPubackAt: hub.platform!.state.lastPubackAt, lastReceiptAt: hub.platform!.state.lastReceiptAt };
    expect(live.lastPubackAt).not.toBeNull();
    expect(live.lastReceiptAt).not.toBeNull();
    await hub.stop();
    await ingest.close();
    await broker.close();
    brokerUp = false;

    // the platform is gone: the restarted hub never connects, its live session has no times
    const again = await startHall(dataDir, platform);
    const sync = await api<SyncSummary>(again, 'GET', '/api/sync');
    expect(sync.platformConnected).toBe(false);
    expect({ lastPubackAt: sync.lastPubackAt, lastReceiptAt: sync.lastReceiptAt }).toEqual(live);
    const page = await techPage(again);
    await page.waitForSelector('#sync-facts', { timeout: 5000 });
    const shown = (fact: string) => page.getAttribute(`#sync-facts [data-fact="${fact}"] time`, 'datetime', { timeout: 5000 });
    expect(await shown('techLastPuback')).toBe(live.lastPubackAt);
    expect(await shown('techLastReceipt')).toBe(live.lastReceiptAt);
  });

  it('shows the catch-up progress while a backlog drains, not one late jump', async () => {
    const dir = tempDir(cleanups, 'tech');
    const dataDir = join(dir, 'hub');
    await seedOffline(dataDir, 240);
    // a platform that takes 30 evaluations a second: the backlog takes 8 s to drain
    const broker = await startEmbeddedBroker(0, '127.0.0.1', { evaluationsPerS: 30 });
    cleanups.push(() => broker.close());
    const ingest = await PlatformIngest.start({ brokerUrl: `mqtt://127.0.0.1:${broker.port}`, dbFile: join(dir, 'platform.sqlite') });
    cleanups.push(() => ingest.close());
    const hub = await startHall(dataDir, { platform: { url: `mqtt://127.0.0.1:${broker.port}` }, sync: { batchItems: 10 } });
    const page = await techPage(hub);
    // every value the progress bar takes, as the page draws it
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { progressSeen: number[] }).progressSeen = seen;
      new MutationObserver(() => {
        const bar = document.getElementById('sync-progress') as HTMLProgressElement | null;
        if (bar && seen.at(-1) !== bar.value) seen.push(bar.value);
      }).observe(document.getElementById('sync-state')!, { childList: true, subtree: true });
    });
    await page.waitForFunction(() => document.getElementById('sync-words')?.textContent?.startsWith('in sync'), null, { timeout: 30_000 });
    const values = await page.evaluate(() => (window as unknown as { progressSeen: number[] }).progressSeen);
    const between = values.filter((v) => v > 0 && v < 240);
    expect(between.length, `progress values seen: ${values.join(', ')}`).toBeGreaterThanOrEqual(3);
    expect([...between].sort((a, b) => a - b), 'it only grows').toEqual(between);
  }, 45_000);

  it('fits a screen 800 px wide: no sideways scrolling, every action in view', async () => {
    const dir = tempDir(cleanups, 'tech');
    const hub = await startHall(join(dir, 'hub'), { platform: { url: 'mqtt://127.0.0.1:9' } });
    const devices: Cleanups = [];
    cleanups.push(async () => {
      for (const c of devices.splice(0).reverse()) await c();
    });
    await hub.pair('HCP5-NARROW01', 'A01', 'test', 'evaluator');
    await evaluator(hub, 'HCP5-NARROW01', dir, [SIM_PIN_MAP.leds['1'] as number, SIM_PIN_MAP.leds['2'] as number, SIM_PIN_MAP.status as number, SIM_PIN_MAP.buzzer as number], devices);
    await evaluator(hub, 'HCP5-PENDING-LONG-ID-0001', dir, [], devices, false); // not paired: listed as pending
    await api(hub, 'PUT', '/api/devices/HCP5-NARROW01/settings', { ...DEFAULT_SETTINGS, volume: 7 });
    await api(hub, 'POST', '/api/devices/TABLET-LONG-NAME-AT-A02-0001/pair', { windowId: 'A02' });
    await api(hub, 'POST', '/api/devices/HCP5-NARROW01/self-test');
    for (const lang of ['en', 'zh-CN']) {
      const page = await techPage(hub, { width: 800, height: 1280 });
      if (lang === 'zh-CN') await page.click('#lang');
      await page.waitForSelector('#pending-devices tr[data-device]', { timeout: 15_000 });
      await page.waitForSelector('#paired-devices td[data-self-test="failed"]', { timeout: 10_000 });
      const widths = await page.evaluate(() => ({
        page: document.documentElement.scrollWidth,
        boxes: [...document.querySelectorAll('.scroll')].map((b) => ({ id: b.id, scroll: b.scrollWidth, client: b.clientWidth })),
        buttons: [...document.querySelectorAll('#paired-devices button, #pending-devices button')].map((b) => Math.round(b.getBoundingClientRect().right)),
      }));
      expect(widths.page, lang).toBeLessThanOrEqual(800);
      for (const box of widths.boxes) expect(box.scroll, `${lang}: #${box.id} scrolls sideways`).toBeLessThanOrEqual(box.client);
      expect(widths.buttons.length).toBeGreaterThanOrEqual(4);
      for (const right of widths.buttons) expect(right, `${lang}: a button reaches past the screen`).toBeLessThanOrEqual(800);
      await page.click('button[data-action="settings"][data-device="HCP5-NARROW01"]');
      await page.waitForSelector('#settings-dialog[open]', { timeout: 5000 });
      expect(await page.evaluate(() => document.documentElement.scrollWidth), `${lang}: with the settings dialog`).toBeLessThanOrEqual(800);
    }
  }, 60_000);
});
