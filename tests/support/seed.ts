/** A hub store filled as if the hall had been offline, for sync tests and benchmarks. */
import { commitEvaluation } from '../../hub/evaluations.js';
import { Store } from '../../hub/store.js';
import { evaluation } from './evaluation.js';

export const HALL = '430300-001';

/** Fills a hub's store as if the hall had been offline: `n` ratings, every tenth a 差评. */
export async function seedOffline(dataDir: string, n: number, device = 'HCP5-SEED', hallId = HALL): Promise<void> {
  const store = new Store({ dataDir });
  const base = Date.parse('2026-11-20T01:00:00Z');
  const writes: Promise<unknown>[] = [];
  for (let i = 1; i <= n; i++) {
    const at = new Date(base + i * 1000).toISOString();
    const e = evaluation({ id: `${device}-${i}`, hallId, level: i % 10 === 0 ? 1 : (i % 3) + 3, origin: 'invited', evaluatedAt: at });
    writes.push(store.submit((db) => commitEvaluation(db, e, { attachWithinMs: 0, misuseWindowMs: 0 })));
  }
  await Promise.all(writes);
  store.close();
}

