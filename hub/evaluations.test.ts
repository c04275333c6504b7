import { beforeEach, describe, expect, it } from 'vitest';
import type { Evaluation } from '../protocol/index.js';
import { cleanupsAfterEach, tempDir } from '../tests/support/cleanup.js';
import { evaluation as record } from '../tests/support/evaluation.js';
import { commitEvaluation, recordService, stats, type CommitOptions } from './evaluations.js';
import { Store } from './store.js';

const cleanups = cleanupsAfterEach();
let store: Store;
beforeEach(() => {
  store = new Store({ dataDir: tempDir(cleanups, 'eval') });
  cleanups.push(() => store.close());
});

const options: CommitOptions = { attachWithinMs: 40_000, misuseWindowMs: 10_000 };
const T0 = Date.parse('2026-11-27T02:00:00Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
let counter = 0;
/** A rating at window A01 at T0, unless patched; each with a new id. */
function evaluation(patch: Partial<Evaluation> = {}): Evaluation {
  counter++;
  return record({ id: `HCP5-U-${counter}`, evaluatedAt: at(0), ...patch });
}
const commit = (e: Evaluation) => store.submit((db) => commitEvaluation(db, e, options));
const service = (txnId: string, ms: number, event: 'done' | 'started' | 'cancelled' = 'done') =>
  store.submit((db) => recordService(db, { txnId, windowId: 'A01', event, matterCode: 'M1', matterName: '营业执照', staffId: 'S1', staffName: '李明', at: at(ms) }));

describe('commitEvaluation', () => {
  it('deduplicates on id', async () => {
    const e = evaluation();
    expect((await commit(e)).status).toBe('ok');
    expect((await commit(e)).status).toBe('duplicate');
  });

  it('answers a repeat of a refused rating as refused again, never "duplicate" (found by the chaos run)', async () => {
    await service('T-R', 0);
    expect((await commit(evaluation({ txnId: 'T-R', level: 5 }))).status).toBe('ok');
    const second = evaluation({ txnId: 'T-R', level: 1 });
    expect(await commit(second)).toMatchObject({ status: 'refused', reason: 'already-evaluated' });
    expect(await commit(second)).toMatchObject({ status: 'refused', reason: 'already-evaluated' });
    expect(store.read((db) => db.prepare(`SELECT COUNT(*) AS n FROM evaluations WHERE id = ?`).get(second.id))).toEqual({ n: 1 });
  });

  it('an EVAL without txnId joins the window\'s transaction done within the prompt time, with its matter and clerk', async () => {
    await service('T-1', 0);
    const joined = await commit(evaluation({ receivedAt: at(20_000), origin: 'invited' }));
    expect(joined).toMatchObject({ status: 'ok', record: { txnId: 'T-1', matterName: '营业执照', staffId: 'S1', staffName: '李明' } });
    await service('T-2', 100_000);
    const late = await commit(evaluation({ receivedAt: at(100_000 + 41_000) }));
    expect(late).toMatchObject({ status: 'ok', record: { txnId: null } });
  });

  it('一事一评: the second rating of a transaction is kept, refused, and not counted', async () => {
    await service('T-9', 0);
    expect((await commit(evaluation({ txnId: 'T-9', level: 1 }))).status).toBe('ok');
    const tablet = await commit(evaluation({ txnId: 'T-9', level: 5, channel: 'tablet', origin: 'tablet', deviceId: 'TAB-1', id: 'TAB-1-1' }));
    expect(tablet).toMatchObject({ status: 'refused', reason: 'already-evaluated' });
    const [row] = stats(store.db, { from: at(-1000), to: at(1000), by: 'window' });
    expect(row).toMatchObject({ rated: 1, dissatisfied: 1, levels: { '1': 1, '5': 0 } });
  });

  it('level 0 (not evaluated) closes nothing and is not a rating; once the transaction is rated it is superseded (PROTOCOL 1.3 [r2])', async () => {
    await service('T-3', 0);
    expect((await commit(evaluation({ txnId: 'T-3', level: 0 }))).status).toBe('ok');
    expect(stats(store.db, { from: at(-1000), to: at(1000), by: 'window' })[0]).toMatchObject({ rated: 0, notEvaluated: 1 });
    expect((await commit(evaluation({ txnId: 'T-3', level: 4 }))).status).toBe('ok');
    // revision 2: the superseded level 0 is kept for audit but leaves the 未评价 count
    const [row] = stats(store.db, { from: at(-1000), to: at(1000), by: 'window' });
    expect(row).toMatchObject({ rated: 1, notEvaluated: 0, satisfactionRate: 1 });
    expect(store.read((db) => db.prepare(`SELECT superseded_by FROM evaluations WHERE level = 0`).all())).toEqual([{ superseded_by: expect.stringMatching(/^HCP5-U-/) }]);
    // and a level 0 that comes after the rating is refused like any second record
    expect((await commit(evaluation({ txnId: 'T-3', level: 0 })))).toMatchObject({ status: 'refused', reason: 'already-evaluated' });
  });

  it('a burst of unsolicited presses is kept but flagged misuse, and left out of statistics by default', async () => {
    const first = await commit(evaluation({ origin: 'unsolicited', level: 1, evaluatedAt: at(0) }));
    const burst = await commit(evaluation({ origin: 'unsolicited', level: 1, evaluatedAt: at(4000) }));
    const later = await commit(evaluation({ origin: 'unsolicited', level: 1, evaluatedAt: at(30_000) }));
    expect(first).toMatchObject({ record: { flags: [] } });
    expect(burst).toMatchObject({ record: { flags: ['misuse'] } });
    expect(later).toMatchObject({ record: { flags: [] } });
    const [plain] = stats(store.db, { from: at(-1000), to: at(60_000), by: 'window' });
    expect(plain).toMatchObject({ rated: 2, misuseExcluded: 1 });
    const [all] = stats(store.db, { from: at(-1000), to: at(60_000), by: 'window', includeMisuse: true });
    expect(all?.rated).toBe(3);
  });

  it('group commit: many writes submitted together commit in one transaction, each resolved after it', async () => {
    const before = store.commits.transactions;
    const results = await Promise.all(Array.from({ length: 200 }, () => commit(evaluation())));
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    expect(store.commits.transactions - before).toBe(1);
  });

  it('a write that fails rolls back alone; the rest of its group commits', async () => {
    const good = commit(evaluation());
    const bad = store.submit(() => {
      throw new Error('boom');
    });
    const alsoGood = commit(evaluation());
    await expect(bad).rejects.toThrow('boom');
    expect((await good).status).toBe('ok');
    expect((await alsoGood).status).toBe('ok');
  });
});
