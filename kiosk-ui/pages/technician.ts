/// <reference lib="dom" />
/**
 * The technician page (issue 6 "Technician pages", served at /tech) behind the admin token:
 * devices paired and pending, pairing to a window (a tablet's token shown once, as a QR code
 * of the tablet page's address and as text), unpairing, an evaluator's settings (as the hub
 * keeps them), the self-test and its result per part, sync state with catch-up progress, and
 * the audit log. Polls every 5 s; every second while a self-test awaits its result or the
 * backlog drains, so neither shows as one late jump.
 */
import QRCode from 'qrcode';
import {
  DEFAULT_SETTINGS,
  DEVICE_STATE_CODES,
  SETTINGS_RANGES,
  SettingsFlag,
  type AuditList,
  type AuditRow,
  type DeviceList,
  type DeviceListItem,
  type DeviceStateName,
  type HallInfo,
  type PairAnswer,
  type PairRequest,
  type SelfTestAnswer,
  type Settings,
  type SettingsAnswer,
  type SyncSummary,
  type UnpairAnswer,
} from '../../protocol/index.js';
import { t, type Key } from './i18n.js';
import { api, byId, fmtTime, h, messageOf, runStaffPage, syncWords, table } from './staff-common.js';

const POLL_MS = 5000;
/** While something moves (a self-test runs, the backlog drains), ms. */
const FAST_POLL_MS = 1000;
/** A self-test takes about a second on the device; no result after this is said so, ms. */
const SELF_TEST_WAIT_MS = 20_000;
/** Where an earlier version of this page kept the settings it had sent (the hub keeps them now). */
const OLD_SETTINGS_KEY = 'hcp.tech.settings';
const ACTIONS: Record<string, Key> = {
  pair: 'techActionPair',
  unpair: 'techActionUnpair',
  settings: 'techActionSettings',
  'self-test': 'techActionSelfTest',
  handling: 'techActionHandling',
  staff: 'techActionStaff',
};
const FIELDS = ['promptTimeoutS', 'thanksS', 'volume', 'brightness'] as const;

let hall: HallInfo | undefined;
let devices: DeviceListItem[] = [];
let sync: SyncSummary | undefined;
let audit: AuditRow[] = [];
let drawn = '';
/** The largest backlog seen since the page opened: the 100% of the catch-up bar. */
let peakBacklog = 0;
let timer: number | undefined;
/** Polls started: only the latest schedules the next. */
let polls = 0;
let running = false;
/** Self-tests asked for and not answered yet: the result seen before asking, and until when to wait. */
const selfTesting = new Map<string, { before: string | null; until: number }>();
/** The backlog is going down now (a stuck one, connected but unconfirmed, is not polled fast). */
let draining = false;
/** Windows chosen in the pending table, kept across redraws. */
const chosen = new Map<string, string>();
let confirming: { id: string; until: number } | undefined;
let settingsFor = '';

function say(text: string, isError = false): void {
  const el = byId('devices-msg');
  el.textContent = text;
  el.className = isError ? 'error' : 'notice';
}

function windowName(id: string | null): string {
  return id ? (hall?.windows.find((w) => w.id === id)?.name ?? id) : '—';
}

function windowSelect(id: string, value: string): HTMLSelectElement {
  const select = h('select', { attrs: { id, 'aria-label': t('techChooseWindow') } }, h('option', { text: t('techChooseWindow'), attrs: { value: '' } }));
  for (const w of hall?.windows ?? []) select.append(h('option', { text: w.name, attrs: { value: w.id } }));
  select.value = value;
  return select;
}

function button(key: Key, action: string, deviceId: string, primary = false): HTMLButtonElement {
  return h('button', { text: t(key), class: primary ? 'primary' : '', attrs: { type: 'button', 'data-action': action, 'data-device': deviceId } });
}

const kindName = (d: DeviceListItem) => t(d.kind === 'tablet' ? 'staffTablet' : 'staffEvaluator');
const STATES: Record<DeviceStateName, Key> = {
  boot: 'techDevBoot',
  idle: 'techDevIdle',
  prompt: 'techDevPrompt',
  thanks: 'techDevThanks',
  paused: 'techDevPaused',
  config: 'techDevConfig',
  fault: 'techDevFault',
  'signed-out': 'techDevSignedOut',
};
const isStateName = (state: string): state is DeviceStateName => Object.hasOwn(DEVICE_STATE_CODES, state);
const stateWord = (state: string | null) => (state === null ? '' : isStateName(state) ? t(STATES[state]) : state);
const statusText = (d: DeviceListItem) =>
  d.conflict ? t('techDevConflict').replace('{port}', d.conflict) : [t(d.online ? 'staffOnline' : 'staffOffline'), stateWord(d.state)].filter(Boolean).join(' · ');
