/// <reference lib="dom" />
/**
 * The technician page (issue 6 "Technician pages", served at /tech) behind the admin token:
 * devices paired and pending, pairing to a window (a tablet's token shown once, as a QR code
 * of the tablet page's address and as text), unpairing, an evaluator's settings, the
 * self-test, sync state with catch-up progress, and the audit log. Polls every 5 s.
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
const SETTINGS_KEY = 'hcp.tech.settings';
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

function drawDevices(): void {
  const focused = document.activeElement?.id ?? '';
  const pending = devices.filter((d) => !d.paired);
  const paired = devices.filter((d) => d.paired);
  const pendingRows = pending.map((d) =>
    h('tr', { attrs: { 'data-device': d.deviceId, 'data-kind': d.kind } },
      h('th', { text: d.deviceId, attrs: { scope: 'row' } }), cell(kindName(d)), cell(statusText(d), d.online && !d.conflict ? '' : 'warn'), cell(fmtTime(d.lastSeenAt)), cell(firmware(d)),
      h('td', {}, h('div', { class: 'row' }, windowSelect(`pair-window-${d.deviceId}`, chosen.get(d.deviceId) ?? ''), button('techPair', 'pair', d.deviceId, true)))),
  );
  const pendingTable = table('pending-devices', ['techColDevice', 'techColKind', 'techColStatus', 'techColSeen', 'techColFirmware', 'techColWindow'], []);
  pendingTable.tBodies[0]!.append(...pendingRows);
  byId('pending-box').replaceChildren(pending.length ? pendingTable : h('p', { text: t('techNoPending') }));
  const pairedRows = paired.map((d) => {
    const asking = confirming?.id === d.deviceId && confirming.until > Date.now();
    const unpair = button(asking ? 'techUnpairConfirm' : 'techUnpair', 'unpair', d.deviceId);
    if (asking) unpair.classList.add('danger');
    const actions = d.kind === 'evaluator' ? [button('techSettings', 'settings', d.deviceId), button('techSelfTest', 'self-test', d.deviceId)] : [];
    return h('tr', { attrs: { 'data-device': d.deviceId, 'data-kind': d.kind } },
      h('th', { text: d.deviceId, attrs: { scope: 'row' } }), cell(kindName(d)), cell(windowName(d.windowId)), cell(statusText(d), d.online && !d.conflict ? '' : 'warn'),
      cell(d.queued === null ? '—' : String(d.queued), 'num'), cell(String(d.linkErrors), d.linkErrors ? 'num warn' : 'num'), cell(fmtTime(d.lastSeenAt)), cell(firmware(d)),
      h('td', {}, h('div', { class: 'row' }, ...actions, unpair)));
  });
  const pairedTable = table('paired-devices', ['techColDevice', 'techColKind', 'techColWindow', 'techColStatus', 'techColQueue', 'techColErrors', 'techColSeen', 'techColFirmware', 'techColActions'], []);
  pairedTable.tBodies[0]!.append(...pairedRows);
  byId('paired-box').replaceChildren(paired.length ? pairedTable : h('p', { text: t('techNoPaired') }));
  const tabletWindow = byId<HTMLSelectElement>('tablet-window');
  byId('tablet-window-box').replaceChildren(windowSelect('tablet-window', tabletWindow.value));
  if (focused) document.getElementById(focused)?.focus();
}

function drawSync(): void {
  if (!sync) return;
  const s = sync;
  peakBacklog = s.progress.backlog === 0 ? 0 : Math.max(peakBacklog, s.progress.backlog);
  const items: [Key, string, boolean?][] = [
    ['techPlatform', s.platform ? `${s.platform} — ${t(s.platformConnected ? 'staffPlatformConnected' : 'staffPlatformDown')}` : t('staffNone'), !!s.platform && !s.platformConnected],
    ['techStatePending', String(s.backlog.pending)],
    ['techStateSent', String(s.backlog.sent)],
    ['techStateConfirmed', String(s.backlog.confirmed)],
    ['techStateRejected', String(s.backlog.rejected), s.backlog.rejected > 0],
    ['techStateLocal', String(s.backlog.notSynced)],
    ['techOldest', s.oldestUnsyncedAt ? fmtTime(s.oldestUnsyncedAt) : t('staffNone')],
    ['techLastPuback', fmtTime(s.lastPubackAt)],
    ['techLastReceipt', fmtTime(s.lastReceiptAt)],
  ];
  if (s.refusal) items.push(['techRefusal', s.refusal, true]);
  if (s.config.error) items.push(['techConfig', t('techConfigError', { error: s.config.error }), true]);
  else if (s.config.version !== null) items.push(['techConfig', String(s.config.version)]);
  const list = h('dl', { class: 'facts', attrs: { id: 'sync-facts' } }, ...items.map(([k, v, bad]) => h('div', {}, h('dt', { text: t(k) }), h('dd', { text: v, ...(bad ? { class: 'warn' } : {}) }))));
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
  const state = JSON.stringify([devices, confirming?.id ?? '']);
  if (force || state !== drawn) drawDevices();
  drawn = state;
  drawSync();
  drawAudit();
}

async function load(): Promise<void> {
  try {
    const [d, s, a] = await Promise.all([api<DeviceList>('GET', '/api/devices'), api<SyncSummary>('GET', '/api/sync'), api<AuditList>('GET', '/api/audit')]);
    devices = d.devices;
    sync = s;
    audit = a.audit;
    byId('error').textContent = '';
    draw();
  } catch (error) {
    byId('error').textContent = messageOf(error);
  }
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
  try {
    const answer = await api<SelfTestAnswer>('POST', `/api/devices/${encodeURIComponent(deviceId)}/self-test`);
    say(t(answer.delivered ? 'techSelfTestSent' : 'techSelfTestOffline', { id: deviceId }), !answer.delivered);
  } catch (error) {
    say(messageOf(error), true);
  }
  await load();
}

// ---- settings ----
function savedSettings(): Record<string, Settings> {
  try {
    return JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}') as Record<string, Settings>;
  } catch {
    return {};
  }
}

function openSettings(deviceId: string): void {
  settingsFor = deviceId;
  const s: Settings = savedSettings()[deviceId] ?? { ...DEFAULT_SETTINGS };
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
    localStorage.setItem(SETTINGS_KEY, JSON.stringify({ ...savedSettings(), [settingsFor]: settings }));
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
    draw(true);
    void load();
    timer = window.setInterval(() => void load(), POLL_MS);
  },
  stop() {
    window.clearInterval(timer);
    timer = undefined;
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
