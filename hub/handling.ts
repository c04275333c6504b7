/**
 * The 差评 loop (PROTOCOL 3 `handling`, 5; DESIGN "Handling of 差评"). A pure core: the order
 * steps may come in, the deadline and when the hub escalates. Its edge on the store: each step
 * committed with its `stepId`, who, note, time and the deadline in effect after it (the outbox
 * and the sync publish them in batches, confirmed by receipts, like evaluations); 督办 recorded
 * by the hub on the injected clock; the outcome told to a consenting citizen; and the citizen's
 * second rating (评价次数 2), the one exception to 一事一评.
 *
 * Phases and the steps a person may record in each (any other step is refused, 409):
 *
 * | phase       | reached by                          | may come next                                                                  |
 * |-------------|-------------------------------------|--------------------------------------------------------------------------------|
 * | `new`       | the 差评 arrived                     | acknowledged, resolved-on-the-spot                                             |
 * | `working`   | acknowledged (called-back, handed-over keep it) | called-back, handed-over, rectified, resolved-on-the-spot, feedback-given, resolved |
 * | `rectified` | rectified, resolved-on-the-spot     | called-back, handed-over, rectified, feedback-given, resolved                   |
 * | `fed-back`  | feedback-given                      | called-back, handed-over, rectified, feedback-given, resolved                   |
 * | `resolved`  | resolved                            | nothing (closed)                                                               |
 * | `re-rated`  | re-rated                            | nothing (closed)                                                               |
 *
 * The hub's own steps: `escalated` in every open phase, leaving the phase as it was;
 * `re-rated` once, when `rectified` or `feedback-given` has been recorded, in any phase but
 * `re-rated` (after `resolved` too: a citizen may answer the feedback after staff closed it).
 */
import { HANDLING_STEPS, LEVEL_WORDS, levelName, stepIdOf, type AnyHandlingStep, type Evaluation, type HandlingRecord, type HandlingStepName, type LoopPhase } from '../protocol/index.js';
import { parsePayload } from '../protocol/schemas.js';
import { isoNow, Timers, type Clock, type TimerHandle } from './clock.js';
import { workdayEndAfter, type WorkCalendar } from './deadlines.js';
import { commitEvaluation, rowToEvaluation, type EvaluationRow, type HallIdentity } from './evaluations.js';
import type { Logger } from './log.js';
import { audit, stmt, type Db, type Store } from './store.js';

// ---- the pure core ----

/** The steps a person may record in each open phase (the table above). */
const NEXT: Readonly<Record<LoopPhase, readonly HandlingStepName[]>> = {
  new: ['acknowledged', 'resolved-on-the-spot'],
  working: ['called-back', 'handed-over', 'rectified', 'resolved-on-the-spot', 'feedback-given', 'resolved'],
  rectified: ['called-back', 'handed-over', 'rectified', 'feedback-given', 'resolved'],
  'fed-back': ['called-back', 'handed-over', 'rectified', 'feedback-given', 'resolved'],
  resolved: [],
  're-rated': [],
};

/** The phase a step leads to; undefined: the phase stays. */
const PHASE_AFTER: Readonly<Record<AnyHandlingStep, LoopPhase | undefined>> = {
  acknowledged: 'working',
  'resolved-on-the-spot': 'rectified',
  'called-back': undefined,
  'handed-over': undefined,
  rectified: 'rectified',
  'feedback-given': 'fed-back',
  resolved: 'resolved',
  escalated: undefined,
  're-rated': 're-rated',
};

const CLOSED: ReadonlySet<LoopPhase> = new Set(['resolved', 're-rated']);

/** A step as the loop needs it: what, when, and whether the handler marked the matter complex with it. */
export interface StepFact {
  step: string;
  at: string;
  complex?: boolean;
}

/** Where a 差评's loop stands after its steps. */
export interface LoopState {
  phase: LoopPhase;
  /** The last step a person or the hub recorded that is not `escalated`; null for none. */
  lastStep: string | null;
  /** A handler marked the matter complex on some step. */
  markedComplex: boolean;
  /** `rectified` or `feedback-given` was recorded: the citizen may rate once more. */
  outcomeGiven: boolean;
  escalations: number;
  lastEscalatedAt: string | null;
  /** When `resolved` or `re-rated` closed the loop. */
  closedAt: string | null;
}