const firmware = (d: DeviceListItem) => [d.model, d.fwVersion].filter(Boolean).join(' / ') || '—';

function cell(text: string, cls = ''): HTMLTableCellElement {
  return h('td', { text, class: cls });
}

/** A time as words, with the instant in `datetime` (screen readers and tests read it). */
function timeCell(iso: string | null): HTMLTableCellElement {
  return h('td', { class: 'when' }, iso ? h('time', { text: fmtTime(iso), attrs: { datetime: iso } }) : t('staffNever'));
}

const PARTS: Record<string, Key> = { status: 'techPartStatus', buzzer: 'techPartBuzzer' };
/** A self-test part by name: `led3` is LED 3, `bit9` a bit this page does not know. */
function partName(part: string): string {
  const led = /^led([1-9])$/.exec(part);
  if (led) return t('techPartLed', { n: led[1]! });
  const bit = /^bit(\d+)$/.exec(part);
  if (bit) return t('techPartUnknown', { n: bit[1]! });
  return PARTS[part] ? t(PARTS[part]!) : part;
}

/** The latest self-test of an evaluator: passed, or which parts failed; or that one is under way. */
function selfTestCell(d: DeviceListItem): HTMLTableCellElement {
  const waiting = selfTesting.get(d.deviceId);
  const result = d.selfTest;
  if (waiting) {
    const late = waiting.until < Date.now();
    return h('td', { class: late ? 'warn' : '', text: t(late ? 'techSelfTestNoAnswer' : 'techSelfTestRunning'), attrs: { 'data-self-test': late ? 'no-answer' : 'running' } });
  }
  if (d.kind !== 'evaluator') return h('td', { text: '—' });
  if (!result) return h('td', { text: t('techSelfTestNone'), attrs: { 'data-self-test': 'none' } });
  const words = result.failed.length === 0 ? t('techSelfTestPassed') : t('techSelfTestFailed', { parts: result.failed.map(partName).join(t('staffListSep')) });
  return h('td', { class: result.failed.length ? 'warn' : 'ok', attrs: { 'data-self-test': result.failed.length ? 'failed' : 'passed' } },
    h('span', {}, words, ' ', h('time', { class: 'muted', text: fmtTime(result.at), attrs: { datetime: result.at } })));
}

/** Labels each cell with its column's header, for the stacked layout of a narrow screen. */
function labelCells(tableEl: HTMLTableElement): void {
  const heads = [...tableEl.tHead!.rows[0]!.cells].map((c) => c.textContent ?? '');
  for (const row of tableEl.tBodies[0]!.rows) [...row.cells].forEach((c, i) => c.setAttribute('data-label', heads[i] ?? ''));
}

function drawDevices(): void {
  const focused = document.activeElement?.id ?? '';
  const pending = devices.filter((d) => !d.paired);
  const paired = devices.filter((d) => d.paired);
  const pendingRows = pending.map((d) =>
    h('tr', { attrs: { 'data-device': d.deviceId, 'data-kind': d.kind } },
      h('th', { text: d.deviceId, attrs: { scope: 'row' } }), cell(kindName(d)), cell(statusText(d), d.online && !d.conflict ? '' : 'warn'), timeCell(d.lastSeenAt), cell(firmware(d)),
      h('td', {}, h('div', { class: 'row' }, windowSelect(`pair-window-${d.deviceId}`, chosen.get(d.deviceId) ?? ''), button('techPair', 'pair', d.deviceId, true)))),
  );
  const pendingTable = table('pending-devices', ['techColDevice', 'techColKind', 'techColStatus', 'techColSeen', 'techColFirmware', 'techColWindow'], []);
  pendingTable.classList.add('devices');
  pendingTable.tBodies[0]!.append(...pendingRows);
  labelCells(pendingTable);
  byId('pending-box').replaceChildren(pending.length ? pendingTable : h('p', { text: t('techNoPending') }));
  const pairedRows = paired.map((d) => {
    const asking = confirming?.id === d.deviceId && confirming.until > Date.now();
    const unpair = button(asking ? 'techUnpairConfirm' : 'techUnpair', 'unpair', d.deviceId);
    if (asking) unpair.classList.add('danger');
    const actions = d.kind === 'evaluator' ? [button('techSettings', 'settings', d.deviceId), button('techSelfTest', 'self-test', d.deviceId)] : [];
    return h('tr', { attrs: { 'data-device': d.deviceId, 'data-kind': d.kind } },
      h('th', { text: d.deviceId, attrs: { scope: 'row' } }), cell(kindName(d)), cell(windowName(d.windowId)), cell(statusText(d), d.online && !d.conflict ? '' : 'warn'),
      cell(d.queued === null ? '—' : String(d.queued), 'num'), cell(String(d.linkErrors), d.linkErrors ? 'num warn' : 'num'), timeCell(d.lastSeenAt), cell(firmware(d)), selfTestCell(d),
      h('td', {}, h('div', { class: 'row' }, ...actions, unpair)));
  });
  const pairedTable = table('paired-devices', ['techColDevice', 'techColKind', 'techColWindow', 'techColStatus', 'techColQueue', 'techColErrors', 'techColSeen', 'techColFirmware', 'techColSelfTest', 'techColActions'], []);
  pairedTable.classList.add('devices');
  pairedTable.tBodies[0]!.append(...pairedRows);
  labelCells(pairedTable);
  byId('paired-box').replaceChildren(paired.length ? pairedTable : h('p', { text: t('techNoPaired') }));
  const tabletWindow = byId<HTMLSelectElement>('tablet-window');
  byId('tablet-window-box').replaceChildren(windowSelect('tablet-window', tabletWindow.value));
  if (focused) document.getElementById(focused)?.focus();
}

