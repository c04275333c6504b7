/// <reference lib="dom" />
/**
 * The dashboard's live list of 差评 (`#dissatisfied-list`, one `li[data-id=evaluation id]`
 * each): a live countdown to the hub's `deadlineAt` (overdue and 督办 said in words, not only in
 * colour), what the citizen said, the handling steps so far, buttons for the steps the hub says
 * may come next (`POST /api/evaluations/{id}/handling`, with `complex: true` when the handler
 * ticks the complex matter), and, once the outcome was given, the citizen's second rating as
 * heard on the phone (`POST /api/evaluations/{id}/re-rating`). Which step may follow which is
 * the hub's (its answer's `next`): the page never decides it. Rows are keyed by id and updated
 * in place, so a half-typed note survives every redraw.
 */
import {
  HANDLING_STEPS,
  type AnyHandlingStep,
  type DashboardEvaluation,
  type DissatisfiedItem,
  type DissatisfiedList as DissatisfiedAnswer,
  type HandlingAnswer,
  type HandlingRequest,
  type HandlingStepName,
  type ReRatingAnswer,
  type ReRatingRequest,
} from '../../protocol/index.js';
import { t, type Key } from './i18n.js';
import { api, fmtDuration, fmtTime, h, levelWord, messageOf } from './staff-common.js';

/** A 差评 as the list keeps it: `deadlineAt` is null until the hub's list has it (one just heard over MQTT). */
type Dissatisfied = Omit<DissatisfiedItem, 'deadlineAt'> & { deadlineAt: string | null };

export interface ListContext {
  windowName(id: string | null | undefined): string;
  reasonName(code: string): string;
  /** Who the page says is recording (the 处理人 field); the hub records the signed-in person. */
  handler(): string;
}

const DAY = 86_400_000;
/** A label for every step (a new one in `HANDLING_STEPS` or the hub's fails to compile here). */
const STEP_KEYS: Record<AnyHandlingStep, Key> = {
  acknowledged: 'dashStepAcknowledged',
  'resolved-on-the-spot': 'disStepResolvedOnTheSpot',
  'called-back': 'dashStepCalledBack',
  'handed-over': 'disStepHandedOver',
  rectified: 'disStepRectified',
  'feedback-given': 'disStepFeedbackGiven',
  resolved: 'dashStepResolved',
  escalated: 'disStepEscalated',
  're-rated': 'disStepReRated',
};
const isStep = (step: string): step is AnyHandlingStep => Object.hasOwn(STEP_KEYS, step);
const isPersonStep = (step: string): step is HandlingStepName => (HANDLING_STEPS as readonly string[]).includes(step);
/** A step's words; a newer hub's shows as it is. */
const stepName = (step: string) => (isStep(step) ? t(STEP_KEYS[step]) : step);

export class DissatisfiedList {
  private items = new Map<string, Dissatisfied>();
  /** id -> when it was heard live: marked "new" for a minute. */
  private readonly heardAt = new Map<string, number>();
  /** Rows with a step being recorded: their buttons stay disabled through redraws. */
  private readonly busy = new Set<string>();

  constructor(
    private readonly ul: HTMLUListElement,
    private readonly empty: HTMLElement,
    private readonly ctx: ListContext,
  ) {
    ul.addEventListener('click', (event) => {
      const button = (event.target as Element).closest<HTMLButtonElement>('button[data-step], button[data-action="re-rate"]');
      const li = button?.closest<HTMLLIElement>('li.dis');
      if (!button || !li || button.disabled) return;
      if (button.dataset['step']) void this.record(li, button.dataset['step']);
      else void this.reRate(li);
    });
  }

  async load(): Promise<void> {
    const answer = await api<DissatisfiedAnswer>('GET', '/api/dissatisfied');
    const next = new Map<string, Dissatisfied>(answer.dissatisfied.map((d) => [d.evaluation.id, d]));
    // Keep a 差评 heard live a moment ago that the answer (read just before) may not have yet.
    for (const [id, item] of this.items) if (!next.has(id) && item.deadlineAt === null && Date.now() - (this.heardAt.get(id) ?? 0) < 10_000) next.set(id, item);
    this.items = next;
    this.draw();
  }

  /** A 差评 committed a moment ago (hub's `dashboard/evaluation`): shown at once, its buttons once the list has it. */
  heard(e: DashboardEvaluation): void {
    if (e.ratingNo === 2) return; // a second rating closes a loop; the list shows it on its 差评
    this.heardAt.set(e.id, Date.now());
    if (!this.items.has(e.id)) {
      this.items.set(e.id, { evaluation: e, complex: e.complex ?? false, deadlineAt: e.deadlineAt ?? null, overdue: false, handling: [], phase: 'new', next: [], reRatable: false, resolved: false });
    }
    this.draw();
  }