const isKnownStep = (step: string): step is AnyHandlingStep => Object.hasOwn(PHASE_AFTER, step);

/** Folds a 差评's steps, oldest first, into its state. A step this hub does not know changes nothing. */
export function foldSteps(steps: readonly StepFact[]): LoopState {
  const state: LoopState = { phase: 'new', lastStep: null, markedComplex: false, outcomeGiven: false, escalations: 0, lastEscalatedAt: null, closedAt: null };
  for (const s of steps) {
    if (s.complex) state.markedComplex = true;
    if (!isKnownStep(s.step)) continue;
    if (s.step === 'escalated') {
      state.escalations++;
      state.lastEscalatedAt = s.at;
      continue;
    }
    state.lastStep = s.step;
    if (s.step === 'rectified' || s.step === 'feedback-given') state.outcomeGiven = true;
    state.phase = PHASE_AFTER[s.step] ?? state.phase;
    if (CLOSED.has(state.phase)) state.closedAt ??= s.at;
  }
  return state;
}

/** Why `step` may not be recorded now, in words for the handler; undefined when it may. */
export function refusal(state: LoopState, step: AnyHandlingStep): string | undefined {
  if (step === 're-rated') {
    if (state.phase === 're-rated') return 'the citizen has rated a second time already: 评价次数 2 comes once';
    if (!state.outcomeGiven) return 'a second rating (评价次数 2) comes only after rectified or feedback-given';
    return undefined;
  }
  if (CLOSED.has(state.phase)) return `the 差评 was closed by ${state.phase === 'resolved' ? 'resolved' : 'the citizen\'s second rating'} at ${state.closedAt}: no step may follow`;
  if (step === 'escalated' || NEXT[state.phase].includes(step)) return undefined;
  if (state.phase === 'new') return `${step} before acknowledged: a 差评 is acknowledged (or resolved on the spot) first`;
  if (step === 'acknowledged') return 'the 差评 was acknowledged already';
  return `${step} cannot follow ${state.lastStep}: next may come ${NEXT[state.phase].join(', ')}`;
}

/** The steps a person may record now, in `HANDLING_STEPS` order. */
export function nextSteps(state: LoopState): HandlingStepName[] {
  return HANDLING_STEPS.filter((s) => refusal(state, s) === undefined);
}

/**
 * When the hub escalates next (督办): at the deadline, then once at the end of each further
 * working day; undefined once the loop is closed. A deadline moved later (the matter marked
 * complex) moves it too.
 */
export function nextEscalationAt(state: LoopState, deadlineAt: string, calendar: WorkCalendar): string | undefined {
  if (CLOSED.has(state.phase)) return undefined;
  if (!state.lastEscalatedAt) return deadlineAt;
  const next = workdayEndAfter(state.lastEscalatedAt, calendar);
  return Date.parse(next) > Date.parse(deadlineAt) ? next : deadlineAt;
}

/** What the hub needs of the hall to place deadlines. */
export interface DeadlineSource {
  deadline(e: Pick<Evaluation, 'matterCode' | 'receivedAt'>, markedComplex?: boolean): { complex: boolean; deadlineAt: string };
  calendar(): WorkCalendar;
}

/** A 差评's loop as the dashboard shows it (`GET /api/dissatisfied`). */
export interface LoopSummary {
  complex: boolean;
  deadlineAt: string;
  overdue: boolean;
  phase: LoopPhase;
  next: HandlingStepName[];
  reRatable: boolean;
  resolved: boolean;
}

export function summarize(e: Pick<Evaluation, 'matterCode' | 'receivedAt'>, steps: readonly StepFact[], hall: DeadlineSource, nowMs: number): LoopSummary {
  const state = foldSteps(steps);
  const { complex, deadlineAt } = hall.deadline(e, state.markedComplex);
  const closed = CLOSED.has(state.phase);
  return {
    complex,
    deadlineAt,
    overdue: !closed && nowMs >= Date.parse(deadlineAt),
    phase: state.phase,
    next: nextSteps(state),
    reRatable: refusal(state, 're-rated') === undefined,
    resolved: closed,
  };
}

/**
 * What the citizen is told when the outcome is recorded (PROTOCOL 7: one message, at most 70
 * characters), inviting the second rating by reply.
 */
