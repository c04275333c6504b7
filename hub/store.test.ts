/** Schema migrations: a database made by an earlier hub is upgraded in place, its data kept. */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanupsAfterEach, tempDir } from '../tests/support/cleanup.js';
import { Store } from './store.js';
import { runTs } from '../tests/support/processes.js';

const cleanups = cleanupsAfterEach();
const FIXTURE = new URL('../tests/fixtures/hub-schema-4.sqlite', import.meta.url).pathname;

describe('store migrations', () => {
  it('upgrades a schema-4 database (column `urgent`) to `dissatisfied`, keeping every row and index', () => {
    const dir = tempDir(cleanups, 'migrate');
    copyFileSync(FIXTURE, join(dir, 'hub.sqlite'));
    const store = new Store({ dataDir: dir });
    cleanups.push(() => store.close());
    const version = store.read((db) => (db.prepare('SELECT version FROM schema_version').get() as { version: number }).version);
    expect(version).toBeGreaterThanOrEqual(5);
    const rows = store.read((db) => db.prepare('SELECT id, level, dissatisfied, sync_state FROM evaluations ORDER BY id').all());
    expect(rows).toEqual([
      { id: 'EV-1-1', level: 5, dissatisfied: 0, sync_state: 'pending' },
      { id: 'EV-1-2', level: 1, dissatisfied: 1, sync_state: 'confirmed' },
      { id: 'EV-1-3', level: 2, dissatisfied: 1, sync_state: 'pending' },
      { id: 'EV-1-4', level: 0, dissatisfied: 0, sync_state: 'pending' },
    ]);
    const columns = store.read((db) => (db.prepare(`SELECT name FROM pragma_table_xinfo('evaluations')`).all() as { name: string }[]).map((c) => c.name));
    expect(columns).not.toContain('urgent');
    const indexSql = store.read((db) => (db.prepare(`SELECT sql FROM sqlite_master WHERE name IN ('evaluations_outbox', 'evaluations_alerts')`).all() as { sql: string }[]).map((r) => r.sql).join('\n'));
    expect(indexSql).toContain('dissatisfied');
    expect(indexSql).not.toContain('urgent');
    expect(store.read((db) => db.prepare('SELECT step, by FROM handling').all())).toEqual([{ step: 'acknowledged', by: '李四' }]);
  });
});

describe('store migrations, several openers at once', () => {
  it('migrates a fresh database once when four processes open it together (the hub and a CLI command)', async () => {
    const dir = tempDir(cleanups, 'migrate-race');
    const openers = Array.from({ length: 4 }, () => runTs('tests/support/open-store.ts', [dir]));
    cleanups.push(() => openers.forEach((p) => p.child.kill('SIGKILL')));
    await Promise.all(openers.map((p) => p.waitStdout((l) => l === 'ready', 20_000, 'opener ready')));
    for (const p of openers) p.send('go');
    const answers = await Promise.all(openers.map((p) => p.waitStdout((l) => /^(version|error) /.test(l), 20_000, 'opener answer')));
    const store = new Store({ dataDir: dir });
    cleanups.push(() => store.close());
    const version = store.read((db) => (db.prepare('SELECT version FROM schema_version').get() as { version: number }).version);
    expect(answers).toEqual(openers.map(() => `version ${version}`));
  });
});

describe('store group commit', () => {
  it('commits the writes of one turn together; a write that throws rolls back alone, nested transactions included', async () => {
    const store = new Store({ dataDir: tempDir(cleanups, 'group') });
    cleanups.push(() => store.close());
    const put = (id: string) => (db: Parameters<Parameters<Store['submit']>[0]>[0]) => db.prepare(`INSERT INTO audit (at, actor, action, detail) VALUES ('2026-01-01T00:00:00.000Z', 'test', ?, '')`).run(id);
    const before = store.commits.transactions;
    const results = await Promise.allSettled([
      store.submit(put('first')),
      store.submit((db) => {
        put('second')(db);
        db.transaction(() => put('second, nested')(db))();
        throw new Error('second fails after writing');
      }),
      store.submit((db) => db.transaction(() => put('third, nested')(db))()),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('second fails after writing');
    expect(store.commits.transactions - before).toBe(1);
    expect(store.read((db) => db.prepare(`SELECT action FROM audit WHERE actor = 'test' ORDER BY id`).pluck().all())).toEqual(['first', 'third, nested']);
  });
});
