/// <reference lib="dom" />
/**
 * The citizen's evaluation page on the hall tablet (DESIGN "Hall tablet", PROTOCOL 2). It
 * talks MQTT over WebSocket to the hub, keeps every rating in localStorage until the hub's
 * ack says it is committed, and resends after any outage: nothing a citizen entered is lost.
 */
// the modules, not protocol/index.js: the page needs none of the frame codec's tables at start
import { MAX_COMMENT_CHARS, MOBILE_PHONE } from '../../protocol/constants.js';
import { hallTopics, parseHallTopic } from '../../protocol/topics.js';
import type { Health, PublicConfig, Reason, TabletAck, TabletEvaluation, TabletSession, TabletSuggestion } from '../../protocol/index.js';
import { setLang, t, translate, type Key, type Lang } from './i18n.js';

interface MqttClient {
  connected: boolean;
  on(event: 'connect' | 'close' | 'offline', cb: () => void): void;
  on(event: 'error', cb: (e: Error) => void): void;
  on(event: 'message', cb: (topic: string, payload: Uint8Array) => void): void;
  subscribe(topics: string[], opts: { qos: 1 }): void;
  publish(topic: string, payload: string, opts: { qos: 1 }, cb?: (e?: Error) => void): void;
}
declare const mqtt: { connect(url: string, opts: Record<string, unknown>): MqttClient };

/**
 * mqtt.js's browser build (334 KB, most of the page) is loaded once the five choices are on
 * screen, not before: a cheap tablet shows them without parsing it first (issue 15 goal 8). A
 * citizen who rates before it connects is in the outbox, sent on connect like after an outage.
 */
let mqttLoaded: Promise<void> | undefined;
function loadMqtt(): Promise<void> {
  mqttLoaded ??= new Promise<void>((resolve, reject) => {
    const script = document.createElement('script');
    script.src = '/vendor/mqtt.min.js';
    script.onload = () => resolve();
    script.onerror = () => {
      script.remove();
      mqttLoaded = undefined; // the next attempt loads it again
      reject(new Error('mqtt.js did not load'));
    };
    document.head.append(script);
  });
  return mqttLoaded;
}

/**
 * The transaction the hub offers for evaluation (PROTOCOL 2 `session`); `{}` offers none. A hub
 * with the QR channel may add the transaction's `rateUrl` (PROTOCOL 8), for a citizen who would
 * rather rate on their own phone.
 */
type OfferedSession = Extract<TabletSession, { txnId: string }> & { rateUrl?: string };

const KEYS = { tablet: 'hcp.tablet', counter: 'hcp.counter', outbox: 'hcp.outbox', lang: 'hcp.lang' } as const;
const LEVELS = [5, 4, 3, 2, 1] as const;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const state = {
  hallId: '',
  creds: undefined as { id: string; token: string } | undefined,
  reasons: [] as Reason[],
  session: undefined as OfferedSession | undefined,
  inactivityS: 60,
  thanksS: 5,
  level: 0,
  chosenReasons: new Set<string>(),
  client: undefined as MqttClient | undefined,
  idleTimer: 0,
  /** The inactivity timeout found the focus in a field once: it waits one more period. */
  idleGraceUsed: false,
};

// ---- storage: the outbox survives reloads and outages ----
function outbox(): TabletEvaluation[] {
  try {
    return JSON.parse(localStorage.getItem(KEYS.outbox) ?? '[]') as TabletEvaluation[];
  } catch {
    return [];
  }
}
function saveOutbox(items: TabletEvaluation[]): void {
  localStorage.setItem(KEYS.outbox, JSON.stringify(items));
  renderConnection();
}
function nextId(tabletId: string): string {
  const n = Number(localStorage.getItem(KEYS.counter) ?? '0') + 1;
  localStorage.setItem(KEYS.counter, String(n)); // persisted before use: an id is never reused
  return `${tabletId}-${n}`;
}

// ---- screens ----
type Screen = 'setup' | 'start' | 'detail' | 'thanks';
function show(screen: Screen): void {
  for (const s of ['setup', 'start', 'detail', 'thanks'] as const) $(`screen-${s}`).hidden = s !== screen;
  document.body.dataset['screen'] = screen;
  armIdle();
}

