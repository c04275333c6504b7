/// <reference lib="dom" />
/**
 * The dashboard's live list of 差评 (`#dissatisfied-list`, one `li[data-id=evaluation id]`
 * each): the time left to handle it from the hub's `dueAt` (overdue said in words, not only
 * in colour), what the citizen said, the handling steps so far, and buttons that record the
 * next step (`POST /api/evaluations/{id}/handling`). Rows are keyed by id and updated in
 * place, so a half-typed note survives every redraw.
 */
import {
  HANDLING_STEPS,
  type DashboardEvaluation,
  type DissatisfiedItem,
  type DissatisfiedList as DissatisfiedAnswer,
  type HandlingAnswer,
  type HandlingRequest,
  type HandlingStepName,
} from '../../protocol/index.js';
import { t, type Key } from './i18n.js';
import { api, fmtDuration, fmtTime, h, levelWord, messageOf } from './staff-common.js';

/** A 差评 as the list keeps it: `dueAt` is null until the hub's list has it (one just heard over MQTT). */
type Dissatisfied = Omit<DissatisfiedItem, 'dueAt'> & { dueAt: string | null };

export interface ListContext {
  windowName(id: string | null | undefined): string;
  reasonName(code: string): string;
  /** Who is recording the step (the 处理人 field), or ''. */
  handler(): string;
}

const DAY = 86_400_000;
/** A label for every step a person records (a new one in `HANDLING_STEPS` fails to compile here). */
const STEP_KEYS: Record<HandlingStepName, Key> = {
  acknowledged: 'dashStepAcknowledged',
  'called-back': 'dashStepCalledBack',
  resolved: 'dashStepResolved',
};
const isStepName = (step: string): step is HandlingStepName => (HANDLING_STEPS as readonly string[]).includes(step);
/** A step's words; one the hub adds itself, or a newer hub's, shows as it is. */
const stepName = (step: string) => (isStepName(step) ? t(STEP_KEYS[step]) : step);

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
      const button = (event.target as Element).closest<HTMLButtonElement>('button[data-step]');
      const li = button?.closest<HTMLLIElement>('li.dis');
      if (button && li && !button.disabled) void this.record(li, button.dataset['step']!);
    });
  }

  async load(): Promise<void> {
    const answer = await api<DissatisfiedAnswer>('GET', '/api/dissatisfied');
    const next = new Map<string, Dissatisfied>(answer.dissatisfied.map((d) => [d.evaluation.id, d]));
    // Keep a 差评 heard live a moment ago that the answer (read just before) may not have yet.
    for (const [id, item] of this.items) if (!next.has(id) && item.dueAt === null && Date.now() - (this.heardAt.get(id) ?? 0) < 10_000) next.set(id, item);
    this.items = next;
    this.draw();
  }

  /** A 差评 committed a moment ago (hub's `dashboard/evaluation`): shown at once. */
  heard(e: DashboardEvaluation): void {
    this.heardAt.set(e.id, Date.now());
    // the hub sends the deadline with the rating; older hubs did not, and the list then fetches it
    if (!this.items.has(e.id)) this.items.set(e.id, { evaluation: e, complex: e.complex ?? false, dueAt: e.dueAt ?? null, handling: [], resolved: false });
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
    const part = (cls: string) => li.querySelector(`.${cls}`)!;
    const due = dueText(item);
    li.className = `dis dis-${due.state}`;
    li.dataset['state'] = due.state;
    const isNew = Date.now() - (this.heardAt.get(e.id) ?? 0) < 60_000;
    part('dis-head').replaceChildren(
      h('strong', { class: `dis-level dis-level-${e.level}`, text: levelWord(e.level) }),
      h('span', { class: 'dis-where', text: [this.ctx.windowName(e.windowId), e.staffName].filter(Boolean).join(' · ') }),
      ...(isNew ? [h('span', { class: 'dis-new', text: t('dashNew') })] : []),
      ...(item.complex ? [h('span', { class: 'dis-complex', text: t('dashComplex') })] : []),
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
        const text = t('dashStepDone', { step: stepName(s.step), time: fmtTime(s.at) }) + (s.by ? t('dashStepBy', { by: s.by }) : '');
        return h('li', { text: s.note ? t('dashStepNote', { step: text, note: s.note }) : text });
      }),
    );
    li.querySelector('.dis-note-label span')!.textContent = t('dashNote');
    const done = new Set(item.handling.map((s) => s.step));
    li.querySelectorAll<HTMLButtonElement>('button[data-step]').forEach((b) => {
      const step = b.dataset['step']!;
      b.textContent = stepName(step);
      // Calling back may take several tries; acknowledging and resolving happen once.
      b.disabled = item.resolved || this.busy.has(e.id) || (step === 'acknowledged' && done.has(step));
    });
    (li.querySelector('.dis-actions') as HTMLElement).hidden = item.resolved;
  }

  private async record(li: HTMLLIElement, step: string): Promise<void> {
    if (!isStepName(step)) return;
    const id = li.dataset['id']!;
    const note = li.querySelector<HTMLInputElement>('.dis-note')!;
    const msg = li.querySelector('.dis-msg')!;
    const by = this.ctx.handler();
    this.busy.add(id);
    li.querySelectorAll<HTMLButtonElement>('button[data-step]').forEach((b) => (b.disabled = true));
    msg.classList.remove('error');
    try {
      const body: HandlingRequest = { step, ...(by ? { by } : {}), ...(note.value.trim() ? { note: note.value.trim() } : {}) };
      const answer = await api<HandlingAnswer>('POST', `/api/evaluations/${encodeURIComponent(id)}/handling`, body);
      const item = this.items.get(id);
      if (item) {
        item.handling.push({ step, at: answer.at, by: by || null, note: body.note ?? null });
        item.resolved ||= step === 'resolved';
      }
      note.value = '';
      msg.textContent = t('dashStepSaved', { step: stepName(step) });
    } catch (error) {
      msg.textContent = messageOf(error);
      msg.classList.add('error');
    }
    this.busy.delete(id);
    this.draw();
  }
}

