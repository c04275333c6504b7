/**
 * The 差评 loop (PROTOCOL 3 `handling`, 5): the transition table, deadlines on a working-day
 * calendar with 调休, 督办 on a hand-moved clock, and the second rating (评价次数 2) on a real
 * SQLite store. The loop against a real broker is tests/loop.test.ts.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { HANDLING_STEPS, type AnyHandlingStep, type Evaluation, type HandlingStepName, type LoopPhase } from '../protocol/index.js';
import { ManualClock } from '../simulators/manual-clock.js';
import { cleanupsAfterEach, tempDir } from '../tests/support/cleanup.js';
import { evaluation } from '../tests/support/evaluation.js';
import { parseConfig } from './config.js';
import { commitEvaluation, recordService } from './evaluations.js';
import { exportText } from './export.js';
import { Hall } from './hall.js';
import { feedbackText, foldSteps, Handling, nextEscalationAt, nextSteps, refusal, type StepRecord } from './handling.js';
import { Store } from './store.js';

const cleanups = cleanupsAfterEach();
const hallId = { hallId: '430300-001', areaCode: '430300', deptCode: '' };

/** The state after these steps, one a minute. */
const after = (...steps: string[]) => foldSteps(steps.map((step, i) => ({ step, at: new Date(Date.parse('2026-12-01T02:00:00Z') + i * 60_000).toISOString() })));

describe('the transition table', () => {
  // phase -> how to reach it, and the steps a person may record there (hub/handling.ts)
  const TABLE: [LoopPhase, string[], HandlingStepName[]][] = [
    ['new', [], ['acknowledged', 'resolved-on-the-spot']],
    ['working', ['acknowledged'], ['resolved-on-the-spot', 'called-back', 'handed-over', 'rectified', 'feedback-given', 'resolved']],
    ['working', ['acknowledged', 'called-back', 'handed-over'], ['resolved-on-the-spot', 'called-back', 'handed-over', 'rectified', 'feedback-given', 'resolved']],
    ['rectified', ['acknowledged', 'rectified'], ['called-back', 'handed-over', 'rectified', 'feedback-given', 'resolved']],
    ['rectified', ['resolved-on-the-spot'], ['called-back', 'handed-over', 'rectified', 'feedback-given', 'resolved']],
    ['fed-back', ['acknowledged', 'rectified', 'feedback-given'], ['called-back', 'handed-over', 'rectified', 'feedback-given', 'resolved']],
    ['resolved', ['acknowledged', 'resolved'], []],
    ['re-rated', ['acknowledged', 'rectified', 're-rated'], []],
  ];

  it.each(TABLE)('in %s (after %j) a person may record exactly %j', (phase, steps, next) => {
    const state = after(...steps);
    expect(state.phase).toBe(phase);
    expect(nextSteps(state)).toEqual(next);
    for (const step of HANDLING_STEPS) expect(refusal(state, step) === undefined, `${step} in ${phase}`).toBe(next.includes(step));
  });

  it('refuses out of order with the reason', () => {
    expect(refusal(after(), 'resolved')).toBe('resolved before acknowledged: a 差评 is acknowledged (or resolved on the spot) first');
    expect(refusal(after('acknowledged'), 'acknowledged')).toBe('the 差评 was acknowledged already');
    expect(refusal(after('acknowledged', 'resolved'), 'called-back')).toMatch(/^the 差评 was closed by resolved at 2026-12-01T02:01:00.000Z: no step may follow$/);
    expect(refusal(after('resolved-on-the-spot'), 'resolved-on-the-spot')).toBe('resolved-on-the-spot cannot follow resolved-on-the-spot: next may come called-back, handed-over, rectified, feedback-given, resolved');
  });

  it('escalated (督办) comes in every open phase and leaves the phase; never after the loop closed', () => {
    for (const steps of [[], ['acknowledged'], ['acknowledged', 'rectified'], ['acknowledged', 'feedback-given']]) {
      const state = after(...steps);
      expect(refusal(state, 'escalated')).toBeUndefined();
      const escalated = after(...steps, 'escalated', 'escalated');
      expect(escalated.phase).toBe(state.phase);
      expect(escalated.escalations).toBe(2);
      expect(nextSteps(escalated)).toEqual(nextSteps(state));
    }
    expect(refusal(after('acknowledged', 'resolved'), 'escalated')).toMatch(/closed/);
  });

  it('re-rated (评价次数 2) comes once, only after rectified or feedback-given, also after resolved', () => {
    expect(refusal(after('acknowledged'), 're-rated')).toBe('a second rating (评价次数 2) comes only after rectified or feedback-given');
    expect(refusal(after('resolved-on-the-spot'), 're-rated'), 'settled on the spot: no outcome was told').toMatch(/only after/);
    expect(refusal(after('acknowledged', 'resolved'), 're-rated')).toMatch(/only after/);
    expect(refusal(after('acknowledged', 'rectified'), 're-rated')).toBeUndefined();
    expect(refusal(after('acknowledged', 'feedback-given'), 're-rated')).toBeUndefined();
    expect(refusal(after('acknowledged', 'feedback-given', 'resolved'), 're-rated'), 'the citizen answers after staff closed it').toBeUndefined();
    expect(refusal(after('acknowledged', 'rectified', 're-rated'), 're-rated')).toBe('the citizen has rated a second time already: 评价次数 2 comes once');
    expect(after('acknowledged', 'feedback-given', 'resolved', 're-rated').phase).toBe('re-rated');
  });

  it('a step this hub does not know changes nothing', () => {
    expect(after('acknowledged', 'audited-by-province')).toEqual(after('acknowledged'));
  });

  it('the feedback text fits one message (PROTOCOL 7: 70 characters)', () => {
    const text = feedbackText('【湘潭政务】', 'A01', 'rectified');
    expect(text).toBe('【湘潭政务】您对A01窗口服务的差评已整改。请再次评价:回复5非常满意4满意3基本满意2不满意1非常不满意');
    expect([...text].length).toBeLessThanOrEqual(70);
  });
});

