/**
 * The telephone follow-up (电话回访, PROTOCOL 4 channel `phone`) and the contact reveal of
 * PROTOCOL 5 [r2]: staff list the consenting citizens due for the monthly call-back with
 * their numbers masked, reveal one number at a time (each reveal audited with the person's
 * name, before the number is answered), and record what the citizen said as a rating of the
 * transaction on channel `phone`, id `TEL-{txnId}`, under the same 一事一评 as every channel.
 *
 * Who is due: done transactions of the last 30 days with a consented contact that nobody has
 * rated yet, and consented 差评 of the last 30 days; each until it is called back (a `TEL-`
 * record of its transaction, or the 差评's `called-back` handling step).
 */
import { evaluationOfTransaction } from './ingest.js';
import { z } from 'zod';
import { MAX_COMMENT_CHARS, PayloadError, StoreError, type Evaluation } from '../protocol/index.js';
import { isoNow, type Clock } from './clock.js';
import { findTransaction, maskContact, type CommitResult, type HallIdentity } from './evaluations.js';
import { HANDLERS, HttpError, readJson, validate, type Route } from './http.js';
import type { Logger } from './log.js';
import { audit, type Db, type Store } from './store.js';

/** The monthly call-back looks this far back, days. */
export const CALLBACK_DAYS = 30;

export interface PhoneFollowUpDeps {
  hall: HallIdentity;
  store: Store;
  clock: Clock;
  log: Logger;
  /** Ingest's commit: 一事一评, then the sync, the dashboards and the window are told. */
  commit(record: Evaluation): Promise<CommitResult>;
  /** Free space is below the floor: no new ratings now. */
  storageLow(): boolean;
}

/** One citizen to call back, the number masked (`GET /api/callbacks`). */
export interface DueCallback {
  /** `unrated`: a consented transaction nobody rated; `dissatisfied`: a consented 差评. */
  kind: 'unrated' | 'dissatisfied';
  /** Null for a 差评 given without a transaction (the contact route then takes `evaluationId`). */
  txnId: string | null;
  evaluationId: string | null;
  level: number | null;
  windowId: string | null;
  staffName: string | null;
  matterName: string | null;
  /** When the transaction was done, or the 差评 received. */
  at: string;
  contact: string | null;
}

const answerBody = z
  .object({
    level: z.int().min(1).max(5),
    comment: z.string().refine((s) => [...s].length <= MAX_COMMENT_CHARS, `at most ${MAX_COMMENT_CHARS} characters`).optional(),
  })
  .strict();

/** The consented contact of a transaction: the one given at the counter, else one given with its rating. */
function transactionContact(db: Db, txnId: string): string | null {
  const row = db
    .prepare(
      `SELECT COALESCE(t.contact, (SELECT e.contact FROM evaluations e WHERE e.txn_id = t.txn_id AND e.consent = 1 AND e.contact IS NOT NULL ORDER BY e.status = 'accepted' DESC, e.received_at DESC LIMIT 1)) AS contact
       FROM transactions t WHERE t.txn_id = ?`,
    )
    .get(txnId) as { contact: string | null } | undefined;
  return row?.contact ?? null;
}

export class PhoneFollowUp {
  constructor(private readonly deps: PhoneFollowUpDeps) {}

