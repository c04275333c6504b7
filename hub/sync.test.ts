/**
 * The platform session under a hand-moved clock, against an in-process broker: republishing
 * without a receipt, reconnect backoff and receipts take no real time (the real-Mosquitto
 * fault suites are in tests/sync-faults.test.ts).
 */
import { EventEmitter } from 'node:events';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { platformTopics } from '../protocol/index.js';
import { ManualClock } from '../simulators/manual-clock.js';
import { startEmbeddedBroker } from '../simulators/platform.js';
import { waitFor } from '../simulators/pty.js';
import { cleanupsAfterEach, tempDir } from '../tests/support/cleanup.js';
import { evaluation } from '../tests/support/evaluation.js';
import { commitEvaluation } from './evaluations.js';
import { Outbox } from './outbox.js';
import { Store } from './store.js';
import { PlatformSync } from './sync.js';

const cleanups = cleanupsAfterEach();
const hall = { hallId: '430300-001', areaCode: '430300', deptCode: '' };

async function setup(levels: number[]) {
  const broker = await startEmbeddedBroker(0);
  cleanups.push(() => broker.close());
  const store = new Store({ dataDir: tempDir(cleanups, 'sync') });
  cleanups.push(() => store.close());
  store.writeNow((db) => levels.forEach((level, i) => commitEvaluation(db, evaluation({ id: `EV-${i + 1}`, level }), { attachWithinMs: 0, misuseWindowMs: 0 })));
  // the platform: records every batch; answers with receipts only when told to
  const platform = mqtt.connect(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'platform' });
  cleanups.push(() => platform.endAsync(true));
  await platform.subscribeAsync([platformTopics.evaluations(hall.hallId), platformTopics.alerts(hall.hallId)], { qos: 1 });
  const seen = new EventEmitter<{ batch: [{ batchId: string; items: { id: string }[] }]; alert: [{ id: string }] }>();
  const batches: { batchId: string; items: { id: string }[] }[] = [];
  platform.on('message', (topic, payload) => {
    const body = JSON.parse(payload.toString());
    if (topic.endsWith('/evaluations')) {
      batches.push(body);
      seen.emit('batch', body);
    } else seen.emit('alert', body);
  });
  const clock = new ManualClock();
  const sync = new PlatformSync(new Outbox(store, hall), { hall, url: `mqtt://127.0.0.1:${broker.port}`, version: 'test', clock, republishAfterMs: 60_000, statusIntervalMs: 1000 });
  cleanups.push(() => sync.stop());
  // aedes speaks MQTT 3.1.1: the first attempt (MQTT 5) is refused and the retry waits on the clock
  sync.on('reconnecting', (waitMs) => setImmediate(() => clock.advance(waitMs)));
  const nextBatch = () => waitFor<{ batchId: string; items: { id: string }[] }>((l) => (seen.on('batch', l), () => seen.off('batch', l)), () => true, 5000, 'a batch at the platform');
  return { store, sync, clock, platform, batches, nextBatch, seen };
}

const syncStates = (store: Store) => (store.read((db) => db.prepare('SELECT sync_state AS s FROM evaluations ORDER BY id').all()) as { s: string }[]).map((r) => r.s);

describe('platform sync with a manual clock', () => {
  it('publishes the backlog, republishes it only after republishAfterMs without a receipt, and a receipt confirms it', async () => {
    const { store, sync, clock, platform, nextBatch, batches } = await setup([5, 1, 4]);
    const first = nextBatch();
    sync.start();
    const batch = await first;
    expect(batch.items.map((e) => e.id)).toEqual(['EV-2', 'EV-1', 'EV-3']); // 差评 first
    // PUBACKed, and no receipt by the next housekeeping (every 5 s): sent. 59 s after the
    // PUBACK nothing is republished; past 60 s it is.
    await waitFor<number>((l) => { const t = setInterval(() => l(sync.state.lastPubackAt ? 1 : 0), 5); return () => clearInterval(t); }, (n) => n === 1, 5000, 'the PUBACK');
    clock.advance(5_000);
    await waitFor<string[]>((l) => { const t = setInterval(() => l(syncStates(store)), 5); return () => clearInterval(t); }, (s) => s.every((x) => x === 'sent'), 5000, 'the batch to be marked sent');
    clock.advance(54_000);
    expect(batches).toHaveLength(1);
    const again = nextBatch();
    clock.advance(6_000);
    expect((await again).items.map((e) => e.id).sort()).toEqual(['EV-1', 'EV-2', 'EV-3']);
    const confirmed = waitFor<number>((l) => (sync.on('confirmed', l), () => sync.off('confirmed', l)), () => true, 5000, 'a receipt');
    await platform.publishAsync(platformTopics.receipts(hall.hallId), JSON.stringify({ batchId: batches[1]!.batchId, accepted: ['EV-1', 'EV-2', 'EV-3'], rejected: [] }), { qos: 1 });
    expect(await confirmed).toBe(3);
    expect(syncStates(store)).toEqual(['confirmed', 'confirmed', 'confirmed']);
    clock.advance(10 * 60_000);
    expect(batches).toHaveLength(2); // confirmed: never published again
  });

  it('a broker that is not there: each retry waits on the clock, the wait doubles up to the cap, nothing is lost', async () => {
    const store = new Store({ dataDir: tempDir(cleanups, 'sync-down') });
    cleanups.push(() => store.close());
    store.writeNow((db) => commitEvaluation(db, evaluation({ id: 'EV-1', level: 2 }), { attachWithinMs: 0, misuseWindowMs: 0 }));
    const clock = new ManualClock();
    const sync = new PlatformSync(new Outbox(store, hall), { hall, url: 'mqtt://127.0.0.1:1', version: 'test', clock, reconnectMinMs: 1000, reconnectMaxMs: 8000 });
    cleanups.push(() => sync.stop());
    const nextWait = () => waitFor<number>((l) => (sync.on('reconnecting', l), () => sync.off('reconnecting', l)), () => true, 5000, 'a reconnect to be scheduled');
    let pending = nextWait();
    sync.start();
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const wait = await pending;
      waits.push(wait);
      pending = nextWait();
      clock.advance(wait - 1);
      expect(sync.state.connected).toBe(false);
      clock.advance(1); // only now the next attempt starts
    }
    await pending;
    const bases = [1000, 2000, 4000, 8000, 8000, 8000];
    waits.forEach((w, i) => {
      expect(w).toBeGreaterThanOrEqual(bases[i]! * 0.5);
      expect(w).toBeLessThanOrEqual(bases[i]! * 1.5);
    });
    expect(syncStates(store)).toEqual(['pending']);
  });
});