function drawSync(): void {
  if (!sync) return;
  const s = sync;
  peakBacklog = s.progress.backlog === 0 ? 0 : Math.max(peakBacklog, s.progress.backlog);
  // a time is a string|null here: shown as a <time>, or "never"
  const items: [Key, string | null, boolean?][] = [
    ['techPlatform', s.platform ? `${s.platform} — ${t(s.platformConnected ? 'staffPlatformConnected' : 'staffPlatformDown')}` : t('staffNone'), !!s.platform && !s.platformConnected],
    ['techStatePending', String(s.backlog.pending)],
    ['techStateSent', String(s.backlog.sent)],
    ['techStateConfirmed', String(s.backlog.confirmed)],
    ['techStateRejected', String(s.backlog.rejected), s.backlog.rejected > 0],
    ['techStateLocal', String(s.backlog.notSynced)],
    ['techOldest', s.oldestUnsyncedAt ? fmtTime(s.oldestUnsyncedAt) : t('staffNone')],
    ['techLastPuback', s.lastPubackAt],
    ['techLastReceipt', s.lastReceiptAt],
  ];
  if (s.refusal) items.push(['techRefusal', s.refusal, true]);
  if (s.config.error) items.push(['techConfig', t('techConfigError', { error: s.config.error }), true]);
  else if (s.config.version !== null) items.push(['techConfig', String(s.config.version)]);
  const times = new Set<Key>(['techLastPuback', 'techLastReceipt']);
  const value = (k: Key, v: string | null) => (times.has(k) && v ? h('time', { text: fmtTime(v), attrs: { datetime: v } }) : (v ?? t('staffNever')));
  const list = h('dl', { class: 'facts', attrs: { id: 'sync-facts' } },
    ...items.map(([k, v, bad]) => h('div', { attrs: { 'data-fact': k } }, h('dt', { text: t(k) }), h('dd', { ...(bad ? { class: 'warn' } : {}) }, value(k, v)))));
  const parts: HTMLElement[] = [h('p', { class: 'sync-words', attrs: { id: 'sync-words' }, text: syncWords(s) })];
  if (s.storageLow) parts.push(h('p', { class: 'warn', text: t('techStorageLow') }));
  if (s.platform && s.progress.backlog > 0) {
    const done = peakBacklog - s.progress.backlog;
    const bar = h('progress', { attrs: { id: 'sync-progress', max: String(peakBacklog), value: String(done), 'aria-labelledby': 'sync-progress-label' } });
    parts.push(h('p', { attrs: { id: 'sync-progress-label' }, text: t('techProgressOf', { done, total: peakBacklog }) }), bar);
  }
  byId('sync-state').replaceChildren(...parts, list);
}