export function feedbackText(signature: string, windowId: string | null, step: 'rectified' | 'feedback-given'): string {
  const where = windowId ? `${windowId}窗口` : '';
  return `${signature}您对${where}服务的差评已${step === 'rectified' ? '整改' : '处理'}。请再次评价:回复5非常满意4满意3基本满意2不满意1非常不满意`;
}

// ---- the edge on the store ----

/** A step as stored and published (PROTOCOL 3 `handling` item). */
export interface StepRecord extends HandlingRecord {
  evaluationId: string;
  by: string;
  deadlineAt: string;
  complex: boolean;
}

/** Tells a consenting citizen the outcome (the SMS module, PROTOCOL 7, when `sms` is configured). */
export interface CitizenNotifier {
  /**
   * Queues one message to `contact` about the 差评 `evaluationId` inside the caller's write (the
   * step's own transaction): the step and its message are on disk together or not at all, so a
   * crash between them cannot lose the feedback. Throws a TypeError for a contact it cannot
   * text. A reply within the SMS reply window that starts with 1–5 is the second rating: pass
   * it to `Handling.reRate` with channel `sms`.
   */
  queue(db: Db, contact: string, text: string, evaluationId: string): void;
  /** After the commit: send what was queued. */
  wake(): void;
}

export type HandlingOutcome =
  | { ok: true; step: StepRecord; phase: LoopPhase }
  | { ok: false; code: 'unknown-evaluation' | 'out-of-order'; message: string };

export type ReRatingOutcome =
  | { ok: true; evaluation: Evaluation; step: StepRecord }
  | { ok: false; code: 'unknown-evaluation' | 'out-of-order'; message: string };

export interface HandlingDeps {
  store: Store;
  hall: DeadlineSource;
  identity: HallIdentity;
  clock: Clock;
  log: Logger;
  /** A step is on disk: publish it (the platform sync, the dashboards). */
  recorded(step: StepRecord): void;
  /** A second rating is on disk: the hub's path for a new evaluation. */
  committed(record: Evaluation): void;
  /** How the citizen hears the outcome; undefined while no SMS module is wired (staff call back). */
  notifier?: () => CitizenNotifier | undefined;
  /** The SMS signature as the carrier registered it (`sms.signature`). Default `【政务服务】`. */
  signature?: string;
}

/** The hub re-checks deadlines at least this often (a wall clock set forward is noticed), ms. */
const MAX_WAIT_MS = 3_600_000;
/** After a failed check (storage unavailable), the next try, ms. */
const RETRY_MS = 60_000;

interface StepRow {
  stepId: string;
  step: string;
  at: string;
  by: string | null;
  note: string | null;
  complex: number;
}

const STEPS_SQL = 'SELECT step_id AS stepId, step, at, by, note, complex FROM handling WHERE evaluation_id = ? ORDER BY id';
/** A first rating that is a 差评 (评价次数 1, accepted). */
/** Open 差评 read and escalated per write by the 督办 check. */
const CHECK_PAGE = 500;

const LOOP_SQL = 'SELECT * FROM evaluations WHERE id = ? AND dissatisfied = 1 AND rating_no = 1';

/** A 差评's steps, oldest first, as the API lists them. */
export function stepsOf(db: Db, evaluationId: string): (HandlingRecord & { complex: boolean })[] {
  return (stmt(db, STEPS_SQL).all(evaluationId) as StepRow[]).map((r) => ({ stepId: r.stepId, step: r.step, at: r.at, by: r.by, note: r.note, complex: r.complex === 1 }));
}

export class Handling {
  private readonly timers: Timers;
  private timer: TimerHandle | undefined;
  private checking: Promise<number> | undefined;
  private stopped = false;

  constructor(private readonly deps: HandlingDeps) {
    this.timers = new Timers(deps.clock);
  }

  /** Escalates what fell due while the hub was down, then keeps watching the deadlines. */
  start(): void {
    this.stopped = false;
    void this.escalateDue();
  }

  stop(): void {
    this.stopped = true;
    this.timers.clearAll();
  }

  /** A 差评's deadline now (the handler may have marked it complex). */
  deadlineOf(e: Pick<Evaluation, 'id' | 'matterCode' | 'receivedAt'>): { complex: boolean; deadlineAt: string } {
    const marked = this.deps.store.read((db) => !!stmt(db, 'SELECT 1 FROM handling WHERE evaluation_id = ? AND complex = 1 LIMIT 1').get(e.id));
    return this.deps.hall.deadline(e, marked);
  }

