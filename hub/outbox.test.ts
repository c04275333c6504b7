/** The outbox's SQL on a real SQLite file, without a broker (PROTOCOL 3 delivery states). */
import { describe, expect, it } from 'vitest';
import { cleanupsAfterEach, tempDir } from '../tests/support/cleanup.js';
import { evaluation } from '../tests/support/evaluation.js';
import { MAX_BATCH_BYTES } from '../protocol/index.js';
import { commitEvaluation, rowToEvaluation, type EvaluationRow } from './evaluations.js';
import { batchPayload, batchPayloadInto } from './outbox-json.js';
import { Outbox } from './outbox.js';
import { Store } from './store.js';

const cleanups = cleanupsAfterEach();
const hall = { hallId: '430300-001', areaCode: '430300', deptCode: '' };

function storeWith(levels: number[]): Store {
  const store = new Store({ dataDir: tempDir(cleanups, 'outbox') });
  cleanups.push(() => store.close());
  store.writeNow((db) => {
    levels.forEach((level, i) => {
      const at = new Date(Date.parse('2026-11-27T02:00:00Z') + i * 1000).toISOString();
      commitEvaluation(db, evaluation({ id: `EV-${i + 1}`, level, evaluatedAt: at }), { attachWithinMs: 0, misuseWindowMs: 0 });
    });
  });
  return store;
}

const idOf = (item: string) => (JSON.parse(item) as { id: string }).id;

const states = (store: Store) => Object.fromEntries((store.read((db) => db.prepare('SELECT id, sync_state AS s FROM evaluations').all()) as { id: string; s: string }[]).map((r) => [r.id, r.s]));

