/** The dashboard's 差评 list: an unresolved 差评 never drops off, however old or however busy the hall. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Evaluation } from '../protocol/index.js';
import { parseConfig } from '../hub/config.js';
import { commitEvaluation } from '../hub/evaluations.js';
import { Hub } from '../hub/hub.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { evaluation } from './support/evaluation.js';

const cleanups = cleanupsAfterEach();

const rating = (id: string, level: number, evaluatedAt: string): Evaluation =>
  evaluation({ id, level, evaluatedAt, hallId: 'H', areaCode: '', contact: '13812345678', consent: true, origin: 'invited' });

describe('GET /api/dissatisfied', () => {
  it('lists an unresolved 差评 from two months ago among 6,000 newer ratings, until it is resolved', async () => {
    const dir = tempDir(cleanups, 'dis');
    const hub = new Hub({ config: parseConfig({ hallId: 'H', adminToken: 'hall-test-token-7f3a9c', dataDir: join(dir, 'hub'), http: { port: 0 }, devices: { discover: { serial: false, hid: false } }, windows: [{ id: 'A01' }] }) });
    await hub.start();
    cleanups.push(() => hub.stop());
    const old = new Date(Date.now() - 60 * 86_400_000).toISOString();
    const writes = [hub.store.submit((db) => commitEvaluation(db, rating('HCP5-X-1', 1, old), { attachWithinMs: 0, misuseWindowMs: 0 }))];
    for (let i = 2; i <= 6001; i++) {
      const at = new Date(Date.now() - i * 1000).toISOString();
      writes.push(hub.store.submit((db) => commitEvaluation(db, rating(`HCP5-X-${i}`, i % 500 === 0 ? 2 : 5, at), { attachWithinMs: 0, misuseWindowMs: 0 })));
    }
    await Promise.all(writes);
    const list = async () => {
      const res = await fetch(`http://127.0.0.1:${hub.port}/api/dissatisfied`, { headers: { authorization: 'Bearer hall-test-token-7f3a9c' } });
      return ((await res.json()) as { dissatisfied: { evaluation: { id: string; contact: string }; resolved: boolean }[] }).dissatisfied;
    };
    const before = await list();
    expect(before.map((d) => d.evaluation.id)).toContain('HCP5-X-1');
    expect(before).toHaveLength(1 + 12);
    expect(before.every((d) => d.evaluation.contact === '138****5678')).toBe(true);
    expect(await hub.recordHandling('HCP5-X-1', { step: 'resolved', note: null, complex: false }, '王主任')).toMatchObject({ ok: false, code: 'out-of-order' });
    await hub.recordHandling('HCP5-X-1', { step: 'acknowledged', note: null, complex: false }, '王主任');
    expect((await list()).map((d) => d.evaluation.id), 'acknowledged is not closed').toContain('HCP5-X-1');
    await hub.recordHandling('HCP5-X-1', { step: 'resolved', note: null, complex: false }, '王主任');
    expect((await list()).map((d) => d.evaluation.id)).not.toContain('HCP5-X-1');
  });
});
