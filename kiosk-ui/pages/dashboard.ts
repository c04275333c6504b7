/// <reference lib="dom" />
/**
 * The supervisor's dashboard (issue 6 "Hall dashboard"): today or a chosen range per window
 * and per clerk, a chart of ratings over time, the live list of 差评 with the time left to
 * handle each and buttons for the handling steps, and device and sync health. Live over the
 * hub's broker (`hall/{hallId}/dashboard/#`, user `dashboard`, password the admin token), with
 * a 10 s poll as the fallback. New 差评 never move the cards under the supervisor's pointer (see
 * `hold`). This month's most frequent reasons and matters of 差评 (普遍性差评) beside them.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import {
  DEFAULT_REASONS,
  hallTopics,
  isDissatisfied,
  parseHallTopic,
  type DashboardPayload,
  type DeviceList,
  type DeviceListItem,
  type HallInfo,
  type PublicConfig,
  type StatGroup,
  type StatRow,
  type StatsAnswer,
  type Suggestion,
  type SuggestionList,
  type SyncSummary,
} from '../../protocol/index.js';
import { renderChart } from './dashboard-chart.js';
import { DissatisfiedList } from './dashboard-dissatisfied.js';
import { lang, t, type Key } from './i18n.js';
import { adminToken, api, byId, cstDay, fmtTime, h, levelWord, messageOf, runStaffPage, syncWords, table } from './staff-common.js';

type MqttGlobal = { connect(url: string, options: IClientOptions): MqttClient };

const DAY = 86_400_000;
const POLL_MS = 10_000;
const HANDLER_KEY = 'hcp.dash.by';

let hall: HallInfo | undefined;
let range = { today: true, from: 0, to: 0 };
let stats: { window: StatRow[]; staff: StatRow[]; hour: StatRow[] } = { window: [], staff: [], hour: [] };
let devices: DeviceListItem[] | undefined;
let sync: SyncSummary | undefined;
let suggestions: Suggestion[] = [];
const reasonNames = new Map<string, { zh: string; en: string }>(DEFAULT_REASONS.map((r) => [r.code, r]));
let common: { reasons: StatRow[]; matters: StatRow[]; month: string } | undefined;
let client: MqttClient | undefined;
let timers: number[] = [];
const pending = new Map<string, number>();
let live = false;

function showError(error: unknown): void {
  byId('error').textContent = error === null ? '' : messageOf(error);
}

/** Runs `fn` once, `ms` from the first request (requests in between are merged). */
function soon(name: string, ms: number, fn: () => Promise<void>): void {
  if (pending.has(name)) return;
  pending.set(name, window.setTimeout(() => {
    pending.delete(name);
    fn().then(() => showError(null), showError);
  }, ms));
}

// ---- range and statistics ----
function todayRange(): typeof range {
  const from = Date.parse(`${cstDay(Date.now())}T00:00:00+08:00`);
  return { today: true, from, to: from + DAY };
}

async function loadStats(): Promise<void> {
  if (range.today) range = todayRange();
  const q = `from=${new Date(range.from).toISOString()}&to=${new Date(range.to).toISOString()}`;
  const get = (by: StatGroup) => api<StatsAnswer>('GET', `/api/stats?by=${by}&${q}`).then((r) => r.groups);
  const [w, s, hr] = await Promise.all([get('window'), get('staff'), get('hour')]);
  stats = { window: w, staff: s, hour: hr };
  drawStats();
}

const pct = (rate: number | null) => (rate === null ? t('dashNoRate') : `${(rate * 100).toFixed(1)}%`);

function statCells(name: string, row: Pick<StatRow, 'levels' | 'rated' | 'satisfactionRate' | 'notEvaluated'>): string[] {
  return [name, ...(['5', '4', '3', '2', '1'] as const).map((l) => String(row.levels[l])), String(row.rated), pct(row.satisfactionRate), String(row.notEvaluated)];
}

const STAT_HEADS: Key[] = ['staffLevel5', 'staffLevel4', 'staffLevel3', 'staffLevel2', 'staffLevel1', 'dashRated', 'dashRate', 'dashNotEvaluated'];