// A National Day week like 2026's, made up for the test: 1-7 October off, Sunday 27 September
// and Saturday 10 October worked (调休).
const NATIONAL_DAY = { holidays: ['2026-10-01', '2026-10-02', '2026-10-05', '2026-10-06', '2026-10-07'], workdays: ['2026-09-27', '2026-10-10'] };

function hall(dir: string, calendar = NATIONAL_DAY) {
  const config = parseConfig({ ...hallId, adminToken: 'hall-test-token-7f3a9c', dataDir: dir, calendar });
  const store = new Store({ dataDir: dir });
  cleanups.push(() => store.close());
  return { store, hall: new Hall({ store, config, clock: new ManualClock(), setWindows: () => {}, publishPublicConfig: () => {} }) };
}

describe('deadlines on the working-day calendar (调休)', () => {
  const rated = (receivedAt: string, matterCode: string | null = null) => ({ receivedAt, matterCode });

  it('2 working days: holidays skipped, an adjusted Saturday or Sunday counted (CST days)', () => {
    const { hall: h } = hall(tempDir(cleanups, 'loop-cal'));
    // Wednesday 30 September 10:00 CST: 1-7 October off, Thursday 8 and Friday 9 are the two
    expect(h.deadline(rated('2026-09-30T02:00:00Z'))).toEqual({ complex: false, deadlineAt: '2026-10-09T16:00:00.000Z' });
    // Friday 25 September: Sunday 27 (调休) and Monday 28
    expect(h.deadline(rated('2026-09-25T02:00:00Z')).deadlineAt).toBe('2026-09-28T16:00:00.000Z');
    // Friday 9 October: Saturday 10 (调休) and Monday 12
    expect(h.deadline(rated('2026-10-09T02:00:00Z')).deadlineAt).toBe('2026-10-12T16:00:00.000Z');
    // 23:30 CST on Friday 25 September is still that Friday; 00:30 CST Saturday is Saturday
    expect(h.deadline(rated('2026-09-25T15:30:00Z')).deadlineAt).toBe('2026-09-28T16:00:00.000Z');
    expect(h.deadline(rated('2026-09-25T16:30:00Z')).deadlineAt).toBe('2026-09-28T16:00:00.000Z');
  });

  it('10 working days when complex, by the handler\'s mark or the pushed catalogue', async () => {
    const { hall: h } = hall(tempDir(cleanups, 'loop-complex'));
    // from Wednesday 30 September: 8, 9, 10 (调休), 12-16, 19, 20 October
    expect(h.deadline(rated('2026-09-30T02:00:00Z'), true)).toEqual({ complex: true, deadlineAt: '2026-10-20T16:00:00.000Z' });
    await h.applyPushed({ version: 1, windows: [], staff: [], reasons: [], matters: [{ code: 'M-BDC', name: '不动产登记', complex: true }] });
    expect(h.deadline(rated('2026-09-30T02:00:00Z', 'M-BDC'))).toEqual({ complex: true, deadlineAt: '2026-10-20T16:00:00.000Z' });
  });

  it('the configuration file\'s calendar with the platform\'s push over it', async () => {
    const { hall: h } = hall(tempDir(cleanups, 'loop-push'));
    // the platform says Saturday 10 October is a day off after all, and adds Monday 12 October
    await h.applyPushed({ version: 1, windows: [], staff: [], reasons: [], matters: [], calendar: { holidays: ['2026-10-10', '2026-10-12'], workdays: [] } });
    expect(h.calendar()).toEqual({ holidays: ['2026-10-10', '2026-10-12', ...NATIONAL_DAY.holidays], workdays: ['2026-09-27'] });
    expect(h.deadline(rated('2026-10-09T02:00:00Z')).deadlineAt).toBe('2026-10-14T16:00:00.000Z');
  });

  it('督办 at the deadline, then at the end of each further working day; a later deadline moves it', () => {
    const { hall: h } = hall(tempDir(cleanups, 'loop-esc'));
    const calendar = h.calendar();
    const deadline = '2026-09-28T16:00:00.000Z'; // end of Monday 28 September
    expect(nextEscalationAt(after(), deadline, calendar)).toBe(deadline);
    const once = foldSteps([{ step: 'escalated', at: deadline }]);
    expect(nextEscalationAt(once, deadline, calendar), 'end of Tuesday 29').toBe('2026-09-29T16:00:00.000Z');
    const twice = foldSteps([{ step: 'escalated', at: deadline }, { step: 'escalated', at: '2026-09-29T16:00:00.000Z' }]);
    expect(nextEscalationAt(twice, deadline, calendar), 'end of Wednesday 30').toBe('2026-09-30T16:00:00.000Z');
    const thrice = foldSteps([{ step: 'escalated', at: '2026-09-30T16:00:00.000Z' }]);
    expect(nextEscalationAt(thrice, deadline, calendar), 'the holidays and the weekend pass: Thursday 8 October').toBe('2026-10-08T16:00:00.000Z');
    expect(nextEscalationAt(once, '2026-10-20T16:00:00.000Z', calendar), 'marked complex after the first 督办').toBe('2026-10-20T16:00:00.000Z');
    expect(nextEscalationAt(after('acknowledged', 'resolved'), deadline, calendar)).toBeUndefined();
  });
});