function detailText(detail: unknown): string {
  if (detail === null || typeof detail !== 'object') return String(detail ?? '');
  return Object.entries(detail as Record<string, unknown>)
    .map(([k, v]) => `${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
    .join('  ');
}

function drawAudit(): void {
  const rows = audit.map((a) => [fmtTime(a.at), a.actor, ACTIONS[a.action] ? t(ACTIONS[a.action]!) : a.action, detailText(a.detail)]);
  byId('audit-box').replaceChildren(rows.length ? table('audit-table', ['techColTime', 'techColActor', 'techColAction', 'techColDetail'], rows, 99) : h('p', { text: t('techNoAudit') }));
}

function draw(force = false): void {
  const state = JSON.stringify([devices, confirming?.id ?? '', [...selfTesting].map(([id, w]) => [id, w.until < Date.now()])]);
  if (force || state !== drawn) drawDevices();
  drawn = state;
  drawSync();
  drawAudit();
}

async function load(): Promise<void> {
  try {
    const [d, s, a] = await Promise.all([api<DeviceList>('GET', '/api/devices'), api<SyncSummary>('GET', '/api/sync'), api<AuditList>('GET', '/api/audit')]);
    if (!running) return; // signed out meanwhile
    devices = d.devices;
    draining = s.platformConnected && s.progress.backlog > 0 && (s.progress.ratePerS > 0 || s.progress.backlog !== sync?.progress.backlog);
    sync = s;
    audit = a.audit;
    for (const [id, waiting] of selfTesting) {
      const device = devices.find((x) => x.deviceId === id);
      if (!device || (device.selfTest?.at ?? null) !== waiting.before) selfTesting.delete(id); // answered (or gone)
    }
    byId('error').textContent = '';
    draw();
  } catch (error) {
    byId('error').textContent = messageOf(error);
  }
}

/** Something is moving that a person watches: a self-test awaited, or the backlog draining. */
function moving(): boolean {
  return draining || [...selfTesting.values()].some((w) => w.until >= Date.now());
}

/** Loads now, then again in 5 s, or in 1 s while something moves; one chain of polls, however often called. */
function poll(): void {
  const chain = ++polls;
  window.clearTimeout(timer);
  void load().finally(() => {
    if (running && chain === polls) timer = window.setTimeout(poll, moving() ? FAST_POLL_MS : POLL_MS);
  });
}

// ---- pairing ----
async function pair(deviceId: string, windowId: string, kind?: 'tablet'): Promise<boolean> {
  if (!windowId) {
    say(t('techNeedWindow'), true);
    return false;
  }
  let ok = false;
  try {
    const body: PairRequest = { windowId, ...(kind ? { kind } : {}) };
    const answer = await api<PairAnswer>('POST', `/api/devices/${encodeURIComponent(deviceId)}/pair`, body);
    chosen.delete(deviceId);
    say(t('techPaired1', { id: deviceId, window: windowName(windowId) }));
    ok = true;
    if (answer.token) await showToken(deviceId, answer.token);
  } catch (error) {
    say(messageOf(error), true);
  }
  await load();
  return ok;
}

async function showToken(deviceId: string, token: string): Promise<void> {
  const url = `${location.origin}/tablet?tablet=${encodeURIComponent(deviceId)}&token=${encodeURIComponent(token)}`;
  byId('token-title').textContent = t('techTokenTitle', { id: deviceId });
  byId('token-qr').innerHTML = await QRCode.toString(url, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' });
  byId('token-qr').querySelector('svg')?.setAttribute('aria-label', url);
  byId('token-qr').querySelector('svg')?.setAttribute('role', 'img');
  byId('token-url').textContent = url;
  byId('token-id').textContent = deviceId;
  byId('token-text').textContent = token;
  byId<HTMLDialogElement>('token-dialog').showModal();
}

function closeToken(): void {
  // The token is shown once: nothing of it stays in the page after closing.
  for (const id of ['token-qr', 'token-url', 'token-text']) byId(id).replaceChildren();
  byId<HTMLDialogElement>('token-dialog').close();
}

async function unpair(deviceId: string): Promise<void> {
  if (confirming?.id !== deviceId || confirming.until < Date.now()) {
    confirming = { id: deviceId, until: Date.now() + 5000 };
    draw(true);
    document.querySelector<HTMLButtonElement>(`button[data-action="unpair"][data-device="${CSS.escape(deviceId)}"]`)?.focus();
    return;
  }
  confirming = undefined;
  try {
    await api<UnpairAnswer>('DELETE', `/api/devices/${encodeURIComponent(deviceId)}/pair`);
    say(t('techUnpaired', { id: deviceId }));
  } catch (error) {
    say(messageOf(error), true);
  }
  await load();
}

async function selfTest(deviceId: string): Promise<void> {
  const before = devices.find((d) => d.deviceId === deviceId)?.selfTest?.at ?? null;
  try {
    const answer = await api<SelfTestAnswer>('POST', `/api/devices/${encodeURIComponent(deviceId)}/self-test`);
    say(t(answer.delivered ? 'techSelfTestSent' : 'techSelfTestOffline', { id: deviceId }), !answer.delivered);
    // the result comes later, as the device's EVENT 4: watch for a newer one
    if (answer.delivered) selfTesting.set(deviceId, { before, until: Date.now() + SELF_TEST_WAIT_MS });
  } catch (error) {
    say(messageOf(error), true);
  }
  draw(true);
  poll();
}

// ---- settings ----
function openSettings(deviceId: string): void {
  settingsFor = deviceId;
  // what the hub keeps for this device (and sends it on every WELCOME); null: the factory settings
  const s: Settings = devices.find((d) => d.deviceId === deviceId)?.settings ?? { ...DEFAULT_SETTINGS };
  byId('settings-title').textContent = t('techSettingsTitle', { id: deviceId });
  for (const f of FIELDS) byId<HTMLInputElement>(`set-${f}`).value = String(s[f]);
  byId<HTMLSelectElement>('set-language').value = String(s.language);
  byId<HTMLInputElement>('set-unsolicited').checked = (s.flags & SettingsFlag.ACCEPT_UNSOLICITED) !== 0;
  byId<HTMLInputElement>('set-voice').checked = (s.flags & SettingsFlag.VOICE_PROMPTS) !== 0;
  byId('settings-error').textContent = '';
  byId<HTMLDialogElement>('settings-dialog').showModal();
}

async function saveSettings(): Promise<void> {
  const number = (id: string) => byId<HTMLInputElement>(id).valueAsNumber; // NaN when empty: the hub names the field
  const settings: Settings = {
    promptTimeoutS: number('set-promptTimeoutS'),
    thanksS: number('set-thanksS'),
    volume: number('set-volume'),
    brightness: number('set-brightness'),
    language: Number(byId<HTMLSelectElement>('set-language').value),
    flags: (byId<HTMLInputElement>('set-unsolicited').checked ? SettingsFlag.ACCEPT_UNSOLICITED : 0) | (byId<HTMLInputElement>('set-voice').checked ? SettingsFlag.VOICE_PROMPTS : 0),
  };
  const error = byId('settings-error');
  error.textContent = '';
  try {
    const answer = await api<SettingsAnswer>('PUT', `/api/devices/${encodeURIComponent(settingsFor)}/settings`, settings);
    byId<HTMLDialogElement>('settings-dialog').close();
    say(t(answer.delivered ? 'techSettingsSaved' : 'techSettingsQueued'));
    await load();
  } catch (e) {
    error.textContent = messageOf(e);
  }
}

function setRanges(): void {
  for (const f of FIELDS) {
    const input = byId<HTMLInputElement>(`set-${f}`);
    input.min = String(SETTINGS_RANGES[f][0]);
    input.max = String(SETTINGS_RANGES[f][1]);
  }
}

// ---- wiring ----
runStaffPage({
  start(info) {
    hall = info;
    byId('hall-name').textContent = info.hallName;
    running = true;
    draw(true);
    poll();
  },
  stop() {
    running = false;
    window.clearTimeout(timer);
    timer = undefined;
    selfTesting.clear();
    draining = false;
    for (const id of ['token-dialog', 'settings-dialog']) byId<HTMLDialogElement>(id).close();
    devices = [];
    audit = [];
    sync = undefined;
    drawn = '';
  },
  redraw() {
    if (hall) draw(true);
  },
});

setRanges();
localStorage.removeItem(OLD_SETTINGS_KEY);
byId('app').addEventListener('click', (event) => {
  const b = (event.target as Element).closest<HTMLButtonElement>('button[data-action][data-device]');
  if (!b) return;
  const id = b.dataset['device']!;
  switch (b.dataset['action']) {
    case 'pair':
      void pair(id, byId<HTMLSelectElement>(`pair-window-${id}`).value);
      break;
    case 'unpair':
      void unpair(id);
      break;
    case 'settings':
      openSettings(id);
      break;
    case 'self-test':
      void selfTest(id);
      break;
  }
});
byId('app').addEventListener('change', (event) => {
  const select = event.target as HTMLSelectElement;
  if (select.id.startsWith('pair-window-')) chosen.set(select.id.slice('pair-window-'.length), select.value);
});
byId<HTMLFormElement>('tablet-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const id = byId<HTMLInputElement>('tablet-id');
  if (!id.reportValidity()) return;
  void pair(id.value.trim(), byId<HTMLSelectElement>('tablet-window').value, 'tablet').then((ok) => {
    if (ok) id.value = '';
  });
});
byId('token-close').addEventListener('click', closeToken);
byId<HTMLDialogElement>('token-dialog').addEventListener('cancel', closeToken);
byId<HTMLFormElement>('settings-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void saveSettings();
});
byId('settings-close').addEventListener('click', () => byId<HTMLDialogElement>('settings-dialog').close());
