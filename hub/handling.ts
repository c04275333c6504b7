/**
 * The handling of a 差评 (PROTOCOL 5 `POST /api/evaluations/{id}/handling`): steps recorded
 * with who and when, audited, and synced to the platform by the outbox (PROTOCOL 3 `handling`).
 */
import { audit, type Store } from './store.js';

export interface RecordedStep {
  evaluationId: string;
  step: string;
  at: string;
  by: string | null;
  note: string | null;
}

/** Records a step of a 差评; undefined when no 差评 has that id. */
export async function recordStep(store: Store, step: RecordedStep): Promise<RecordedStep | undefined> {
  const found = await store.submit((db) => {
    if (!db.prepare(`SELECT 1 FROM evaluations WHERE id = ? AND dissatisfied = 1`).get(step.evaluationId)) return false;
    db.prepare('INSERT INTO handling (evaluation_id, step, at, by, note) VALUES (?, ?, ?, ?, ?)').run(step.evaluationId, step.step, step.at, step.by, step.note);
    audit(db, step.by ?? 'dashboard', 'handling', { evaluationId: step.evaluationId, step: step.step }, step.at);
    return true;
  });
  return found ? step : undefined;
}
