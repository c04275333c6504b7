/// <reference lib="dom" />
/**
 * What the dashboard and the technician page share: the admin-token gate (kept in
 * localStorage until "sign out"; any API 401 brings the prompt back), the API client (errors
 * are `{error: {code, message}}`, PROTOCOL 5: the message is shown, never a stack trace), the
 * language switch, small DOM helpers and China-time formatting.
 */
import type { ApiErrorBody, HallInfo, SyncSummary } from '../../protocol/index.js';
import { lang, setLang, t, translate, type Key, type Lang } from './i18n.js';

export const TOKEN_KEY = 'hcp.adminToken';
const LANG_KEY = 'hcp.lang';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let token: string | null = null;
/** Who is signed in (PROTOCOL 5 [r2] roles): the pages show only what the role may do. */
let me: { name: string; role: 'queue' | 'handler' | 'manager' | 'admin' } | undefined;

/** The signed-in person, once the hub took the token. */
export function currentPerson(): typeof me {
  return me;
}

/** May the signed-in person use what needs one of these roles? (admin may use everything) */
export function may(...roles: ('queue' | 'handler' | 'manager')[]): boolean {
  return !!me && (me.role === 'admin' || (roles as string[]).includes(me.role));
}
let onUnauthorized: () => void = () => {};

/**
 * One API call with the admin token; resolves with the JSON answer or throws an ApiError.
 * `T` is the route's answer type from `protocol/api.ts`, never a page's own copy.
 */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${token ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, cache: 'no-store', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  } catch {
    throw new ApiError(0, 'network', t('staffNetwork'));
  }
  let json: unknown;
  try {
    json = JSON.parse(await res.text());
  } catch {
    json = undefined;
  }
  if (res.ok) return json as T;
  if (res.status === 401) onUnauthorized();
  // Checked field by field: a proxy in between may answer something else entirely.
  const error = (json as { error?: Partial<Record<keyof ApiErrorBody['error'], unknown>> } | undefined)?.error;
  throw new ApiError(res.status, typeof error?.code === 'string' ? error.code : 'http', typeof error?.message === 'string' ? error.message : t('staffHttpError', { status: res.status }));
}

export function adminToken(): string {
  return token ?? '';
}

/** The message to show for any failure: the API's own words, or a plain one. */
export function messageOf(error: unknown): string {
  return error instanceof ApiError ? error.message : t('staffNetwork');
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new TypeError(`the page has no element #${id}`);
  return el as T;
}

type Child = Node | string | null | undefined | false;

/** A new element: `h('td', {class: 'num', text: '3'})`, children appended in order. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: { class?: string; text?: string; attrs?: Record<string, string> } = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.text !== undefined) el.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) el.setAttribute(name, value);
  for (const child of children) if (child) el.append(child);
  return el;
}

/** A table: header keys, then rows of cells (a string, or a ready cell). */
export function table(id: string, heads: Key[], rows: (string | HTMLElement)[][], numericFrom = 1): HTMLTableElement {
  const head = h('tr', {}, ...heads.map((k) => h('th', { text: t(k), attrs: { scope: 'col' } })));
  const body = rows.map((cells) =>
    h('tr', {}, ...cells.map((c, i) => (typeof c === 'string' ? h(i === 0 ? 'th' : 'td', { text: c, ...(i === 0 ? { attrs: { scope: 'row' } } : {}), ...(i >= numericFrom ? { class: 'num' } : {}) }) : c))),
  );
  return h('table', { attrs: { id } }, h('thead', {}, head), h('tbody', {}, ...body));
}

const formats = new Map<string, Intl.DateTimeFormat>();
/** A time in China Standard Time, e.g. `11-27 14:05`; `withDate: false` gives `14:05`. */
export function fmtTime(iso: string | null, withDate = true): string {
  if (!iso) return t('staffNever');
  const key = `${lang()}${withDate}`;
  let f = formats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(lang(), { timeZone: 'Asia/Shanghai', hour12: false, hour: '2-digit', minute: '2-digit', ...(withDate ? { month: '2-digit', day: '2-digit' } : {}) });
    formats.set(key, f);
  }
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? iso : f.format(ms);
}