function face(level: number): string {
  // mouth curve from a frown (1) to a broad smile (5); the word below is the real cue
  const curve = [0, -14, -7, 0, 8, 16][level]!;
  const mouth = `M 30 ${66 - curve / 2} Q 50 ${66 + curve} 70 ${66 - curve / 2}`;
  return `<svg viewBox="0 0 100 100" aria-hidden="true" class="face"><circle cx="50" cy="50" r="46" fill="currentColor" opacity="0.15"/><circle cx="50" cy="50" r="46" fill="none" stroke="currentColor" stroke-width="5"/><circle cx="35" cy="40" r="6" fill="currentColor"/><circle cx="65" cy="40" r="6" fill="currentColor"/><path d="${mouth}" fill="none" stroke="currentColor" stroke-width="6" stroke-linecap="round"/></svg>`;
}

function renderChoices(): void {
  const box = $('choices');
  box.setAttribute('aria-label', t('appTitle'));
  box.innerHTML = '';
  for (const level of LEVELS) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `choice level-${level}`;
    b.dataset['level'] = String(level);
    b.innerHTML = `${face(level)}<span class="word">${t(`level${level}` as Key)}</span>`;
    b.addEventListener('click', () => choose(level));
    box.appendChild(b);
  }
}

function renderStart(): void {
  const s = state.session;
  $('prompt').textContent = t(s ? 'rateTxn' : 'rateHall');
  $('txn').hidden = !s;
  $('txn-window').textContent = s?.windowId ?? '';
  $('txn-clerk').textContent = s?.staffName || '—';
  $('txn-matter').textContent = s?.matterName || '—';
  const url = rateUrl();
  $('qr-open').hidden = !url;
  const dialog = $('qr-dialog') as HTMLDialogElement;
  if (dialog.open && dialog.dataset['url'] !== url) closeQr(); // rated (on the phone or here) or another transaction
}

/** The offered transaction's QR rating URL (PROTOCOL 8), when the hub sent a usable one. */
function rateUrl(): string | undefined {
  const url = state.session?.rateUrl;
  return typeof url === 'string' && /^https?:\/\//.test(url) ? url : undefined;
}

async function openQr(): Promise<void> {
  const url = rateUrl();
  if (!url) return;
  const dialog = $('qr-dialog') as HTMLDialogElement;
  const box = $('qr-code');
  // the QR code library only when a citizen asks for the code: the first screen does not need it
  const { qrSvg } = await import('./tablet-qr.js');
  if (rateUrl() !== url) return; // the transaction went while it loaded
  box.innerHTML = await qrSvg(url);
  const svg = box.querySelector('svg');
  svg?.setAttribute('role', 'img');
  svg?.setAttribute('aria-label', t('qrTitle'));
  dialog.dataset['url'] = url;
  if (!dialog.open) dialog.showModal();
  armIdle();
}

function closeQr(): void {
  const dialog = $('qr-dialog') as HTMLDialogElement;
  if (dialog.open) dialog.close(); // the close event clears it
}

function renderReasons(): void {
  const box = $('reasons');
  box.innerHTML = '';
  for (const r of state.reasons) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'chip';
    b.dataset['reason'] = r.code;
    const on = state.chosenReasons.has(r.code);
    b.setAttribute('aria-pressed', String(on));
    b.textContent = `${on ? '✓ ' : ''}${document.documentElement.lang === 'en' ? r.en : r.zh}`;
    b.addEventListener('click', () => {
      if (state.chosenReasons.has(r.code)) state.chosenReasons.delete(r.code);
      else state.chosenReasons.add(r.code);
      renderReasons();
    });
    box.appendChild(b);
  }
}

function renderConnection(): void {
  const connected = !!state.client?.connected;
  const waiting = outbox().length;
  const el = $('conn');
  el.dataset['state'] = connected ? 'online' : 'offline';
  el.textContent = connected ? (waiting ? t('pending', { n: waiting }) : t('online')) : t('offline');
}

function renderAll(): void {
  translate();
  renderChoices();
  renderStart();
  renderReasons();
  renderConnection();
  if (state.level) $('chosen-level').textContent = t(`level${state.level}` as Key);
}

// ---- the citizen's flow ----
function choose(level: number): void {
  state.level = level;
  if (level >= 4) {
    submit([], '', undefined);
    return;
  }
  state.chosenReasons.clear();
  ($('comment') as HTMLTextAreaElement).value = '';
  ($('phone') as HTMLInputElement).value = '';
  ($('consent') as HTMLInputElement).checked = false;
  $('detail-error').textContent = '';
  $('chosen-level').textContent = t(`level${level}` as Key);
  renderReasons();
  show('detail');
}