  clear(): void {
    this.items = new Map();
    this.ul.replaceChildren();
  }

  draw(): void {
    const rows = new Map([...this.ul.querySelectorAll<HTMLLIElement>('li.dis')].map((li) => [li.dataset['id']!, li]));
    for (const [id, li] of rows) if (!this.items.has(id)) li.remove();
    const wanted = [...this.items.values()].sort((a, b) => sortKey(a) - sortKey(b));
    wanted.forEach((item, i) => {
      const li = rows.get(item.evaluation.id) ?? newRow(item.evaluation.id);
      this.fill(li, item);
      if (this.ul.children[i] !== li) this.ul.insertBefore(li, this.ul.children[i] ?? null); // moves only what is out of place
    });
    this.empty.hidden = this.items.size > 0;
  }

  private fill(li: HTMLLIElement, item: Dissatisfied): void {
    const e = item.evaluation;
    const part = <T extends Element = Element>(cls: string) => li.querySelector<T>(`.${cls}`)!;
    const due = dueText(item);
    li.className = `dis dis-${due.state}`;
    li.dataset['state'] = due.state;
    li.dataset['phase'] = item.phase;
    const isNew = Date.now() - (this.heardAt.get(e.id) ?? 0) < 60_000;
    const escalations = item.handling.filter((s) => s.step === 'escalated').length;
    part('dis-head').replaceChildren(
      h('strong', { class: `dis-level dis-level-${e.level}`, text: levelWord(e.level) }),
      h('span', { class: 'dis-where', text: [this.ctx.windowName(e.windowId), e.staffName].filter(Boolean).join(' · ') }),
      ...(isNew ? [h('span', { class: 'dis-new', text: t('dashNew') })] : []),
      ...(item.complex ? [h('span', { class: 'dis-complex', text: t('dashComplex') })] : []),
      ...(escalations > 0 && !item.resolved ? [h('span', { class: 'dis-complex dis-escalated', text: t('disEscalatedBadge', { n: escalations }) })] : []),
    );
    part('dis-due').textContent = due.text;
    const detail: [Key, string][] = [['dashReceived', fmtTime(e.evaluatedAt)]];
    if (e.matterName) detail.push(['dashMatter', e.matterName]);
    if (e.reasons.length) detail.push(['dashReasons', e.reasons.map((r) => this.ctx.reasonName(r)).join(t('staffListSep'))]);
    if (e.comment) detail.push(['dashComment', e.comment]);
    if (e.contact) detail.push(['dashContact', e.contact]);
    part('dis-detail').replaceChildren(...detail.map(([k, v]) => h('div', {}, h('dt', { text: t(k) }), h('dd', { text: v }))));
    part('dis-steps').replaceChildren(
      ...item.handling.map((s) => {
        const who = s.by === 'hub' ? t('disStepByHub') : s.by ? t('dashStepBy', { by: s.by }) : '';
        const text = t('dashStepDone', { step: stepName(s.step), time: fmtTime(s.at) }) + who;
        return h('li', { text: s.note ? t('dashStepNote', { step: text, note: s.note }) : text, attrs: { 'data-step': s.step } });
      }),
    );
    part('dis-note-label span').textContent = t('dashNote');
    const busy = this.busy.has(e.id);
    li.querySelectorAll<HTMLButtonElement>('button[data-step]').forEach((b) => {
      const step = b.dataset['step']!;
      b.textContent = stepName(step);
      // the hub says which steps may come now (its transition table)
      b.disabled = busy || !(isPersonStep(step) && item.next.includes(step));
    });
    const complex = part<HTMLLabelElement>('dis-complex-label');
    complex.hidden = item.complex || item.resolved;
    complex.querySelector('span')!.textContent = t('disMarkComplex');
    part<HTMLElement>('dis-actions').hidden = item.resolved;
    const reRate = part<HTMLElement>('dis-rerate');
    reRate.hidden = !item.reRatable;
    reRate.querySelector('label > span')!.textContent = t('disReRateLabel');
    reRate.querySelectorAll<HTMLOptionElement>('option').forEach((o) => (o.textContent = levelWord(Number(o.value))));
    const reRateButton = reRate.querySelector<HTMLButtonElement>('button')!;
    reRateButton.textContent = t('disReRate');
    reRateButton.disabled = busy;
  }

  private async record(li: HTMLLIElement, step: string): Promise<void> {
    if (!isPersonStep(step)) return;
    const id = li.dataset['id']!;
    const note = li.querySelector<HTMLInputElement>('.dis-note')!;
    const complex = li.querySelector<HTMLInputElement>('.dis-complex-mark')!;
    const body: HandlingRequest = { step, ...(note.value.trim() ? { note: note.value.trim() } : {}), ...(complex.checked ? { complex: true } : {}) };
    await this.send(li, id, async () => {
      await api<HandlingAnswer>('POST', `/api/evaluations/${encodeURIComponent(id)}/handling`, body);
      note.value = '';
      complex.checked = false;
      return t('dashStepSaved', { step: stepName(step) });
    });
  }