  /**
   * Records a person's step, in the order the loop allows (PROTOCOL 5 [r2]): refused with the
   * reason when it is out of order. `complex: true` marks the matter complex (10 working days).
   */
  async record(evaluationId: string, request: { step: HandlingStepName; note: string | null; complex: boolean }, by: string): Promise<HandlingOutcome> {
    const at = isoNow(this.deps.clock);
    const result = await this.deps.store.submit((db): HandlingOutcome & { told?: Told | undefined } => {
      const row = stmt(db, LOOP_SQL).get(evaluationId) as EvaluationRow | undefined;
      if (!row) return { ok: false, code: 'unknown-evaluation', message: `no 差评 ${JSON.stringify(evaluationId)} in this hall` };
      const steps = stepsOf(db, evaluationId);
      const state = foldSteps(steps);
      const why = refusal(state, request.step);
      if (why) return { ok: false, code: 'out-of-order', message: why };
      const e = rowToEvaluation(row, this.deps.identity);
      const step = this.insert(db, e, steps.length + 1, { step: request.step, at, by, note: request.note, complex: request.complex, markedComplex: state.markedComplex });
      const after = foldSteps([...steps, { step: request.step, at, complex: request.complex }]);
      const told = !state.outcomeGiven && after.outcomeGiven ? this.queueFeedback(db, e, request.step as 'rectified' | 'feedback-given') : undefined;
      return { ok: true, step, phase: after.phase, told };
    });
    if (!result.ok) return result;
    const { told, ...outcome } = result;
    this.deps.recorded(outcome.step);
    if (told === 'queued') {
      this.deps.log({ level: 'info', msg: 'citizen told the outcome of a 差评', evaluationId, step: request.step });
      this.deps.notifier?.()?.wake();
    } else if (told) this.deps.log({ level: 'error', msg: 'cannot tell the citizen the outcome of a 差评', evaluationId, error: told.error });
    if (request.complex) void this.escalateDue(); // the deadline moved: re-arm the timer
    return outcome;
  }

  /**
   * The citizen's second rating (评价次数 2, PROTOCOL 4 [r2]): `RE-{first id}` with `ratingNo`
   * 2 and `followUpOf`, committed with the hub's step `re-rated` in one transaction, which
   * closes the loop. `by` is who recorded it (a handler on the phone), for the audit and the note.
   */
  async reRate(firstId: string, input: { level: number; reasons: string[]; comment: string; channel: 'phone' | 'sms'; by: string }): Promise<ReRatingOutcome> {
    const at = isoNow(this.deps.clock);
    const result = await this.deps.store.submit((db): ReRatingOutcome => {
      const row = stmt(db, LOOP_SQL).get(firstId) as EvaluationRow | undefined;
      if (!row) return { ok: false, code: 'unknown-evaluation', message: `no 差评 ${JSON.stringify(firstId)} in this hall` };
      const steps = stepsOf(db, firstId);
      const state = foldSteps(steps);
      const why = refusal(state, 're-rated');
      if (why) return { ok: false, code: 'out-of-order', message: why };
      const first = rowToEvaluation(row, this.deps.identity);
      const record = parsePayload('evaluation', {
        ...first,
        id: `RE-${first.id}`,
        channel: input.channel,
        level: input.level,
        reasons: input.reasons,
        comment: input.comment,
        contact: null,
        consent: false,
        origin: 'invited',
        evaluatedAt: at,
        receivedAt: at,
        deviceId: 'hub',
        fwVersion: '',
        promptMs: null,
        flags: [],
        ratingNo: 2,
        followUpOf: first.id,
      } satisfies Evaluation);
      const commit = commitEvaluation(db, record, { attachWithinMs: 0, misuseWindowMs: 0 });
      if (commit.status !== 'ok') return { ok: false, code: 'out-of-order', message: `the second rating ${record.id} is there already` };
      const how = input.channel === 'phone' ? `电话，记录人 ${input.by}` : '短信回复';
      const note = `评价次数2：${LEVEL_WORDS[levelName(input.level)].zh}（${input.level}）· ${how}`;
      const step = this.insert(db, first, steps.length + 1, { step: 're-rated', at, by: 'hub', note, complex: false, markedComplex: state.markedComplex });
      audit(db, input.by, 're-rating', { evaluationId: first.id, id: record.id, level: input.level, channel: input.channel }, at);
      return { ok: true, evaluation: commit.record, step };
    });
    if (!result.ok) return result;
    this.deps.log({ level: 'info', msg: 'second rating committed: the 差评 loop is closed', id: result.evaluation.id, followUpOf: firstId, rating: input.level, channel: input.channel });
    this.deps.committed(result.evaluation);
    this.deps.recorded(result.step);
    return result;
  }