  /**
   * Consenting citizens due for the call-back, 差评 first, then oldest first; numbers masked.
   * Both queries read by date through partial indexes the SMS channel and the 差评 loop keep
   * (`transactions_sms_due`, `evaluations_loops`): this channel adds no table.
   */
  due(): DueCallback[] {
    const since = new Date(this.deps.clock.now() - CALLBACK_DAYS * 86_400_000).toISOString();
    return this.deps.store.read((db) => {
      const dissatisfied = db
        .prepare(
          `SELECT e.id, e.txn_id, e.level, e.window_id, e.staff_name, e.matter_name, e.received_at, COALESCE(e.contact, t.contact) AS contact
           FROM evaluations e LEFT JOIN transactions t ON t.txn_id = e.txn_id
           WHERE e.dissatisfied = 1 AND e.rating_no = 1 AND e.received_at >= ?
             AND (e.contact IS NOT NULL OR t.contact IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM handling h WHERE h.evaluation_id = e.id AND h.step = 'called-back')
             AND (e.txn_id IS NULL OR NOT EXISTS (SELECT 1 FROM evaluations c WHERE c.id = 'TEL-' || e.txn_id))
           ORDER BY e.received_at, e.rowid`,
        )
        .all(since) as { id: string; txn_id: string | null; level: number; window_id: string | null; staff_name: string | null; matter_name: string | null; received_at: string; contact: string }[];
      const unrated = db
        .prepare(
          `SELECT t.txn_id, t.window_id, t.staff_name, t.matter_name, t.done_at, t.contact
           FROM transactions t
           WHERE t.contact IS NOT NULL AND t.state = 'done' AND t.done_at >= ? AND t.rated_by IS NULL
             AND NOT EXISTS (SELECT 1 FROM evaluations c WHERE c.id = 'TEL-' || t.txn_id)
           ORDER BY t.done_at, t.rowid`,
        )
        .all(since) as { txn_id: string; window_id: string; staff_name: string | null; matter_name: string | null; done_at: string; contact: string }[];
      return [
        ...dissatisfied.map((r): DueCallback => ({ kind: 'dissatisfied', txnId: r.txn_id, evaluationId: r.id, level: r.level, windowId: r.window_id, staffName: r.staff_name, matterName: r.matter_name, at: r.received_at, contact: maskContact(r.contact) })),
        ...unrated.map((r): DueCallback => ({ kind: 'unrated', txnId: r.txn_id, evaluationId: null, level: null, windowId: r.window_id, staffName: r.staff_name, matterName: r.matter_name, at: r.done_at, contact: maskContact(r.contact) })),
      ];
    });
  }

  /** A transaction's consented contact in clear, audited with who asked (before it is answered). */
  async revealForTransaction(txnId: string, by: string): Promise<string | undefined> {
    const at = isoNow(this.deps.clock);
    return this.deps.store.submit((db) => {
      const contact = transactionContact(db, txnId);
      if (contact) audit(db, by, 'contact-revealed', { txnId }, at);
      return contact ?? undefined;
    });
  }

  /**
   * An evaluation's consented contact in clear (PROTOCOL 5 `GET /api/evaluations/{id}/contact`):
   * the one given with the rating, else the one its transaction was given with consent at the
   * counter; audited with who asked. `unknown` when there is no such evaluation.
   */
  async revealForEvaluation(id: string, by: string): Promise<string | 'unknown' | undefined> {
    const at = isoNow(this.deps.clock);
    return this.deps.store.submit((db) => {
      const row = db.prepare('SELECT contact, consent, txn_id FROM evaluations WHERE id = ?').get(id) as { contact: string | null; consent: number; txn_id: string | null } | undefined;
      if (!row) return 'unknown';
      const contact = (row.consent === 1 ? row.contact : null) ?? (row.txn_id ? transactionContact(db, row.txn_id) : null);
      if (contact) audit(db, by, 'contact-revealed', { evaluationId: id }, at);
      return contact ?? undefined;
    });
  }

