import { beforeEach, describe, expect, it } from 'vitest';
import type { Evaluation } from '../protocol/index.js';
import { ManualClock } from '../simulators/manual-clock.js';
import { cleanupsAfterEach, tempDir } from '../tests/support/cleanup.js';
import { evaluation } from '../tests/support/evaluation.js';
import { commitEvaluation, recordService } from './evaluations.js';
import type { LogEntry } from './hub.js';
import { Retention } from './retention.js';
import { Store } from './store.js';

const cleanups = cleanupsAfterEach();
let store: Store;
let clock: ManualClock;
const logged: LogEntry[] = [];
beforeEach(() => {
  store = new Store({ dataDir: tempDir(cleanups, 'retention') });
  cleanups.push(() => store.close());
  clock = new ManualClock(Date.parse('2028-12-01T02:00:00Z'));
  logged.length = 0;
});

const DAY = 86_400_000;
/** 730 days before the clock: 2026-12-02. */
const OLD = '2026-06-01T03:00:00.000Z';
const RECENT = '2027-06-01T03:00:00.000Z';
let counter = 0;

/** Commits a rating the hub's way, then gives it the sync state a receipt (or none) left. */
async function rating(sync: { state: 'pending' | 'sent' | 'confirmed' | 'rejected'; at: string }, patch: Partial<Evaluation> = {}): Promise<string> {
  counter++;
  const e = evaluation({ id: `HCP5-R-${counter}`, evaluatedAt: sync.at, ...patch });
  const result = await store.submit((db) => commitEvaluation(db, e, { attachWithinMs: 0, misuseWindowMs: 0 }));
  if (result.status === 'duplicate') throw new Error('duplicate');
  if (result.status === 'ok') {
    await store.submit((db) =>
      db
        .prepare(`UPDATE evaluations SET sync_state = @state, sent_at = @at, confirmed_at = CASE WHEN @state = 'confirmed' THEN @at END WHERE id = @id`)
        .run({ id: e.id, state: sync.state, at: sync.at }),
    );
  }
  return e.id;
}

/** A handling step of a 差评, confirmed by the platform or not. */
function step(evaluationId: string, name: string, state: 'pending' | 'confirmed', at = OLD) {
  return store.submit((db) =>
    db
      .prepare(`INSERT INTO handling (evaluation_id, step, at, by, step_id, sync_state, confirmed_at) VALUES (?, ?, ?, '王科长', ?, ?, ?)`)
      .run(evaluationId, name, at, `${evaluationId}#${name}`, state, state === 'confirmed' ? at : null),
  );
}

const ids = (table: string, column: string) => store.read((db) => (db.prepare(`SELECT ${column} AS v FROM ${table} ORDER BY 1`).all() as { v: string }[]).map((r) => r.v));