function submitDetail(): void {
  const phone = ($('phone') as HTMLInputElement).value.trim();
  const consent = ($('consent') as HTMLInputElement).checked;
  if (phone && !MOBILE_PHONE.test(phone)) {
    $('detail-error').textContent = t('phoneInvalid');
    return;
  }
  if (phone && !consent) {
    $('detail-error').textContent = t('consentNeeded');
    return;
  }
  const comment = [...($('comment') as HTMLTextAreaElement).value.trim()].slice(0, MAX_COMMENT_CHARS).join('');
  submit([...state.chosenReasons], comment, phone && consent ? phone : undefined);
}

/**
 * Records what the citizen chose. `thanks: false` when the citizen walked away from the reasons
 * screen: the screen goes straight back to the start for the next citizen.
 */
function submit(reasons: string[], comment: string, contact: string | undefined, thanks = true): void {
  const creds = state.creds;
  if (!creds) return;
  const s = state.session;
  const item: TabletEvaluation = {
    id: nextId(creds.id),
    level: state.level,
    reasons,
    comment,
    ...(contact ? { contact, consent: true } : {}),
    ...(s ? { txnId: s.txnId, windowId: s.windowId } : {}),
    ...(s?.staffId ? { staffId: s.staffId } : {}),
    evaluatedAt: new Date().toISOString(),
  };
  saveOutbox([...outbox(), item]); // kept until the hub's ack: never lost
  send(item);
  state.session = undefined;
  state.level = 0;
  if (!thanks) {
    renderStart();
    show('start');
    return;
  }
  show('thanks');
  window.setTimeout(() => {
    if (document.body.dataset['screen'] === 'thanks') {
      renderStart();
      show('start');
    }
  }, state.thanksS * 1000);
}

function send(item: TabletEvaluation): void {
  const c = state.client;
  if (!c?.connected || !state.hallId || !state.creds) return;
  c.publish(hallTopics.tablet(state.hallId, state.creds.id, 'evaluations'), JSON.stringify(item), { qos: 1 });
}

function onAck(payload: string): void {
  const ack = JSON.parse(payload) as TabletAck;
  // ok and duplicate: committed; rejected: the hub will never take it (kept by the hub for audit)
  saveOutbox(outbox().filter((i) => i.id !== ack.id));
}

// ---- inactivity ----
/**
 * Any touch or key starts the inactivity period again. When it passes on the reasons screen, the
 * citizen has walked away: the level they chose is recorded (reasons, comment and number were
 * not confirmed, so not sent) and the tablet is ready for the next citizen. With the focus in a
 * field (someone may be thinking over a comment), one more period first. An open QR code or
 * suggestion box closes.
 */
function armIdle(): void {
  window.clearTimeout(state.idleTimer);
  state.idleGraceUsed = false;
  const screen = document.body.dataset['screen'];
  const dialogOpen = ($('qr-dialog') as HTMLDialogElement).open || ($('suggest-dialog') as HTMLDialogElement).open;
  if (screen !== 'detail' && !dialogOpen) return;
  state.idleTimer = window.setTimeout(idle, state.inactivityS * 1000);
}

function idle(): void {
  const inField = document.activeElement instanceof HTMLInputElement || document.activeElement instanceof HTMLTextAreaElement;
  if (inField && !state.idleGraceUsed) {
    state.idleGraceUsed = true;
    state.idleTimer = window.setTimeout(idle, state.inactivityS * 1000);
    return;
  }
  closeQr();
  ($('suggest-dialog') as HTMLDialogElement).close();
  (document.activeElement as HTMLElement | null)?.blur();
  if (document.body.dataset['screen'] === 'detail' && state.level) submit([], '', undefined, false);
}