/** A length of time in words: days and hours, hours and minutes, or minutes. */
export function fmtDuration(ms: number): string {
  const minutes = Math.max(0, Math.floor(Math.abs(ms) / 60_000));
  const d = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  if (d > 0) return t('staffDays', { d, h: hours });
  if (hours > 0) return t('staffHours', { h: hours, m: minutes % 60 });
  return t('staffMinutes', { m: Math.max(1, minutes) });
}

/** YYYY-MM-DD of an instant in China Standard Time. */
export function cstDay(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 10);
}

export function levelWord(level: number): string {
  return level >= 1 && level <= 5 ? t(`staffLevel${level}` as Key) : t('dashNotEvaluated');
}

/** The sync state in the page's language (the hub's `progress.words` are English only). */
export function syncWords(s: SyncSummary): string {
  if (lang() === 'en' && s.progress.words) return s.progress.words;
  const n = s.progress.backlog;
  if (!s.platform) return t('staffNoPlatform');
  if (n === 0) return t('staffInSync');
  if (!s.platformConnected) return t('staffBacklogDown', { n });
  if (s.progress.etaS === null) return t('staffBacklogStart', { n });
  return t('staffBacklogEta', { n, rate: s.progress.ratePerS, eta: fmtDuration(s.progress.etaS * 1000) });
}

export interface StaffPage {
  /** Called once signed in (token checked against the hub), with the hall. */
  start(hall: HallInfo): void;
  /** Called on sign-out or when the hub no longer accepts the token. */
  stop(): void;
  /** Called after a language change, to redraw what the page drew itself. */
  redraw(): void;
}

/**
 * Wires the language switch, the token prompt (`#login`, `#login-form`, `#token-input`,
 * `#login-error`) and "sign out" (`#sign-out`); shows `#app` only with a token the hub takes.
 */
export function runStaffPage(page: StaffPage): void {
  const stored = localStorage.getItem(LANG_KEY);
  setLang(stored === 'en' ? 'en' : 'zh-CN');
  const langButton = byId<HTMLButtonElement>('lang');
  const relabel = () => {
    translate();
    langButton.setAttribute('lang', lang() === 'en' ? 'zh-CN' : 'en');
  };
  relabel();
  langButton.addEventListener('click', () => {
    const next: Lang = lang() === 'en' ? 'zh-CN' : 'en';
    localStorage.setItem(LANG_KEY, next);
    setLang(next);
    relabel();
    page.redraw();
  });

  const login = byId('login');
  const app = byId('app');
  const signOut = byId<HTMLButtonElement>('sign-out');
  const loginError = byId('login-error');
  const input = byId<HTMLInputElement>('token-input');
  let running = false;

  const showLogin = (message: Key | null) => {
    if (running) page.stop();
    running = false;
    token = null;
    app.hidden = true;
    signOut.hidden = true;
    login.hidden = false;
    loginError.textContent = message ? t(message) : '';
    input.value = '';
    input.focus();
  };
  const enter = async (candidate: string, fromPrompt: boolean) => {
    token = candidate;
    try {
      me = await api<{ name: string; role: 'queue' | 'handler' | 'manager' | 'admin' }>('GET', '/api/me');
      const hall = await api<HallInfo>('GET', '/api/hall');
      localStorage.setItem(TOKEN_KEY, candidate);
      document.body.dataset['role'] = me.role;
      login.hidden = true;
      app.hidden = false;
      signOut.hidden = false;
      running = true;
      page.start(hall);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return; // onUnauthorized showed the prompt
      token = null;
      login.hidden = false;
      loginError.textContent = messageOf(error);
      if (!fromPrompt) input.value = candidate;
    }
  };
  onUnauthorized = () => {
    const hadToken = localStorage.getItem(TOKEN_KEY) !== null;
    localStorage.removeItem(TOKEN_KEY);
    showLogin(running || hadToken ? 'staffLoginExpired' : 'staffLoginRefused');
  };
  byId<HTMLFormElement>('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const candidate = input.value.trim();
    if (!candidate) return;
    loginError.textContent = '';
    void enter(candidate, true);
  });
  signOut.addEventListener('click', () => {
    localStorage.removeItem(TOKEN_KEY);
    showLogin(null);
  });

  const saved = localStorage.getItem(TOKEN_KEY);
  if (saved) void enter(saved, false);
  else showLogin(null);
}