function dueText(item: Dissatisfied): { text: string; state: 'resolved' | 'open' | 'soon' | 'overdue' } {
  if (item.resolved) return { text: t('dashResolved'), state: 'resolved' };
  if (item.dueAt === null) return { text: t('dashDuePending'), state: 'open' };
  const left = Date.parse(item.dueAt) - Date.now();
  const at = t('dashDueAt', { time: endOfDay(item.dueAt) });
  if (left <= 0) return { text: `${t('dashOverdue', { time: fmtDuration(-left) })} · ${at}`, state: 'overdue' };
  if (left < DAY) return { text: `${t('dashDueSoon', { time: fmtDuration(left) })} · ${at}`, state: 'soon' };
  return { text: `${t('dashTimeLeft', { time: fmtDuration(left) })} · ${at}`, state: 'open' };
}

/** A deadline at midnight reads as the end of the day before: `11/24 24:00`, not `11/25 00:00`. */
function endOfDay(iso: string): string {
  const ms = Date.parse(iso);
  return fmtTime(iso, false) === '00:00' ? fmtTime(new Date(ms - 60_000).toISOString()).replace('23:59', '24:00') : fmtTime(iso);
}

/** Open ones first, the most urgent (and the just-heard) on top; resolved ones last, newest first. */
function sortKey(item: Dissatisfied): number {
  if (item.resolved) return 1e15 - Date.parse(item.evaluation.receivedAt) / 1e3;
  return item.dueAt === null ? 0 : Date.parse(item.dueAt);
}

/** A row's fixed parts, made once. */
function newRow(id: string): HTMLLIElement {
  const note = h('input', { class: 'dis-note', attrs: { type: 'text', maxlength: '500', autocomplete: 'off' } });
  return h(
    'li',
    { class: 'dis', attrs: { 'data-id': id } },
    h('div', { class: 'dis-head' }),
    h('p', { class: 'dis-due' }),
    h('dl', { class: 'dis-detail' }),
    h('ol', { class: 'dis-steps' }),
    h('div', { class: 'dis-actions' }, h('label', { class: 'dis-note-label' }, h('span', {}), note), ...HANDLING_STEPS.map((step) => h('button', { attrs: { type: 'button', 'data-step': step } }))),
    h('p', { class: 'dis-msg', attrs: { role: 'status' } }),
  );
}