  private async reRate(li: HTMLLIElement): Promise<void> {
    const id = li.dataset['id']!;
    const level = Number(li.querySelector<HTMLSelectElement>('.dis-rerate select')!.value) as ReRatingRequest['level'];
    const note = li.querySelector<HTMLInputElement>('.dis-note')!;
    const body: ReRatingRequest = { level, ...(note.value.trim() ? { comment: note.value.trim() } : {}) };
    await this.send(li, id, async () => {
      await api<ReRatingAnswer>('POST', `/api/evaluations/${encodeURIComponent(id)}/re-rating`, body);
      note.value = '';
      return t('disReRateSaved', { level: levelWord(level) });
    });
  }

  /** Runs one recording with the row's buttons disabled, says how it went, and reads the list again. */
  private async send(li: HTMLLIElement, id: string, run: () => Promise<string>): Promise<void> {
    const msg = li.querySelector('.dis-msg')!;
    this.busy.add(id);
    li.querySelectorAll<HTMLButtonElement>('button').forEach((b) => (b.disabled = true));
    msg.classList.remove('error');
    try {
      msg.textContent = await run();
    } catch (error) {
      msg.textContent = messageOf(error);
      msg.classList.add('error');
    }
    this.busy.delete(id);
    // the hub's answer to the list says what may come next
    await this.load().catch(() => this.draw());
  }
}

function dueText(item: Dissatisfied): { text: string; state: 'resolved' | 'open' | 'soon' | 'overdue' } {
  if (item.resolved) return { text: item.phase === 're-rated' ? t('disClosedReRated') : t('dashResolved'), state: 'resolved' };
  if (item.deadlineAt === null) return { text: t('dashDuePending'), state: 'open' };
  // a live countdown: the page redraws on a timer between the hub's answers
  const left = Date.parse(item.deadlineAt) - Date.now();
  const at = t('dashDueAt', { time: endOfDay(item.deadlineAt) });
  if (left <= 0 || item.overdue) return { text: `${t('dashOverdue', { time: fmtDuration(-left) })} · ${at}`, state: 'overdue' };
  if (left < DAY) return { text: `${t('dashDueSoon', { time: fmtDuration(left) })} · ${at}`, state: 'soon' };
  return { text: `${t('dashTimeLeft', { time: fmtDuration(left) })} · ${at}`, state: 'open' };
}

/** A deadline at midnight reads as the end of the day before: `11/24 24:00`, not `11/25 00:00`. */
function endOfDay(iso: string): string {
  const ms = Date.parse(iso);
  return fmtTime(iso, false) === '00:00' ? fmtTime(new Date(ms - 60_000).toISOString()).replace('23:59', '24:00') : fmtTime(iso);
}

/** Open ones first, the most urgent (and the just-heard) on top; closed ones last, newest first. */
function sortKey(item: Dissatisfied): number {
  if (item.resolved) return 1e15 - Date.parse(item.evaluation.receivedAt) / 1e3;
  return item.deadlineAt === null ? 0 : Date.parse(item.deadlineAt);
}

/** A row's fixed parts, made once. */
function newRow(id: string): HTMLLIElement {
  const note = h('input', { class: 'dis-note', attrs: { type: 'text', maxlength: '500', autocomplete: 'off' } });
  const complex = h('label', { class: 'dis-complex-label' }, h('input', { class: 'dis-complex-mark', attrs: { type: 'checkbox' } }), h('span', {}));
  const levels = h('select', {}, ...[5, 4, 3, 2, 1].map((level) => h('option', { attrs: { value: String(level) } })));
  return h(
    'li',
    { class: 'dis', attrs: { 'data-id': id } },
    h('div', { class: 'dis-head' }),
    h('p', { class: 'dis-due' }),
    h('dl', { class: 'dis-detail' }),
    h('ol', { class: 'dis-steps' }),
    h('div', { class: 'dis-actions' }, h('label', { class: 'dis-note-label' }, h('span', {}), note), complex, ...HANDLING_STEPS.map((step) => h('button', { attrs: { type: 'button', 'data-step': step } }))),
    h('div', { class: 'dis-actions dis-rerate' }, h('label', { class: 'dis-note-label' }, h('span', {}), levels), h('button', { attrs: { type: 'button', 'data-action': 're-rate' } })),
    h('p', { class: 'dis-msg', attrs: { role: 'status' } }),
  );
}