describe('outbox', () => {
  it('batches 差评 first, claims them, and does not hand out a claimed row twice', () => {
    const outbox = new Outbox(storeWith([5, 4, 1, 5, 2]), hall);
    const first = outbox.claimBatch('B1', 3);
    expect(first.map(idOf)).toEqual(['EV-3', 'EV-5', 'EV-1']);
    expect(outbox.claimBatch('B2', 10).map(idOf)).toEqual(['EV-2', 'EV-4']);
    expect(outbox.claimBatch('B3', 10)).toEqual([]);
  });

  it('hands out each item byte for byte as the record read back from its columns, ready at commit or built for an older row', () => {
    const store = storeWith([]);
    const records = [
      evaluation({ id: 'EV-1', level: 1, reasons: ['attitude', 'slow'], comment: '态度"差"\n等了\t很久 \u2028', contact: '13800000000', consent: true, txnId: 'T-1', matterCode: 'M1', matterName: '居住证办理' }),
      { ...evaluation({ id: 'EV-2', level: 4, promptMs: null, windowId: null, flags: ['clockUnsynced'] }), contact: '13900000000' }, // no consent: not kept
      evaluation({ id: 'EV-3', level: 0, origin: 'unsolicited', evaluatedAt: '2026-11-27T02:31:00.000Z' }),
      evaluation({ id: 'EV-4', level: 3, ratingNo: 2, followUpOf: 'EV-1', channel: 'phone', deviceId: 'hub', evaluatedAt: '2026-11-27T02:32:00.000Z' }),
    ];
    store.writeNow((db) => records.forEach((e) => commitEvaluation(db, e, { attachWithinMs: 0, misuseWindowMs: 0 })));
    // EV-3 as a row of a hub before migration 11: no ready text
    store.writeNow((db) => db.prepare(`UPDATE evaluations SET outbox_json = NULL WHERE id = 'EV-3'`).run());
    const rows = store.read((db) => db.prepare('SELECT * FROM evaluations ORDER BY dissatisfied DESC, received_at').all()) as EvaluationRow[];
    const ready = store.read((db) => db.prepare('SELECT COUNT(*) AS n FROM evaluations WHERE outbox_json IS NOT NULL').get()) as { n: number };
    expect(ready.n).toBe(3);
    const other = { hallId: '430300-002', areaCode: '430300', deptCode: '11430300MB1234567X' }; // the identity in effect when it goes out
    const items = new Outbox(store, other).claimBatch('B1', 10);
    expect(items).toEqual(rows.map((row) => JSON.stringify(rowToEvaluation(row, other))));
    expect(batchPayload('B1', other.hallId, '2026-11-27T03:00:00.000Z', items)).toBe(
      JSON.stringify({ batchId: 'B1', hallId: other.hallId, sentAt: '2026-11-27T03:00:00.000Z', items: rows.map((row) => rowToEvaluation(row, other)) }),
    );
    // the same bytes written into a reused buffer, and none when they might not fit
    expect(batchPayloadInto(Buffer.alloc(64 * 1024, 0x20), 'B1', other.hallId, '2026-11-27T03:00:00.000Z', items)?.toString()).toBe(batchPayload('B1', other.hallId, '2026-11-27T03:00:00.000Z', items));
    expect(batchPayloadInto(Buffer.alloc(600), 'B1', other.hallId, '2026-11-27T03:00:00.000Z', items)).toBeUndefined();
  });

  it('cuts a batch at 256 KiB, and the next page starts with the first item left out', () => {
    const store = storeWith([]);
    store.writeNow((db) => {
      for (let i = 1; i <= 300; i++) {
        const at = new Date(Date.parse('2026-11-27T02:00:00Z') + i * 1000).toISOString();
        commitEvaluation(db, evaluation({ id: `EV-${i}`, level: 5, comment: '很好'.repeat(250), evaluatedAt: at }), { attachWithinMs: 0, misuseWindowMs: 0 });
      }
    });
    const outbox = new Outbox(store, hall);
    const batches: string[][] = [];
    for (let items = outbox.claimBatch('B1', 500); items.length > 0; items = outbox.claimBatch(`B${batches.length + 1}`, 500)) {
      batches.push(items);
      expect(Buffer.byteLength(batchPayload(`B${batches.length}`, hall.hallId, '2026-11-27T03:00:00.000Z', items))).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    }
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.flat().map(idOf)).toEqual(Array.from({ length: 300 }, (_, i) => `EV-${i + 1}`));
  });

  it('pending → sent on PUBACK → confirmed or rejected by a receipt; the backlog follows', async () => {
    const store = storeWith([5, 1, 3]);
    const outbox = new Outbox(store, hall);
    expect(outbox.backlog()).toEqual({ n: 3, oldest: '2026-11-27T02:00:00.000Z' });
    outbox.claimBatch('B1', 10);
    await outbox.markBatchSent('B1', '2026-11-27T03:00:00.000Z');
    outbox.flushSent(); // no receipt by the sync's next housekeeping
    expect(Object.values(states(store))).toEqual(['sent', 'sent', 'sent']);
    const confirmed = await outbox.applyReceipt({ batchId: 'B1', accepted: ['EV-1', 'EV-2', 'NOT-OURS'], rejected: [{ id: 'EV-3', reason: 'bad staff' }] }, '2026-11-27T03:00:01.000Z');
    expect(confirmed).toEqual({ evaluations: 2, steps: 0 });
    expect(states(store)).toEqual({ 'EV-1': 'confirmed', 'EV-2': 'confirmed', 'EV-3': 'rejected' });
    expect(outbox.backlog()).toEqual({ n: 0, oldest: null });
    // a receipt repeated later changes nothing
    expect(await outbox.applyReceipt({ batchId: 'B1', accepted: ['EV-1'], rejected: [] }, '2026-11-27T04:00:00.000Z')).toEqual({ evaluations: 0, steps: 0 });
  });

  it('a receipt soon after the PUBACK confirms pending rows in one write; what it leaves out goes out again, nothing twice meanwhile', async () => {
    const store = storeWith([5, 4, 3, 5]);
    const outbox = new Outbox(store, hall);
    expect(outbox.claimBatch('B1', 3).map(idOf)).toEqual(['EV-1', 'EV-2', 'EV-3']);
    await outbox.markBatchSent('B1', '2026-11-27T03:00:00.000Z');
    expect(Object.values(states(store))).toEqual(['pending', 'pending', 'pending', 'pending']); // PUBACKed, not written yet
    expect(outbox.claimBatch('B2', 10).map(idOf)).toEqual(['EV-4']); // but still claimed
    expect(await outbox.applyReceipt({ batchId: 'B1', accepted: ['EV-1', 'EV-3'], rejected: [] }, '2026-11-27T03:00:01.000Z')).toEqual({ evaluations: 2, steps: 0 });
    expect(states(store)).toEqual({ 'EV-1': 'confirmed', 'EV-2': 'pending', 'EV-3': 'confirmed', 'EV-4': 'pending' });
    outbox.flushSent(); // B1 is done: nothing of it is written sent
    expect(states(store)['EV-2']).toBe('pending');
    expect(outbox.claimBatch('B3', 10).map(idOf)).toEqual(['EV-2']); // left out by the receipt: out again
  });

  it('the connection goes: PUBACKed batches are written sent, the others released', async () => {
    const store = storeWith([5, 4, 3]);
    const outbox = new Outbox(store, hall);
    outbox.claimBatch('B1', 2);
    await outbox.markBatchSent('B1', '2026-11-27T03:00:00.000Z');
    outbox.claimBatch('B2', 2);
    outbox.releaseClaims();
    expect(states(store)).toEqual({ 'EV-1': 'sent', 'EV-2': 'sent', 'EV-3': 'pending' });
    expect(outbox.claimBatch('B3', 10).map(idOf)).toEqual(['EV-3']);
  });

  it('at most 16 PUBACKed batches wait for their receipt in memory; beyond, the oldest is written sent', async () => {
    const store = storeWith(Array.from({ length: 17 }, () => 5));
    const outbox = new Outbox(store, hall);
    for (let i = 1; i <= 17; i++) {
      outbox.claimBatch(`B${i}`, 1);
      await outbox.markBatchSent(`B${i}`, '2026-11-27T03:00:00.000Z');
    }
    expect(Object.entries(states(store)).filter(([, s]) => s === 'sent').map(([id]) => id)).toEqual(['EV-1']);
  });

  it('released claims and unconfirmed sent rows go back to pending; nothing is lost', async () => {
    const store = storeWith([5, 4, 2]);
    const outbox = new Outbox(store, hall);
    outbox.claimBatch('B1', 1);
    const alerts = outbox.claimAlerts(10);
    expect(alerts.map((e) => e.id)).toEqual(['EV-3']);
    expect(outbox.claimAlerts(10)).toEqual([]); // claimed: not handed out again
    outbox.releaseClaims();
    expect(outbox.claimAlerts(10).map((e) => e.id)).toEqual(['EV-3']);
    const again = outbox.claimBatch('B2', 10);
    expect(again.map(idOf).sort()).toEqual(['EV-1', 'EV-2', 'EV-3']);
    await outbox.markBatchSent('B2', '2026-11-27T03:00:00.000Z');
    outbox.flushSent();
    expect(outbox.requeueUnconfirmed('2026-11-27T02:59:59.000Z')).toBe(0);
    expect(outbox.requeueUnconfirmed('2026-11-27T03:00:01.000Z')).toBe(3);
    expect(Object.values(states(store))).toEqual(['pending', 'pending', 'pending']);
  });

  it('marks PUBACKed alerts once, each with its deadline; a second rating is no alert', async () => {
    const store = storeWith([1]);
    store.writeNow((db) => commitEvaluation(db, evaluation({ id: 'RE-EV-1', level: 2, channel: 'phone', deviceId: 'hub', ratingNo: 2, followUpOf: 'EV-1', evaluatedAt: '2026-11-28T02:00:00.000Z' }), { attachWithinMs: 0, misuseWindowMs: 0 }));
    const outbox = new Outbox(store, hall, () => ({ deadlineAt: '2026-12-01T16:00:00.000Z', complex: true }));
    const alerts = outbox.claimAlerts(10);
    expect(alerts.map((a) => [a.id, a.deadlineAt, a.complex])).toEqual([['EV-1', '2026-12-01T16:00:00.000Z', true]]);
    await outbox.markAlerted(['EV-1'], '2026-11-27T03:00:00.000Z');
    outbox.releaseClaims();
    expect(outbox.claimAlerts(10)).toEqual([]);
    // without the hall's calendar: 2 working days, Monday to Friday (27 Nov 2026 is a Friday)
    const plain = new Outbox(storeWith([2]), hall);
    expect(plain.claimAlerts(10).map((a) => a.deadlineAt)).toEqual(['2026-12-01T16:00:00.000Z']);
  });

  it('handling steps: a batch claimed in order, sent on PUBACK, confirmed by their stepIds; unconfirmed ones requeued', async () => {
    const store = storeWith([1]);
    const outbox = new Outbox(store, hall);
    const step = (n: number, name: string) =>
      db(store).prepare(`INSERT INTO handling (evaluation_id, step, at, by, note, step_id, deadline_at) VALUES ('EV-1', ?, ?, '李四', NULL, ?, '2026-12-01T16:00:00.000Z')`).run(name, `2026-11-27T03:0${n}:00.000Z`, `EV-1#${n}`);
    step(1, 'acknowledged');
    step(2, 'called-back');
    expect(outbox.stepsUnconfirmed()).toBe(false);
    const batch = outbox.claimStepBatch('H1', 10);
    expect(batch).toEqual([
      { stepId: 'EV-1#1', evaluationId: 'EV-1', step: 'acknowledged', by: '李四', note: null, at: '2026-11-27T03:01:00.000Z', deadlineAt: '2026-12-01T16:00:00.000Z' },
      { stepId: 'EV-1#2', evaluationId: 'EV-1', step: 'called-back', by: '李四', note: null, at: '2026-11-27T03:02:00.000Z', deadlineAt: '2026-12-01T16:00:00.000Z' },
    ]);
    expect(outbox.claimStepBatch('H2', 10)).toEqual([]); // claimed
    expect(outbox.stepsUnconfirmed()).toBe(true);
    outbox.releaseClaims(); // the connection went
    expect(outbox.claimStepBatch('H3', 1).map((s) => s.stepId)).toEqual(['EV-1#1']);
    await outbox.markStepBatchSent('H3', '2026-11-27T03:05:00.000Z');
    expect(outbox.stepsUnconfirmed(), 'sent, not confirmed: the next batch waits').toBe(true);
    expect(outbox.requeueUnconfirmedSteps('2026-11-27T03:04:00.000Z')).toBe(0);
    expect(outbox.requeueUnconfirmedSteps('2026-11-27T03:06:00.000Z')).toBe(1);
    outbox.claimStepBatch('H4', 10);
    await outbox.markStepBatchSent('H4', '2026-11-27T03:07:00.000Z');
    // one receipt may list evaluations and steps
    expect(await outbox.applyReceipt({ batchId: 'H4', accepted: ['EV-1#1', 'EV-1'], rejected: [{ id: 'EV-1#2', reason: 'unknown step' }] }, '2026-11-27T03:08:00.000Z')).toEqual({ evaluations: 1, steps: 1 });
    expect(store.read((d) => d.prepare('SELECT step_id AS id, sync_state AS s, sync_reason AS r FROM handling ORDER BY id').all())).toEqual([
      { id: 'EV-1#1', s: 'confirmed', r: null },
      { id: 'EV-1#2', s: 'rejected', r: 'unknown step' },
    ]);
    expect(outbox.stepsUnconfirmed()).toBe(false);
    expect(outbox.claimStepBatch('H5', 10)).toEqual([]);
  });
});

const db = (store: Store) => store.db;