function drawStats(): void {
  const total = { levels: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 }, rated: 0, notEvaluated: 0, dissatisfied: 0, satisfactionRate: null as number | null };
  for (const row of stats.window) {
    for (const l of ['1', '2', '3', '4', '5'] as const) total.levels[l] += row.levels[l];
    total.rated += row.rated;
    total.notEvaluated += row.notEvaluated;
    total.dissatisfied += row.dissatisfied;
  }
  total.satisfactionRate = total.rated ? (total.rated - total.dissatisfied) / total.rated : null;
  const cards: [Key, string, string][] = [
    ['dashRated', String(total.rated), 'rated'],
    ['dashRate', pct(total.satisfactionRate), 'rate'],
    ['dashDissatisfiedCount', String(total.dissatisfied), 'dissatisfied'],
    ['dashNotEvaluated', String(total.notEvaluated), 'not-evaluated'],
  ];
  byId('summary').replaceChildren(...cards.map(([k, v, id]) => h('div', { class: 'card', attrs: { 'data-stat': id } }, h('span', { class: 'card-label', text: t(k) }), h('strong', { class: 'card-value', text: v }))));
  const byWindow = stats.window.map((r) => statCells(windowName(r.key), r));
  if (byWindow.length) byWindow.push(statCells(t('dashTotal'), total));
  byId('stats-window-box').replaceChildren(byWindow.length ? table('stats-window', ['dashColWindow', ...STAT_HEADS], byWindow) : h('p', { text: t('dashNoData') }));
  const byStaff = stats.staff.map((r) => statCells(r.key ? (r.name ? t('staffParens', { a: r.name, b: r.key }) : r.key) : t('dashNoStaff'), r));
  byId('stats-staff-box').replaceChildren(byStaff.length ? table('stats-staff', ['dashColStaff', ...STAT_HEADS], byStaff) : h('p', { text: t('dashNoData') }));
  renderChart(byId('chart'), byId('chart-legend'), byId('chart-caption'), stats.hour, range.from, range.to);
  const last = cstDay(range.to - 1);
  byId('range-label').textContent = range.today ? t('dashRangeToday', { day: last }) : t('dashRangeDays', { from: cstDay(range.from), to: last });
}

function applyRange(kind: 'today' | 'week' | 'custom'): void {
  const from = byId<HTMLInputElement>('range-from');
  const to = byId<HTMLInputElement>('range-to');
  const error = byId('range-error');
  error.textContent = '';
  if (kind === 'today') range = todayRange();
  else if (kind === 'week') range = { today: false, from: todayRange().from - 6 * DAY, to: todayRange().to };
  else {
    const a = Date.parse(`${from.value}T00:00:00+08:00`);
    const b = Date.parse(`${to.value}T00:00:00+08:00`);
    if (Number.isNaN(a) || Number.isNaN(b) || b < a) {
      error.textContent = t('dashRangeInvalid');
      return;
    }
    range = { today: false, from: a, to: b + DAY };
  }
  from.value = cstDay(range.from);
  to.value = cstDay(range.to - 1);
  loadStats().then(() => showError(null), showError);
}

// ---- 差评 ----
function reasonName(code: string): string {
  const r = reasonNames.get(code);
  return r ? (lang() === 'en' ? r.en : r.zh) : code;
}

function windowName(id: string | null | undefined): string {
  return id ? (hall?.windows.find((w) => w.id === id)?.name ?? id) : t('dashNoWindow');
}

const dissatisfiedList = byId<HTMLUListElement>('dissatisfied-list');
const dissatisfied = new DissatisfiedList(dissatisfiedList, byId('dissatisfied-empty'), {
  windowName,
  reasonName,
  handler: () => byId<HTMLInputElement>('handler-name').value.trim(),
});

/**
 * While the pointer is over the 差评 list or the focus is in it (a supervisor reading a card,
 * about to press a step, typing a note), nothing is inserted, reordered or reloaded there: new
 * 差评 are held and counted in a notice that is always laid out (so showing it moves nothing
 * either). They go in when the pointer and the focus leave the list, or when the notice is pressed.
 */
const hold = { pointer: false, focus: false, heard: new Map<string, DashboardPayload['evaluation']>(), reload: false };
const holding = () => hold.pointer || hold.focus;

function drawHeld(): void {
  const notice = byId<HTMLButtonElement>('dis-held');
  const on = holding() && (hold.heard.size > 0 || hold.reload);
  notice.textContent = hold.heard.size ? t('dashHeldNew', { n: hold.heard.size }) : t('dashHeldUpdate');
  notice.classList.toggle('on', on);
  notice.setAttribute('aria-hidden', String(!on));
  notice.tabIndex = on ? 0 : -1;
}

function heardDissatisfied(e: DashboardPayload['evaluation']): void {
  if (holding()) {
    hold.heard.set(e.id, e);
    hold.reload = true;
    drawHeld();
    return;
  }
  dissatisfied.heard(e);
  soon('dissatisfied', 200, loadDissatisfied);
}

async function loadDissatisfied(): Promise<void> {
  if (holding()) {
    hold.reload = true;
    drawHeld();
    return;
  }
  await dissatisfied.load();
}