// ---- the hub ----
async function connect(): Promise<void> {
  const creds = state.creds!;
  const [response] = await Promise.all([fetch('/api/health'), loadMqtt()]);
  const health = (await response.json()) as Health;
  state.hallId = health.hallId;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mqtt`;
  const client = mqtt.connect(url, { username: creds.id, password: creds.token, clientId: `tablet-${creds.id}-${Math.random().toString(16).slice(2, 8)}`, protocolVersion: 4, reconnectPeriod: 2000, clean: true });
  state.client = client;
  client.on('connect', () => {
    client.subscribe([hallTopics.publicFilter(state.hallId), hallTopics.tabletFilter(state.hallId, creds.id)], { qos: 1 });
    for (const item of outbox()) send(item); // resend whatever the hub has not acknowledged
    renderConnection();
  });
  client.on('close', renderConnection);
  client.on('offline', renderConnection);
  client.on('error', (e) => {
    if (/not authorized|bad user/i.test(e.message)) $('conn').textContent = t('loginFailed');
  });
  client.on('message', (topic, payload) => {
    const text = new TextDecoder().decode(payload);
    const where = parseHallTopic(topic);
    try {
      if (where?.kind === 'public' && where.leaf === 'config') {
        const config = JSON.parse(text) as PublicConfig;
        $('hall-name').textContent = config.hallName || t('appTitle');
        state.reasons = config.reasons;
        state.inactivityS = config.settings.inactivityS;
        state.thanksS = config.settings.thanksS;
        $('complaint-phone').textContent = config.complaintPhone;
        $('complaint').setAttribute('href', `tel:${config.complaintPhone}`);
        renderReasons();
      } else if (where?.kind === 'tablet' && where.leaf === 'session') {
        const session = text ? (JSON.parse(text) as TabletSession) : {};
        state.session = session.txnId ? (session as OfferedSession) : undefined;
        if (document.body.dataset['screen'] === 'start') renderStart();
      } else if (where?.kind === 'tablet' && where.leaf === 'acks') onAck(text);
    } catch {
      /* a malformed message from the hub is ignored; the page keeps working */
    }
  });
}

function setup(): void {
  const params = new URLSearchParams(location.search);
  const id = params.get('tablet');
  const token = params.get('token');
  if (id && token) {
    localStorage.setItem(KEYS.tablet, JSON.stringify({ id, token }));
    history.replaceState(null, '', location.pathname); // the token leaves the address bar
  }
  try {
    state.creds = JSON.parse(localStorage.getItem(KEYS.tablet) ?? 'null') as typeof state.creds;
  } catch {
    state.creds = undefined;
  }
}

function main(): void {
  const saved = localStorage.getItem(KEYS.lang) as Lang | null;
  if (saved && saved !== document.documentElement.lang) setLang(saved); // the same lang again would cost a style pass
  setup();
  renderAll();
  $('lang').addEventListener('click', () => {
    const next: Lang = document.documentElement.lang === 'en' ? 'zh-CN' : 'en';
    localStorage.setItem(KEYS.lang, next);
    setLang(next);
    renderAll();
  });
  $('back').addEventListener('click', () => {
    renderStart();
    show('start');
  });
  $('qr-open').addEventListener('click', () => void openQr());
  $('qr-close').addEventListener('click', closeQr);
  $('qr-dialog').addEventListener('close', () => {
    $('qr-code').replaceChildren();
    delete $('qr-dialog').dataset['url'];
  });
  $('submit').addEventListener('click', submitDetail);
  for (const ev of ['pointerdown', 'keydown', 'input'] as const) document.addEventListener(ev, armIdle);
  const dialog = $('suggest-dialog') as HTMLDialogElement;
  $('suggest').addEventListener('click', () => {
    $('suggest-done').textContent = '';
    dialog.showModal();
    armIdle();
  });
  $('suggest-close').addEventListener('click', () => dialog.close());
  $('suggest-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = ($('suggest-text') as HTMLTextAreaElement).value.trim();
    if (!text || !state.client?.connected || !state.creds) return;
    const suggestion: TabletSuggestion = { text };
    state.client.publish(hallTopics.tablet(state.hallId, state.creds.id, 'suggestions'), JSON.stringify(suggestion), { qos: 1 }, (err) => {
      if (err) return;
      ($('suggest-text') as HTMLTextAreaElement).value = '';
      $('suggest-done').textContent = t('suggestThanks');
    });
  });
  $('setup-form').addEventListener('submit', (e) => {
    e.preventDefault();
    localStorage.setItem(KEYS.tablet, JSON.stringify({ id: ($('setup-id') as HTMLInputElement).value.trim(), token: ($('setup-token') as HTMLInputElement).value.trim() }));
    location.reload();
  });
  if (!state.creds) {
    show('setup');
    return;
  }
  show('start');
  const attempt = () =>
    connect().catch(() => {
      renderConnection();
      window.setTimeout(attempt, 5000); // the hub is not reachable yet: try again, calmly
    });
  // The five choices are painted first (the frame `npm run bench -- tablet` times), then the
  // hub is reached; a page drawn in the background, with no frames, goes on after a second.
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    void attempt();
  };
  requestAnimationFrame(() => {
    performance.mark('hcp:choices');
    window.setTimeout(start);
  });
  window.setTimeout(start, 1000);
}

main();