  /**
   * The hook for the SMS module (PROTOCOL 7): a reply from `number` whose first character is
   * 1–5, when the last message the hub texted that number was a 差评's feedback. It is the
   * second rating of the 差评 whose outcome was told to that number most recently and that
   * still awaits one; undefined when none does (the reply is then the SMS module's to judge).
   */
  async smsReply(number: string, level: 1 | 2 | 3 | 4 | 5, comment: string): Promise<ReRatingOutcome | undefined> {
    const row = this.deps.store.read((db) =>
      stmt(
        db,
        `SELECT e.id, (SELECT MAX(h.at) FROM handling h WHERE h.evaluation_id = e.id AND h.step IN ('rectified', 'feedback-given')) AS toldAt
         FROM evaluations e INDEXED BY evaluations_loops LEFT JOIN transactions t ON t.txn_id = e.txn_id
         WHERE e.dissatisfied = 1 AND e.rating_no = 1 AND (e.contact = ? OR t.contact = ?)
           AND NOT EXISTS (SELECT 1 FROM handling h WHERE h.evaluation_id = e.id AND h.step = 're-rated')
         ORDER BY toldAt DESC LIMIT 1`,
      ).get(number, number),
    ) as { id: string; toldAt: string | null } | undefined;
    if (!row?.toldAt) return undefined;
    return this.reRate(row.id, { level, reasons: [], comment, channel: 'sms', by: 'citizen' });
  }