/** Puts in what was held. */
function release(): void {
  hold.pointer = false;
  hold.focus = false;
  const heard = [...hold.heard.values()];
  const reload = hold.reload;
  hold.heard.clear();
  hold.reload = false;
  drawHeld();
  for (const e of heard) dissatisfied.heard(e);
  if (reload) loadDissatisfied().then(() => showError(null), showError);
}

dissatisfiedList.addEventListener('pointerenter', () => {
  hold.pointer = true;
});
dissatisfiedList.addEventListener('pointerleave', () => {
  hold.pointer = false;
  if (!hold.focus) release();
});
dissatisfiedList.addEventListener('focusin', () => {
  hold.focus = true;
});
dissatisfiedList.addEventListener('focusout', (event) => {
  if (dissatisfiedList.contains(event.relatedTarget as Node | null)) return;
  hold.focus = false;
  if (!hold.pointer) release();
});
byId('dis-held').addEventListener('click', release);

// ---- 普遍性差评: this month's top reasons and matters of 差评 ----
const TOP = 5;

async function loadCommon(): Promise<void> {
  const now = Date.now();
  const month = cstDay(now).slice(0, 7);
  const q = `from=${new Date(Date.parse(`${month}-01T00:00:00+08:00`)).toISOString()}&to=${new Date(todayRange().to).toISOString()}`;
  const top = (rows: StatRow[]) => rows.filter((r) => r.key !== null && r.dissatisfied > 0).sort((a, b) => b.dissatisfied - a.dissatisfied || String(a.key).localeCompare(String(b.key))).slice(0, TOP);
  const [reasons, matters] = await Promise.all([api<StatsAnswer>('GET', `/api/stats?by=reason&${q}`), api<StatsAnswer>('GET', `/api/stats?by=matter&${q}`)]);
  common = { reasons: top(reasons.groups), matters: top(matters.groups), month };
  drawCommon();
}

function drawCommon(): void {
  if (!common) return;
  byId('common-caption').textContent = t('dashCommonCaption', { month: common.month });
  const list = (id: string, rows: StatRow[], name: (r: StatRow) => string) => {
    const max = Math.max(1, ...rows.map((r) => r.dissatisfied));
    const items = rows.map((r) => {
      const bar = h('span', { class: 'top-bar', attrs: { 'aria-hidden': 'true' } });
      bar.style.width = `${Math.max(4, (r.dissatisfied / max) * 100)}%`;
      return h('li', { attrs: { 'data-key': r.key ?? '' } }, h('span', { class: 'top-name', text: name(r) }), bar, h('span', { class: 'top-n', text: t('dashTopCount', { n: r.dissatisfied }) }));
    });
    byId(id).replaceChildren(...(items.length ? items : [h('li', { class: 'top-none', text: t('dashTopNone') })]));
  };
  list('top-reasons', common.reasons, (r) => reasonName(r.key!));
  list('top-matters', common.matters, (r) => r.name || r.key || t('dashNoMatter'));
}

// ---- devices, sync, suggestions ----
async function loadHealth(): Promise<void> {
  const [d, s, g] = await Promise.all([
    api<DeviceList>('GET', '/api/devices'),
    api<SyncSummary>('GET', '/api/sync'),
    api<SuggestionList>('GET', '/api/suggestions'),
  ]);
  devices = d.devices;
  sync = s;
  suggestions = g.suggestions.slice(0, 10);
  drawHealth();
}

function drawHealth(): void {
  const box = byId('device-health');
  if (devices) {
    const lines: HTMLElement[] = [];
    for (const [kind, key] of [['evaluator', 'staffEvaluator'], ['tablet', 'staffTablet']] as const) {
      const paired = devices.filter((d) => d.kind === kind && d.paired);
      if (paired.length) lines.push(h('p', { text: t('dashDevicesOnline', { kind: t(key), online: paired.filter((d) => d.online).length, total: paired.length }) }));
    }
    const offline = devices.filter((d) => d.paired && !d.online);
    if (offline.length) lines.push(h('p', { class: 'warn', text: t('dashDevicesOffline', { list: offline.map((d) => t('staffParens', { a: d.deviceId, b: windowName(d.windowId) })).join(t('staffListSep')) }) }));
    const waiting = devices.filter((d) => !d.paired).length;
    if (waiting) lines.push(h('p', { text: t('dashDevicesPending', { n: waiting }) }));
    box.replaceChildren(...lines);
  }
  if (sync) {
    const link = sync.platform ? [h('p', { class: sync.platformConnected ? '' : 'warn', text: t(sync.platformConnected ? 'staffPlatformConnected' : 'staffPlatformDown') })] : [];
    byId('sync-health').replaceChildren(...link, h('p', { attrs: { id: 'sync-words' }, text: syncWords(sync) }));
  }
  byId('suggestions').replaceChildren(...suggestions.map((s) => h('li', {}, h('span', { class: 'muted', text: `${fmtTime(s.at)} ${s.tabletId}` }), h('span', { text: s.text }))));
  byId('suggestions-empty').hidden = suggestions.length > 0;
  byId('updated').textContent = t('staffUpdated', { time: fmtTime(new Date().toISOString(), false) });
}