  /** Records the citizen's answer as the transaction's rating on channel `phone`. */
  async record(txnId: string, answer: { level: number; comment?: string | undefined }, by: string): Promise<{ id: string; status: 'ok' | 'duplicate' }> {
    const { store, clock } = this.deps;
    const txn = store.read((db) => findTransaction(db, txnId));
    if (!txn || txn.state === 'cancelled') throw new HttpError(404, 'unknown-transaction', `no transaction ${JSON.stringify(txnId)} in this hall`);
    if (!store.read((db) => transactionContact(db, txnId))) throw new HttpError(404, 'no-consent', `transaction ${JSON.stringify(txnId)} has no contact given with consent: nobody to call back`);
    if (this.deps.storageLow()) throw new HttpError(503, 'storage-unavailable', 'the hub cannot store ratings right now; try again later');
    const id = `TEL-${txnId}`;
    const now = isoNow(clock);
    let record: Evaluation;
    try {
      record = evaluationOfTransaction({ hall: this.deps.hall, id, channel: 'phone', level: answer.level, comment: answer.comment ?? '', txn: { ...txn, txnId }, evaluatedAt: now, receivedAt: now, deviceId: 'phone' });
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      throw new HttpError(400, 'invalid-field', error.message);
    }
    let result: CommitResult;
    try {
      result = await this.deps.commit(record);
    } catch (error) {
      if (error instanceof StoreError) throw new HttpError(503, 'storage-unavailable', 'the hub cannot store ratings right now; try again later');
      throw error;
    }
    const already = () => new HttpError(409, 'already-evaluated', `transaction ${JSON.stringify(txnId)} is already rated (one rating per transaction, PROTOCOL 1.3); the answer is kept for audit`);
    switch (result.status) {
      case 'ok':
        await store.submit((db) => audit(db, by, 'phone-rating', { id, txnId, level: answer.level }, now));
        return { id, status: 'ok' };
      case 'refused':
        await store.submit((db) => audit(db, by, 'phone-rating-refused', { id, txnId, level: answer.level }, now));
        throw already();
      case 'duplicate': {
        const stored = store.read((db) => db.prepare('SELECT level, comment, status FROM evaluations WHERE id = ?').get(id)) as { level: number; comment: string; status: string };
        if (stored.status === 'accepted' && stored.level === record.level && stored.comment === record.comment) return { id, status: 'duplicate' };
        throw already();
      }
      default:
        result satisfies never;
        throw new TypeError('unknown commit result');
    }
  }

  /** `GET /api/callbacks`, `GET /api/callbacks/{txnId}/contact`, `POST /api/callbacks/{txnId}`, `GET /api/evaluations/{id}/contact`: handlers and managers. */
  routes(): Route[] {
    const param = (name: string, raw: string) => {
      try {
        return decodeURIComponent(raw);
      } catch {
        throw new HttpError(400, 'invalid-field', `${name}: malformed percent-encoding`);
      }
    };
    return [
      { method: 'GET', pattern: /^\/api\/callbacks$/, who: HANDLERS, handler: async () => ({ body: { days: CALLBACK_DAYS, callbacks: this.due() } }) },
      {
        method: 'GET',
        pattern: /^\/api\/callbacks\/([^/]+)\/contact$/,
        who: HANDLERS,
        handler: async ({ params, person }) => {
          const txnId = param('txnId', params[0]!);
          const contact = await this.revealForTransaction(txnId, person!.name);
          if (!contact) throw new HttpError(404, 'no-consent', `no contact given with consent for transaction ${JSON.stringify(txnId)}`);
          this.deps.log({ level: 'info', msg: 'contact revealed', by: person!.name, txnId });
          return { body: { txnId, contact } };
        },
      },
      {
        method: 'POST',
        pattern: /^\/api\/callbacks\/([^/]+)$/,
        who: HANDLERS,
        handler: async ({ req, params, person }) => {
          const txnId = param('txnId', params[0]!);
          const body = validate(answerBody, await readJson(req));
          const done = await this.record(txnId, body, person!.name);
          return { status: done.status === 'ok' ? 201 : 200, body: done };
        },
      },
      {
        method: 'GET',
        pattern: /^\/api\/evaluations\/([^/]+)\/contact$/,
        who: HANDLERS,
        handler: async ({ params, person }) => {
          const id = param('evaluationId', params[0]!);
          const contact = await this.revealForEvaluation(id, person!.name);
          if (contact === 'unknown') throw new HttpError(404, 'unknown-evaluation', `no evaluation ${JSON.stringify(id)} in this hall`);
          if (!contact) throw new HttpError(404, 'no-consent', `evaluation ${JSON.stringify(id)} has no contact given with consent`);
          this.deps.log({ level: 'info', msg: 'contact revealed', by: person!.name, evaluationId: id });
          return { body: { evaluationId: id, contact } };
        },
      },
    ];
  }
}