  /**
   * 督办 (PROTOCOL 5 [r2]): every open 差评 past its deadline gets `escalated` (by `hub`), once
   * at the deadline and once more at the end of each further working day; what fell due while
   * the hub was down is escalated once, now. Resolves with how many were escalated.
   */
  escalateDue(): Promise<number> {
    this.checking ??= this.check().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async check(): Promise<number> {
    let escalatedCount = 0;
    let earliest = this.deps.clock.now() + MAX_WAIT_MS;
    // Open 差评 a page at a time, each page its own write: a hall that left a year of 差评
    // unhandled escalates them without holding them all in memory or in one transaction.
    let after: { receivedAt: string; rowid: number } | undefined = { receivedAt: '', rowid: 0 };
    while (after && !this.stopped) {
      const from: { receivedAt: string; rowid: number } = after;
      let page: { escalated: StepRecord[]; earliest: number; last: { receivedAt: string; rowid: number } | undefined };
      try {
        page = await this.deps.store.submit((db) => this.checkPage(db, from));
      } catch (error) {
        this.deps.log({ level: 'error', msg: 'cannot check 差评 deadlines', error: (error as Error).message });
        earliest = this.deps.clock.now() + RETRY_MS;
        break;
      }
      for (const step of page.escalated) {
        this.deps.log({ level: 'warn', msg: '差评 past its deadline: escalated', evaluationId: step.evaluationId, deadlineAt: step.deadlineAt });
        this.deps.recorded(step);
      }
      escalatedCount += page.escalated.length;
      earliest = Math.min(earliest, page.earliest);
      after = page.last;
    }
    this.arm(earliest);
    return escalatedCount;
  }

  /** One page of open 差评 after `from` (in received_at, rowid order): escalates those due. Inside a write. */
  private checkPage(db: Db, from: { receivedAt: string; rowid: number }) {
    const calendar = this.deps.hall.calendar();
    // the time of the write, not of the call: a check queued behind others sees the clock as it is
    const now = this.deps.clock.now();
    const at = new Date(now).toISOString();
    const open = stmt(
      db,
      `SELECT rowid AS rowid_, * FROM evaluations INDEXED BY evaluations_loops WHERE dissatisfied = 1 AND rating_no = 1 AND (received_at, rowid) > (?, ?)
       AND NOT EXISTS (SELECT 1 FROM handling h WHERE h.evaluation_id = evaluations.id AND h.step IN ('resolved', 're-rated'))
       ORDER BY received_at, rowid LIMIT ${CHECK_PAGE}`,
    ).all(from.receivedAt, from.rowid) as (EvaluationRow & { rowid_: number })[];
    const escalated: StepRecord[] = [];
    let earliest = now + MAX_WAIT_MS;
    for (const row of open) {
      const steps = stepsOf(db, row.id);
      const state = foldSteps(steps);
      const { deadlineAt } = this.deps.hall.deadline({ matterCode: row.matter_code, receivedAt: row.received_at }, state.markedComplex);
      let due = nextEscalationAt(state, deadlineAt, calendar);
      if (due === undefined) continue;
      if (Date.parse(due) <= now) {
        const e = rowToEvaluation(row, this.deps.identity);
        const n = state.escalations + 1;
        // later than the timer would have been: the hub was down (or its clock was set forward)
        const late = now - Date.parse(due) > MAX_WAIT_MS + RETRY_MS ? '（服务器恢复后补记）' : '';
        escalated.push(this.insert(db, e, steps.length + 1, { step: 'escalated', at, by: 'hub', note: `第${n}次督办：办理期限 ${deadlineAt} 已过，仍未办结${late}`, complex: false, markedComplex: state.markedComplex }));
        due = workdayEndAfter(at, calendar);
      }
      earliest = Math.min(earliest, Date.parse(due));
    }
    const lastRow = open.length === CHECK_PAGE ? open[open.length - 1]! : undefined;
    return { escalated, earliest, last: lastRow ? { receivedAt: lastRow.received_at, rowid: lastRow.rowid_ } : undefined };
  }

  private arm(atMs: number): void {
    if (this.stopped) return;
    this.timers.cancel(this.timer);
    const wait = Math.min(MAX_WAIT_MS, Math.max(0, atMs - this.deps.clock.now()));
    this.timer = this.timers.after(wait, () => void this.escalateDue());
  }

  /** The number the queue system gave for a transaction, with the citizen's consent (PROTOCOL 5 [r2] service). */
  private transactionContact(db: Db, txnId: string | null | undefined): string | null {
    if (!txnId) return null;
    const row = stmt(db, 'SELECT contact FROM transactions WHERE txn_id = ?').get(txnId) as { contact: string | null } | undefined;
    return row?.contact ?? null;
  }

  /** Inserts one step (inside a write) with its id and the deadline in effect after it, audited. */
  private insert(db: Db, e: Evaluation, n: number, s: { step: AnyHandlingStep; at: string; by: string; note: string | null; complex: boolean; markedComplex: boolean }): StepRecord {
    const { complex, deadlineAt } = this.deps.hall.deadline(e, s.markedComplex || s.complex);
    const stepId = stepIdOf(e.id, n);
    stmt(db, 'INSERT INTO handling (evaluation_id, step, at, by, note, step_id, deadline_at, complex) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(e.id, s.step, s.at, s.by, s.note, stepId, deadlineAt, s.complex ? 1 : 0);
    audit(db, s.by, 'handling', { evaluationId: e.id, step: s.step, stepId, ...(s.complex ? { complex: true } : {}) }, s.at);
    return { stepId, evaluationId: e.id, step: s.step, by: s.by, note: s.note, at: s.at, deadlineAt, complex };
  }

  /**
   * The outcome, told once to a citizen who consented to be contacted (the 差评's contact, or
   * the one the queue system gave for the transaction), when an SMS module is wired: queued in
   * the step's own write. Undefined when there is nobody to tell or no way to.
   */
  private queueFeedback(db: Db, e: Evaluation, step: 'rectified' | 'feedback-given'): Told | undefined {
    const notifier = this.deps.notifier?.();
    if (!notifier) return undefined;
    const contact = (e.consent ? e.contact : null) || this.transactionContact(db, e.txnId);
    if (!contact) return undefined;
    try {
      notifier.queue(db, contact, feedbackText(this.deps.signature ?? '【政务服务】', e.windowId ?? null, step), e.id);
      return 'queued';
    } catch (error) {
      if (!(error instanceof TypeError)) throw error; // the disk: the step fails with its message
      return { error: error.message };
    }
  }
}

/** What became of the feedback message of a step. */
type Told = 'queued' | { error: string };
