/**
 * Platform sync against a real Mosquitto process (PROTOCOL 3): the outbox, receipts, alerts.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../hub/config.js';
import { syncSummary } from '../hub/evaluations.js';
import { Hub } from '../hub/hub.js';
import { PlatformIngest } from '../simulators/platform.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { seedOffline, HALL } from './support/seed.js';
import { startMosquitto } from './support/mosquitto.js';

const cleanups = cleanupsAfterEach();


async function setup(n: number) {
  const d = tempDir(cleanups, 'sync');
  const broker = await startMosquitto(d);
  cleanups.push(() => broker.stop());
  const dataDir = join(d, 'hub');
  await seedOffline(dataDir, n);
  const ingest = await PlatformIngest.start({ brokerUrl: broker.url, dbFile: join(d, 'platform.sqlite'), shared: true });
  cleanups.push(() => ingest.close());
  const hub = new Hub({ config: parseConfig({ hallId: HALL, areaCode: '430300', adminToken: 'hall-test-token-7f3a9c', dataDir, http: { port: 0 }, platform: { url: broker.url }, devices: { discover: { serial: false, hid: false } }, windows: [{ id: 'A01' }], sync: { republishAfterS: 5 } }) });
  return { d, broker, ingest, hub, dataDir };
}

function confirmedAll(hub: Hub, n: number, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (hub.store.read(syncSummary).confirmed >= n) {
        hub.platform!.off('confirmed', check);
        clearTimeout(timer);
        resolve();
      }
    };
    const timer = setTimeout(() => reject(new Error(`not all ${n} confirmed: ${JSON.stringify(hub.store.read(syncSummary))}`)), ms);
    hub.platform!.on('confirmed', check);
    check();
  });
}

describe('platform sync against Mosquitto', () => {
  it('a hall offline with 50,000 ratings syncs all of them, each counted once', async () => {
    const n = 50_000;
    const { hub, ingest } = await setup(n);
    await hub.start();
    cleanups.push(() => hub.stop());
    await confirmedAll(hub, n, 120_000);
    expect(ingest.stored(HALL)).toBe(n);
    expect(hub.store.read(syncSummary)).toMatchObject({ pending: 0, sent: 0, confirmed: n });
    // 差评 went first: every alert arrived, and all 差评 were in the first batches
    await ingest.until(() => ingest.counts.alerts >= n / 10, 30_000, 'all alerts');
    const firstNormal = ingest.db.prepare(`SELECT MIN(rowid) AS r FROM evaluations WHERE level > 2`).get() as { r: number };
    const lastUrgent = ingest.db.prepare(`SELECT MAX(rowid) AS r FROM evaluations WHERE level <= 2`).get() as { r: number };
    expect(lastUrgent.r).toBeLessThan(firstNormal.r);
  }, 180_000);
});
