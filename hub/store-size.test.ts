import { beforeEach, describe, expect, it } from 'vitest';
import { cleanupsAfterEach, tempDir } from '../tests/support/cleanup.js';
import { evaluation } from '../tests/support/evaluation.js';
import { commitEvaluation } from './evaluations.js';
import { Store } from './store.js';

const cleanups = cleanupsAfterEach();
let store: Store;
beforeEach(() => {
  store = new Store({ dataDir: tempDir(cleanups, 'size') });
  cleanups.push(() => store.close());
});

const plan = (sql: string, ...params: unknown[]) => (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join(' | ');
const indexSql = (name: string) => (store.db.prepare(`SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`).get(name) as { sql: string } | undefined)?.sql;

describe('migration 13: indexes a year of ratings does not need', () => {
  it('keeps evaluations_device for unsolicited presses only, and the misuse check still reads it', async () => {
    expect(indexSql('evaluations_device')).toMatch(/WHERE origin = 'unsolicited'$/);
    expect(plan(`SELECT 1 FROM evaluations WHERE device_id = ? AND origin = 'unsolicited' AND evaluated_at >= ? AND evaluated_at <= ? LIMIT 1`, 'd', 'a', 'b')).toMatch(/USING COVERING INDEX evaluations_device/);
    const options = { attachWithinMs: 0, misuseWindowMs: 10_000 };
    const press = (counter: number, origin: 'unsolicited' | 'prompted', at: string) =>
      store.submit((db) => commitEvaluation(db, evaluation({ id: `HCP5-S-${counter}`, origin, evaluatedAt: at }), options));
    await press(1, 'prompted', '2026-11-27T02:30:00.000Z');
    expect((await press(2, 'unsolicited', '2026-11-27T02:30:02.000Z')).status).toBe('ok');
    const third = await press(3, 'unsolicited', '2026-11-27T02:30:05.000Z');
    expect(third.status === 'ok' && third.record.flags).toEqual(['misuse']);
    expect(store.db.prepare(`SELECT COUNT(*) AS n FROM evaluations INDEXED BY evaluations_device WHERE origin = 'unsolicited' AND device_id = 'HCP5-S'`).get()).toEqual({ n: 2 });
  });

  it('drops evaluations_sync: the backlog is counted through evaluations_unsynced', () => {
    expect(indexSql('evaluations_sync')).toBeUndefined();
    expect(plan(`SELECT COUNT(*) FROM evaluations WHERE sync_state IN ('pending', 'sent')`)).toMatch(/USING COVERING INDEX evaluations_unsynced/);
  });
});