// ---- live ----
function setLive(on: boolean): void {
  live = on;
  const el = byId('live');
  el.textContent = t(on ? 'dashLiveOn' : 'dashLiveOff');
  el.className = on ? 'live' : 'live warn';
}

function onMessage(topic: string, payload: Uint8Array): void {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return;
  }
  const where = parseHallTopic(topic);
  if (where?.kind === 'public' && where.leaf === 'config') {
    for (const r of (value as Partial<PublicConfig>).reasons ?? []) reasonNames.set(r.code, r);
    if (!holding()) dissatisfied.draw();
    drawCommon();
  } else if (where?.kind === 'dashboard') {
    const leaf = where.leaf;
    switch (leaf) {
      case 'evaluation': {
        const e = value as DashboardPayload['evaluation'];
        if (isDissatisfied(e.level)) {
          heardDissatisfied(e);
          byId('announce').textContent = t('dashNewAnnounce', { window: windowName(e.windowId), level: levelWord(e.level) });
          soon('common', 1000, loadCommon);
        }
        soon('stats', 500, loadStats);
        break;
      }
      case 'handling':
        soon('dissatisfied', 200, loadDissatisfied);
        break;
      case 'suggestion':
        suggestions = [value as DashboardPayload['suggestion'], ...suggestions].slice(0, 10);
        drawHealth();
        break;
      default:
        leaf satisfies never;
    }
  }
}

function connectLive(hallId: string): void {
  const mqtt = (globalThis as { mqtt?: MqttGlobal }).mqtt;
  setLive(false);
  if (!mqtt) return;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mqtt`;
  const c = mqtt.connect(url, { username: 'dashboard', password: adminToken(), clientId: `dashboard-${Math.random().toString(36).slice(2, 10)}`, protocolVersion: 4, clean: true, reconnectPeriod: 3000, connectTimeout: 10_000 });
  client = c;
  c.on('connect', () => {
    c.subscribe([hallTopics.dashboardFilter(hallId), hallTopics.publicConfig(hallId)], { qos: 1 }, (error) => {
      if (error) return;
      setLive(true);
      void refreshAll(); // anything missed while the link was down
    });
  });
  c.on('close', () => setLive(false));
  c.on('error', () => setLive(false));
  c.on('message', (topic, payload) => onMessage(topic, payload));
}

async function refreshAll(): Promise<void> {
  const results = await Promise.allSettled([loadStats(), loadDissatisfied(), loadHealth(), loadCommon()]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  showError(failed ? failed.reason : null);
}

runStaffPage({
  start(info) {
    hall = info;
    byId('hall-name').textContent = info.hallName;
    document.title = `${info.hallName} ${t('dashTitle')}`;
    const by = byId<HTMLInputElement>('handler-name');
    by.value = localStorage.getItem(HANDLER_KEY) ?? '';
    range = todayRange();
    byId<HTMLInputElement>('range-from').value = cstDay(range.from);
    byId<HTMLInputElement>('range-to').value = cstDay(range.to - 1);
    void refreshAll();
    connectLive(info.hallId);
    timers = [window.setInterval(() => void refreshAll(), POLL_MS), window.setInterval(() => holding() || dissatisfied.draw(), 30_000)];
  },
  stop() {
    for (const id of timers) clearInterval(id);
    for (const id of pending.values()) clearTimeout(id);
    timers = [];
    pending.clear();
    client?.end(true);
    client = undefined;
    hold.heard.clear();
    hold.reload = false;
    drawHeld();
    dissatisfied.clear();
  },
  redraw() {
    if (!hall) return;
    document.title = `${hall.hallName} ${t('dashTitle')}`;
    setLive(live);
    drawStats();
    dissatisfied.draw();
    drawHealth();
    drawCommon();
    drawHeld();
  },
});

byId('range-today').addEventListener('click', () => applyRange('today'));
byId('range-week').addEventListener('click', () => applyRange('week'));
byId<HTMLFormElement>('range-form').addEventListener('submit', (event) => {
  event.preventDefault();
  applyRange('custom');
});
byId('handler-name').addEventListener('change', (event) => localStorage.setItem(HANDLER_KEY, (event.target as HTMLInputElement).value.trim()));