describe('Handling on the store', () => {
  let store: Store;
  let clock: ManualClock;
  let handling: Handling;
  let recorded: StepRecord[];
  let committed: Evaluation[];
  let told: { contact: string; text: string; evaluationId: string }[];
  let woken: number;
  /** What the notifier's queue throws, if anything (a full disk, a number it cannot text). */
  let failQueue: Error | undefined;

  /** The hub on a hand-moved clock, starting Friday 25 September 2026, 10:00 CST. */
  beforeEach(() => {
    const dir = tempDir(cleanups, 'loop-store');
    ({ store } = hall(dir));
    const h = new Hall({ store, config: parseConfig({ ...hallId, adminToken: 'hall-test-token-7f3a9c', dataDir: dir, calendar: NATIONAL_DAY }), clock: new ManualClock(), setWindows: () => {}, publishPublicConfig: () => {} });
    clock = new ManualClock(Date.parse('2026-09-25T02:00:00Z'));
    recorded = [];
    committed = [];
    told = [];
    woken = 0;
    failQueue = undefined;
    handling = new Handling({
      store,
      hall: h,
      identity: hallId,
      clock,
      log: () => {},
      recorded: (s) => recorded.push(s),
      committed: (e) => committed.push(e),
      notifier: () => ({
        queue: (db, contact, text, evaluationId) => {
          if (!db.inTransaction) throw new Error('the feedback must be queued inside the step\'s write');
          if (failQueue) throw failQueue;
          told.push({ contact, text, evaluationId });
        },
        wake: () => void woken++,
      }),
      signature: '【湘潭政务】',
    });
    cleanups.push(() => handling.stop());
  });

  async function dissatisfied(id: string, patch: Partial<Evaluation> = {}) {
    const at = new Date(clock.now()).toISOString();
    await store.submit((db) => commitEvaluation(db, evaluation({ id, level: 1, evaluatedAt: at, ...patch }), { attachWithinMs: 0, misuseWindowMs: 0 }));
  }
  const step = (id: string, name: HandlingStepName, extra: { note?: string; complex?: boolean } = {}) => handling.record(id, { step: name, note: extra.note ?? null, complex: extra.complex ?? false }, '王科长');
  const stored = (id: string) => store.read((db) => db.prepare('SELECT step_id AS stepId, step, by, deadline_at AS deadlineAt, sync_state AS s FROM handling WHERE evaluation_id = ? ORDER BY id').all(id));
  const settle = () => handling.escalateDue();

  it('records each step with its id, who, note, time and deadline; refuses one out of order (nothing stored)', async () => {
    await dissatisfied('HCP5-L-1');
    expect(await step('HCP5-L-1', 'resolved')).toEqual({ ok: false, code: 'out-of-order', message: 'resolved before acknowledged: a 差评 is acknowledged (or resolved on the spot) first' });
    expect(await step('HCP5-NOPE-1', 'acknowledged')).toMatchObject({ ok: false, code: 'unknown-evaluation' });
    const first = await step('HCP5-L-1', 'acknowledged', { note: '已联系群众' });
    expect(first).toEqual({
      ok: true,
      phase: 'working',
      step: { stepId: 'HCP5-L-1#1', evaluationId: 'HCP5-L-1', step: 'acknowledged', by: '王科长', note: '已联系群众', at: '2026-09-25T02:00:00.000Z', deadlineAt: '2026-09-28T16:00:00.000Z', complex: false },
    });
    expect(recorded.map((s) => s.stepId)).toEqual(['HCP5-L-1#1']);
    // the handler finds the matter complex: 10 working days (27, 28-30 September, 8-10, 12-14 October)
    expect(await step('HCP5-L-1', 'called-back', { complex: true })).toMatchObject({ ok: true, step: { stepId: 'HCP5-L-1#2', deadlineAt: '2026-10-14T16:00:00.000Z', complex: true } });
    expect(handling.deadlineOf({ id: 'HCP5-L-1', matterCode: null, receivedAt: '2026-09-25T02:00:00.000Z' })).toEqual({ complex: true, deadlineAt: '2026-10-14T16:00:00.000Z' });
    expect(stored('HCP5-L-1')).toEqual([
      { stepId: 'HCP5-L-1#1', step: 'acknowledged', by: '王科长', deadlineAt: '2026-09-28T16:00:00.000Z', s: 'pending' },
      { stepId: 'HCP5-L-1#2', step: 'called-back', by: '王科长', deadlineAt: '2026-10-14T16:00:00.000Z', s: 'pending' },
    ]);
    const audit = store.read((db) => db.prepare(`SELECT actor, detail FROM audit WHERE action = 'handling' ORDER BY id`).all());
    expect(audit).toEqual([
      { actor: '王科长', detail: JSON.stringify({ evaluationId: 'HCP5-L-1', step: 'acknowledged', stepId: 'HCP5-L-1#1' }) },
      { actor: '王科长', detail: JSON.stringify({ evaluationId: 'HCP5-L-1', step: 'called-back', stepId: 'HCP5-L-1#2', complex: true }) },
    ]);
  });

  it('督办: escalated by the hub at the deadline and once each further working day, until resolved', async () => {
    await dissatisfied('HCP5-L-2'); // Friday 25 September: due the end of Monday 28 (Sunday 27 is worked)
    handling.start();
    await settle();
    expect(recorded).toEqual([]);
    clock.advance(Date.parse('2026-09-28T16:00:00Z') - clock.now() - 1);
    await settle();
    expect(recorded, 'not a millisecond early').toEqual([]);
    clock.advance(1);
    await settle();
    expect(recorded.map((s) => [s.stepId, s.step, s.by, s.at])).toEqual([['HCP5-L-2#1', 'escalated', 'hub', '2026-09-28T16:00:00.000Z']]);
    expect(recorded[0]!.note).toBe('第1次督办：办理期限 2026-09-28T16:00:00.000Z 已过，仍未办结');
    // Tuesday and Wednesday pass; the holidays and the weekend do not count
    for (const end of ['2026-09-29T16:00:00Z', '2026-09-30T16:00:00Z', '2026-10-08T15:00:00Z']) {
      clock.advance(Date.parse(end) - clock.now());
      await settle();
    }
    expect(recorded.map((s) => s.at), 'nothing during the holidays').toEqual(['2026-09-28T16:00:00.000Z', '2026-09-29T16:00:00.000Z', '2026-09-30T16:00:00.000Z']);
    expect(recorded.map((s) => s.note?.slice(0, 5))).toEqual(['第1次督办', '第2次督办', '第3次督办']);
    // acknowledged, then resolved: no more 督办
    await step('HCP5-L-2', 'acknowledged');
    await step('HCP5-L-2', 'resolved');
    clock.jump(7 * 86_400_000);
    await settle();
    expect(recorded.map((s) => s.step)).toEqual(['escalated', 'escalated', 'escalated', 'acknowledged', 'resolved']);
  });

  it('a backlog of 1,200 overdue 差评 is escalated each once, a page of them per write, not all in one', async () => {
    const at = new Date(clock.now()).toISOString();
    await store.submit((db) => {
      for (let i = 1; i <= 1200; i++) commitEvaluation(db, evaluation({ id: `HCP5-B-${i}`, level: 1, evaluatedAt: at }), { attachWithinMs: 0, misuseWindowMs: 0 });
    });
    clock.set(Date.parse('2026-09-30T04:00:00Z'));
    const before = store.commits.transactions;
    handling.start();
    await settle();
    expect(new Set(recorded.map((s) => s.evaluationId)).size).toBe(1200);
    expect(recorded.every((s) => s.step === 'escalated')).toBe(true);
    expect(store.commits.transactions - before, 'pages of 500: three writes').toBeGreaterThanOrEqual(3);
    await settle();
    expect(recorded, 'nothing more due until the end of the working day').toHaveLength(1200);
  });

  it('a hub that was down at the deadline escalates once on start, noting it', async () => {
    await dissatisfied('HCP5-L-3');
    clock.set(Date.parse('2026-09-30T04:00:00Z')); // two days after the deadline, the hub starts
    handling.start();
    await settle();
    expect(recorded.map((s) => [s.step, s.at])).toEqual([['escalated', '2026-09-30T04:00:00.000Z']]);
    expect(recorded[0]!.note).toMatch(/服务器恢复后补记/);
    clock.advance(Date.parse('2026-09-30T16:00:00Z') - clock.now()); // the end of that working day
    await settle();
    expect(recorded.map((s) => s.at)).toEqual(['2026-09-30T04:00:00.000Z', '2026-09-30T16:00:00.000Z']);
  });

  it('the outcome is told once to a consenting citizen; the second rating is RE-{id}, 评价次数 2, once, and closes the loop', async () => {
    await store.submit((db) => recordService(db, { txnId: 'T-88', windowId: 'A01', event: 'done', matterCode: 'M1', matterName: '营业执照', staffId: 'S1', staffName: '李明', contact: '13912345678', at: '2026-09-25T01:55:00.000Z' }));
    await dissatisfied('TAB-01-7', { channel: 'tablet', origin: 'tablet', deviceId: 'TAB-01', txnId: 'T-88', comment: '材料反复要求' });
    expect(await handling.reRate('TAB-01-7', { level: 4, reasons: [], comment: '', channel: 'phone', by: '王科长' })).toMatchObject({ ok: false, code: 'out-of-order', message: 'a second rating (评价次数 2) comes only after rectified or feedback-given' });
    await step('TAB-01-7', 'acknowledged');
    await step('TAB-01-7', 'rectified', { note: '已简化材料清单' });
    await step('TAB-01-7', 'feedback-given');
    expect(told, 'the transaction\'s consented number, once (not again on feedback-given)').toEqual([{ contact: '13912345678', text: feedbackText('【湘潭政务】', 'A01', 'rectified'), evaluationId: 'TAB-01-7' }]);

    clock.advance(3_600_000);
    const second = await handling.reRate('TAB-01-7', { level: 4, reasons: [], comment: '改进了', channel: 'phone', by: '王科长' });
    expect(second).toMatchObject({
      ok: true,
      evaluation: { id: 'RE-TAB-01-7', ratingNo: 2, followUpOf: 'TAB-01-7', level: 4, channel: 'phone', txnId: 'T-88', windowId: 'A01', staffName: '李明', comment: '改进了', evaluatedAt: '2026-09-25T03:00:00.000Z' },
      step: { stepId: 'TAB-01-7#4', step: 're-rated', by: 'hub', note: '评价次数2：满意（4）· 电话，记录人 王科长' },
    });
    expect(committed.map((e) => e.id)).toEqual(['RE-TAB-01-7']);
    expect(await handling.reRate('TAB-01-7', { level: 5, reasons: [], comment: '', channel: 'phone', by: '王科长' })).toMatchObject({ ok: false, code: 'out-of-order', message: 'the citizen has rated a second time already: 评价次数 2 comes once' });
    expect(await step('TAB-01-7', 'resolved')).toMatchObject({ ok: false, code: 'out-of-order', message: /closed by the citizen's second rating/ });
    // the national export: the transaction twice, as 评价次数 1 and 2 (PROTOCOL 4.2)
    const csv = await exportText(store, hallId, { format: 'gb39046', from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z' });
    expect(csv.trim().split('\r\n').slice(1).map((line) => line.split(',').slice(0, 6))).toEqual([
      ['T-88', '政务大厅平板电脑', '', '20260925T100000', '1', '非常不满意'],
      ['T-88', '电话', '', '20260925T110000', '2', '满意'],
    ]);
    // still one rating per 办件 otherwise: a third on any channel is refused
    const third = await store.submit((db) => commitEvaluation(db, evaluation({ id: 'HCP5-L-9', txnId: 'T-88', level: 5 }), { attachWithinMs: 0, misuseWindowMs: 0 }));
    expect(third.status).toBe('refused');
  });


  it('the feedback message is queued in the step\'s own write: a step whose message cannot be stored is not stored either', async () => {
    await store.submit((db) => recordService(db, { txnId: 'T-89', windowId: 'A01', event: 'done', matterCode: 'M1', matterName: '营业执照', staffId: 'S1', staffName: '李明', contact: '13912345679', at: '2026-09-25T01:55:00.000Z' }));
    await dissatisfied('TAB-01-8', { channel: 'tablet', origin: 'tablet', deviceId: 'TAB-01', txnId: 'T-89' });
    await step('TAB-01-8', 'acknowledged');
    failQueue = new Error('database or disk is full');
    await expect(step('TAB-01-8', 'rectified')).rejects.toThrow('database or disk is full');
    expect(stored('TAB-01-8').map((s) => (s as { step: string }).step), 'no rectified without its message').toEqual(['acknowledged']);
    expect(woken).toBe(0);
    failQueue = undefined;
    await step('TAB-01-8', 'rectified');
    expect(told.map((t) => t.contact)).toEqual(['13912345679']);
    expect(woken, 'the outbox is woken after the commit').toBe(1);
    // a contact the SMS module cannot text is logged; the step stands
    await dissatisfied('TAB-01-9', { channel: 'tablet', origin: 'tablet', deviceId: 'TAB-01', consent: true, contact: '13912345670' });
    failQueue = new TypeError('number: expected a mainland mobile number (11 digits)');
    await step('TAB-01-9', 'acknowledged');
    expect(await step('TAB-01-9', 'rectified')).toMatchObject({ ok: true });
    expect(woken).toBe(1);
  });
  it('an SMS reply to the feedback is the second rating of the 差评 told to that number', async () => {
    await dissatisfied('TAB-01-8', { channel: 'tablet', origin: 'tablet', deviceId: 'TAB-01', contact: '13812345678', consent: true });
    expect(await handling.smsReply('13812345678', 5, ''), 'nothing told yet').toBeUndefined();
    await step('TAB-01-8', 'acknowledged');
    await step('TAB-01-8', 'feedback-given');
    expect(await handling.smsReply('13700000000', 5, ''), 'another number').toBeUndefined();
    expect(await handling.smsReply('13812345678', 5, '谢谢')).toMatchObject({ ok: true, evaluation: { id: 'RE-TAB-01-8', channel: 'sms', ratingNo: 2, level: 5, comment: '谢谢' }, step: { note: '评价次数2：非常满意（5）· 短信回复' } });
    expect(await handling.smsReply('13812345678', 1, ''), 'once').toBeUndefined();
  });

  it('a second rating is no new 差评: no loop, no alert, no 督办', async () => {
    await dissatisfied('HCP5-L-4');
    await step('HCP5-L-4', 'acknowledged');
    await step('HCP5-L-4', 'rectified');
    await handling.reRate('HCP5-L-4', { level: 1, reasons: [], comment: '', channel: 'phone', by: '王科长' });
    clock.jump(30 * 86_400_000);
    handling.start();
    await settle();
    expect(recorded.map((s) => s.step)).toEqual(['acknowledged', 'rectified', 're-rated']);
    expect(store.read((db) => db.prepare('SELECT COUNT(*) AS n FROM handling WHERE evaluation_id = ?').get('RE-HCP5-L-4'))).toEqual({ n: 0 });
  });
});