describe('Retention', () => {
  it('forgets only confirmed records past retention, in batches, and keeps everything unsynced or still being handled', async () => {
    const gone: string[] = [];
    const kept: string[] = [];
    for (let i = 0; i < 7; i++) gone.push(await rating({ state: 'confirmed', at: OLD }, { level: 5 }));
    kept.push(await rating({ state: 'confirmed', at: RECENT }));
    // nothing unsynced is ever deleted, however old
    kept.push(await rating({ state: 'pending', at: OLD }));
    kept.push(await rating({ state: 'sent', at: OLD }));
    kept.push(await rating({ state: 'rejected', at: OLD }));
    // a refused second rating (never sent: sync_state local) stays as the audit of 一事一评
    await store.submit((db) => recordService(db, { txnId: 'T-OLD', windowId: 'A01', event: 'done', matterCode: null, matterName: null, staffId: null, staffName: null, contact: '13812345678', at: OLD }));
    gone.push(await rating({ state: 'confirmed', at: OLD }, { txnId: 'T-OLD' }));
    await rating({ state: 'pending', at: OLD }, { txnId: 'T-OLD', level: 1 });
    // 差评: open (acknowledged only), closed, closed with a step the platform has not confirmed
    const open = await rating({ state: 'confirmed', at: OLD }, { level: 1 });
    await step(open, 'acknowledged', 'confirmed');
    kept.push(open);
    const closed = await rating({ state: 'confirmed', at: OLD }, { level: 2 });
    await step(closed, 'acknowledged', 'confirmed');
    await step(closed, 'resolved', 'confirmed');
    gone.push(closed);
    const unsyncedStep = await rating({ state: 'confirmed', at: OLD }, { level: 2 });
    await step(unsyncedStep, 'acknowledged', 'confirmed');
    await step(unsyncedStep, 'resolved', 'pending');
    kept.push(unsyncedStep);
    // transactions: one whose ratings are all gone, one a kept rating refers to, one recent
    await store.submit((db) => recordService(db, { txnId: 'T-UNRATED-OLD', windowId: 'A01', event: 'done', matterCode: null, matterName: null, staffId: null, staffName: null, contact: '13900001111', at: OLD }));
    await store.submit((db) => recordService(db, { txnId: 'T-KEPT', windowId: 'A01', event: 'done', matterCode: null, matterName: null, staffId: null, staffName: null, at: OLD }));
    kept.push(await rating({ state: 'sent', at: OLD }, { txnId: 'T-KEPT' }));
    await store.submit((db) => recordService(db, { txnId: 'T-NEW', windowId: 'A01', event: 'done', matterCode: null, matterName: null, staffId: null, staffName: null, at: RECENT }));
    await store.submit((db) => {
      for (const at of [OLD, RECENT]) {
        db.prepare(`INSERT INTO rejections (device_id, message, reason, first_at, last_at) VALUES ('HCP5-R', ?, 'bad', ?, ?)`).run(`m-${at}`, at, at);
        db.prepare(`INSERT INTO suggestions (tablet_id, text, at) VALUES ('TAB-01', ?, ?)`).run(at, at);
        db.prepare(`INSERT INTO device_events (device_id, code, arg, text, at) VALUES ('HCP5-R', 1, 0, ?, ?)`).run(at, at);
      }
    });
    // the refused rating is kept and not counted among `kept` ids of accepted ones
    const refused = store.read((db) => db.prepare(`SELECT id FROM evaluations WHERE status = 'refused'`).all()) as { id: string }[];
    expect(refused).toHaveLength(1);
    kept.push(refused[0]!.id);

    const commitsBefore = store.commits.transactions;
    const retention = new Retention({ store, clock, log: (e) => logged.push(e) }, { retentionDays: 730, batchRows: 3 });
    // a rating arriving while the prune runs commits between its batches, not after it
    const run = retention.run();
    const order: string[] = [];
    const during = rating({ state: 'pending', at: new Date(clock.now()).toISOString() }).then((id) => (order.push('rating'), id));
    const counts = await run.then((c) => (order.push('prune done'), c));
    kept.push(await during);

    expect(order).toEqual(['rating', 'prune done']);
    expect(counts).toMatchObject({ evaluations: 9, handling: 2, transactions: 1, rejections: 1, suggestions: 1, deviceEvents: 1 });
    // 9 evaluations 3 a batch (and a last empty look), then each other table: never one big transaction
    expect(counts.batches).toBeGreaterThanOrEqual(4 + 4);
    expect(store.commits.transactions - commitsBefore).toBeGreaterThanOrEqual(counts.batches);
    expect(ids('evaluations', 'id')).toEqual([...kept].sort());
    expect(ids('handling', 'step_id')).toEqual([`${open}#acknowledged`, `${unsyncedStep}#acknowledged`, `${unsyncedStep}#resolved`].sort());
    expect(ids('transactions', 'txn_id')).toEqual(['T-KEPT', 'T-NEW', 'T-OLD']);
    expect(ids('suggestions', 'at')).toEqual([RECENT]);
    expect(ids('rejections', 'last_at')).toEqual([RECENT]);
    expect(ids('device_events', 'at')).toEqual([RECENT]);
    expect(logged).toContainEqual(expect.objectContaining({ level: 'info', msg: 'pruned records past retention', evaluations: 9 }));

    // a day later nothing more is due; a year later the recent ones are
    clock.advance(DAY);
    expect(await retention.run()).toMatchObject({ evaluations: 0, transactions: 0 });
    clock.advance(365 * DAY);
    expect((await retention.run()).evaluations).toBe(1);
  });

  it('runs once at a time: a second call joins the run going on', async () => {
    for (let i = 0; i < 5; i++) await rating({ state: 'confirmed', at: OLD });
    const retention = new Retention({ store, clock, log: () => {} }, { retentionDays: 730, batchRows: 2 });
    const [a, b] = [retention.run(), retention.run()];
    expect(a).toBe(b);
    expect((await a).evaluations).toBe(5);
  });

  it('stops after the batch in progress when told to (the hub stopping)', async () => {
    for (let i = 0; i < 5; i++) await rating({ state: 'confirmed', at: OLD });
    const retention = new Retention({ store, clock, log: () => {} }, { retentionDays: 730, batchRows: 2 });
    const run = retention.run();
    retention.stop();
    expect((await run).evaluations).toBe(2);
    expect(ids('evaluations', 'id')).toHaveLength(3);
  });

  it('refuses a batch size that is not a positive integer', () => {
    expect(() => new Retention({ store, clock, log: () => {} }, { retentionDays: 730, batchRows: 0 })).toThrow(TypeError);
  });
});
