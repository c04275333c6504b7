/**
 * The hall tablet's Electron shell, pure part (DESIGN "Hall tablet"): the kiosk window's
 * options, which URLs may load, the reconnect and crash/hang policy, the technician's PIN
 * exit, and the shell's config file. Nothing here imports `electron`; `main.ts` binds it.
 *
 * The shell only shows the hub's tablet page. The tablet's MQTT token is not the shell's: the
 * page pairs and keeps it in its own storage.
 *
 * A PIN hash for the config file:
 *   npx tsx -e "import('./kiosk-ui/shell/shell-core.ts').then((m) => console.log(m.hashPin('246810')))"
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** IPC channel of `kiosk.requestExit(pin)`; `preload.ts` repeats it (a sandboxed preload cannot import). */
export const EXIT_CHANNEL = 'kiosk:request-exit';
/** Opens the technician's PIN dialog (a keyboard plugged into the tablet). */
export const EXIT_SHORTCUT = 'CommandOrControl+Alt+Shift+Q';

/** The same chord seen as a key event in the kiosk window, for desktops without global shortcuts (Wayland). */
export function isExitChord(input: { type: string; key: string; control: boolean; meta: boolean; alt: boolean; shift: boolean }): boolean {
  return input.type === 'keyDown' && input.key.toLowerCase() === 'q' && (input.control || input.meta) && input.alt && input.shift;
}

// ---------------------------------------------------------------------------------------------
// Config

import { ConfigError, issueLine } from '../../protocol/index.js';

export { ConfigError };

/** `scrypt$<salt, 16 bytes hex>$<key, 32 bytes hex>`, scrypt N=16384 r=8 p=1. */
const PIN_HASH = /^scrypt\$[0-9a-f]{32}\$[0-9a-f]{64}$/;
const PIN_KEY_BYTES = 32;

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

export const shellConfigSchema = z
  .object({
    /** The hub's tablet page, e.g. `http://192.168.1.10:8080/tablet`; only its origin may load. */
    hubUrl: z.string().refine(isHttpUrl, 'must be an http:// or https:// URL without credentials'),
    /** The tablet's id as paired on the hub (`TAB-01`); for logs and the offline page. */
    tabletId: z.string().regex(/^[\x21-\x7e]{1,64}$/, 'must be 1..64 printable ASCII characters without spaces').refine((s) => !/[/+#]/.test(s), 'must not contain /, + or #'),
    /** The technician PIN's hash, from `hashPin()`. */
    pinHash: z.string().regex(PIN_HASH, 'must be "scrypt$<32 hex digits>$<64 hex digits>", made by hashPin()'),
    /** A renderer unresponsive this long is ended and reloaded, seconds. Default 10. */
    reloadAfterHangS: z.int().min(1).max(600).default(10),
  })
  .strict();

export type ShellConfig = z.infer<typeof shellConfigSchema>;

/** Validates a parsed config file; the first problem is a one-line `ConfigError` naming its key. */
export function parseShellConfig(value: unknown): ShellConfig {
  const result = shellConfigSchema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const { key, line } = issueLine('tablet config', result.error.issues[0]!);
  if (key === '') throw new ConfigError('', 'tablet config: expected a JSON object {hubUrl, tabletId, pinHash, reloadAfterHangS}');
  throw new ConfigError(key, line);
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();

export function loadShellConfig(file: string): ShellConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('', `tablet config: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError('', oneLine(`tablet config: ${file} is not valid JSON (${(error as Error).message})`));
  }
  return parseShellConfig(value);
}

/** `--config FILE`, `--config=FILE`, else `$HAOCHAPING_TABLET_CONFIG`, else `tablet.json`. */
export function configPathFromArgv(argv: readonly string[], env: Record<string, string | undefined> = process.env): string {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('--config=')) return arg.slice('--config='.length);
    if (arg === '--config' && argv[i + 1] !== undefined) return argv[i + 1]!;
  }
  return env['HAOCHAPING_TABLET_CONFIG'] ?? 'tablet.json';
}

// ---------------------------------------------------------------------------------------------
// Windows

export interface KioskWebPreferences {
  contextIsolation: true;
  nodeIntegration: false;
  sandbox: true;
  devTools: false;
  webviewTag: false;
  spellcheck: false;
  preload?: string;
}

/** A structural subset of Electron's `BrowserWindowConstructorOptions`. */
export interface KioskWindowOptions {
  title: string;
  fullscreen: boolean;
  kiosk: boolean;
  frame: false;
  autoHideMenuBar: true;
  backgroundColor: string;
  width?: number;
  height?: number;
  resizable?: boolean;
  alwaysOnTop?: boolean;
  webPreferences: KioskWebPreferences;
}

const LOCKED_DOWN = { contextIsolation: true, nodeIntegration: false, sandbox: true, devTools: false, webviewTag: false, spellcheck: false } as const;

/** The citizen-facing window: full screen, no frame, no menu, no dev tools, no Node, no preload. */
export function kioskWindowOptions(config: Pick<ShellConfig, 'tabletId'>): KioskWindowOptions {
  return {
    title: `好差评 ${config.tabletId}`,
    fullscreen: true,
    kiosk: true,
    frame: false,
    autoHideMenuBar: true,
    backgroundColor: '#10243e',
    webPreferences: { ...LOCKED_DOWN },
  };
}

/** The technician's PIN dialog: the only window with the preload (`kiosk.requestExit`). */
export function exitDialogWindowOptions(preload: string): KioskWindowOptions {
  return {
    title: '退出 / Exit',
    fullscreen: false,
    kiosk: false,
    frame: false,
    autoHideMenuBar: true,
    backgroundColor: '#10243e',
    width: 560,
    height: 420,
    resizable: false,
    alwaysOnTop: true,
    webPreferences: { ...LOCKED_DOWN, preload },
  };
}

// ---------------------------------------------------------------------------------------------
// Navigation

export function hubOrigin(hubUrl: string): string {
  return new URL(hubUrl).origin;
}

/** Whether a page may navigate to `url`: only to `allowedOrigin` (`null`: nowhere). */
export function mayNavigate(url: string, allowedOrigin: string | null): boolean {
  if (allowedOrigin === null) return false;
  try {
    const target = new URL(url);
    return (target.protocol === 'http:' || target.protocol === 'https:') && target.origin === allowedOrigin;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Backoff

export interface BackoffOptions {
  /** First delay, ms. Default 1000. */
  initialMs?: number;
  /** Largest delay, ms. Default 30000. */
  maxMs?: number;
  /** Share of each delay taken off at random, 0..1, so tablets do not retry in step. Default 0.2. */
  jitter?: number;
  /** Uniform in [0, 1). Default `Math.random`. */
  random?: () => number;
}

const BACKOFF_DEFAULTS: Required<BackoffOptions> = { initialMs: 1000, maxMs: 30_000, jitter: 0.2, random: () => Math.random() };

/** Capped exponential backoff: 1 s, 2 s, 4 s … 30 s, each less up to `jitter` of itself. */
export class Backoff {
  private readonly options: Required<BackoffOptions>;
  private attempts = 0;

  constructor(options: BackoffOptions = {}) {
    this.options = { ...BACKOFF_DEFAULTS, ...options };
    const { initialMs, maxMs, jitter } = this.options;
    if (!(initialMs > 0)) throw new TypeError('initialMs must be positive');
    if (!(maxMs >= initialMs)) throw new TypeError('maxMs must be at least initialMs');
    if (!(jitter >= 0 && jitter <= 1)) throw new TypeError('jitter must be from 0 to 1');
  }

  /** The delay before the next attempt, ms. */
  next(): number {
    const { initialMs, maxMs, jitter, random } = this.options;
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempts, 30));
    this.attempts++;
    return Math.max(1, Math.round(base * (1 - jitter * random())));
  }

  reset(): void {
    this.attempts = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Exit

/** Makes a `pinHash` for the config file. */
export function hashPin(pin: string, salt: Buffer = randomBytes(16)): string {
  if (typeof pin !== 'string' || pin.length === 0) throw new TypeError('pin must be a non-empty string');
  return `scrypt$${salt.toString('hex')}$${scryptSync(pin, salt, PIN_KEY_BYTES).toString('hex')}`;
}

/** Constant-time comparison of `pin` with a `hashPin()` hash. */
export function verifyPin(pin: string, pinHash: string): boolean {
  if (!PIN_HASH.test(pinHash)) throw new TypeError('pinHash must come from hashPin()');
  const [, saltHex, keyHex] = pinHash.split('$') as [string, string, string];
  const actual = scryptSync(pin, Buffer.from(saltHex, 'hex'), PIN_KEY_BYTES);
  return timingSafeEqual(actual, Buffer.from(keyHex, 'hex'));
}

export type ExitDecision =
  | { ok: true }
  | { ok: false; reason: 'wrong-pin'; triesLeft: number }
  | { ok: false; reason: 'locked'; retryAfterS: number }
  /** Not asked from the technician's dialog. */
  | { ok: false; reason: 'refused' };

export interface ExitGateOptions {
  /** From the config file. */
  pinHash: string;
  /** Wrong PINs in a row before the lockout. Default 5. */
  maxTries?: number;
  /** How long a lockout lasts, ms. Default 300000 (5 minutes). */
  lockoutMs?: number;
  /** Wall clock, ms. Default `Date.now`. */
  now?: () => number;
}

const EXIT_DEFAULTS = { maxTries: 5, lockoutMs: 5 * 60_000, now: () => Date.now() };

/** Quitting the kiosk needs the technician PIN; wrong PINs are counted and lock it out. */
export class ExitGate {
  private readonly options: Required<ExitGateOptions>;
  private wrong = 0;
  private lockedUntil = 0;

  constructor(options: ExitGateOptions) {
    this.options = { ...EXIT_DEFAULTS, ...options };
    if (!PIN_HASH.test(this.options.pinHash)) throw new TypeError('pinHash must come from hashPin()');
  }

  /** Anything but a string of at most 64 characters is a wrong PIN. */
  check(pin: unknown): ExitDecision {
    const now = this.options.now();
    if (now < this.lockedUntil) return { ok: false, reason: 'locked', retryAfterS: Math.ceil((this.lockedUntil - now) / 1000) };
    const candidate = typeof pin === 'string' && pin.length <= 64 ? pin : '';
    // The hash is computed for every candidate, so a wrong PIN costs as long as a right one.
    if (verifyPin(candidate, this.options.pinHash) && candidate !== '') {
      this.wrong = 0;
      return { ok: true };
    }
    this.wrong++;
    if (this.wrong >= this.options.maxTries) {
      this.wrong = 0;
      this.lockedUntil = now + this.options.lockoutMs;
      return { ok: false, reason: 'locked', retryAfterS: Math.ceil(this.options.lockoutMs / 1000) };
    }
    return { ok: false, reason: 'wrong-pin', triesLeft: this.options.maxTries - this.wrong };
  }
}

// ---------------------------------------------------------------------------------------------
// Connection, crash and hang

/** What the controller does to the kiosk window; `main.ts` implements it on a BrowserWindow. */
export interface KioskView {
  /** Loads the hub's page. */
  showHub(url: string): void;
  /** Loads the local offline page; `retryInS` feeds its countdown. */
  showOffline(retryInS: number): void;
  /** Ends a hung renderer, so that the next load starts a fresh process. */
  killRenderer(): void;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export type KioskState = 'connecting' | 'online' | 'offline';

export type KioskLogEvent =
  | { event: 'connect'; cause: 'start' | 'retry' | 'crash' | 'hang'; url: string }
  | { event: 'online'; url: string }
  | { event: 'offline'; cause: string; retryInMs: number }
  | { event: 'renderer-gone'; reason: string }
  | { event: 'hang'; reloadInS: number }
  | { event: 'navigation-refused'; url: string }
  | { event: 'exit-request'; result: 'ok' | 'wrong-pin' | 'locked' | 'refused' };

export interface KioskControllerOptions {
  /** The hub's page (config `hubUrl`). */
  hubUrl: string;
  /** Unresponsive this long -> the renderer is ended and the hub reloaded, seconds. */
  reloadAfterHangS: number;
  /** A hub load that neither finishes nor fails in this time counts as failed, seconds. Default 30. */
  loadTimeoutS?: number;
  /** Retry delays while the hub is unreachable. Default 1 s doubling to 30 s, 20 % jitter. */
  backoff?: BackoffOptions;
  /** Default the global timers (so fake timers apply). */
  timers?: Timers;
  /** Default: nothing. */
  log?: (line: KioskLogEvent) => void;
}

/** Chromium's net::ERR_ABORTED: a load replaced by another one or cancelled by a guard. */
const ERR_ABORTED = -3;

const GLOBAL_TIMERS: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Keeps the hub's page on screen: loads it, shows the offline page and retries with backoff
 * while the hub cannot be reached (the backoff starts over after a successful load), reloads
 * after a renderer crash, and ends and reloads a renderer that hangs.
 */
export class KioskController {
  private stateValue: KioskState = 'connecting';
  private readonly origin: string;
  private readonly backoff: Backoff;
  private readonly timers: Timers;
  private readonly log: (line: KioskLogEvent) => void;
  private readonly loadTimeoutMs: number;
  private retryTimer: unknown = undefined;
  private loadTimer: unknown = undefined;
  private hangTimer: unknown = undefined;
  /** The next render-process-gone is our own kill, already followed by a reload. */
  private killedByUs = false;
  private stopped = false;

  constructor(
    private readonly view: KioskView,
    private readonly options: KioskControllerOptions,
  ) {
    this.origin = hubOrigin(options.hubUrl);
    this.backoff = new Backoff(options.backoff);
    this.timers = options.timers ?? GLOBAL_TIMERS;
    this.log = options.log ?? (() => {});
    this.loadTimeoutMs = (options.loadTimeoutS ?? 30) * 1000;
    if (!(options.reloadAfterHangS > 0)) throw new TypeError('reloadAfterHangS must be positive');
  }

  get state(): KioskState {
    return this.stateValue;
  }

  start(): void {
    this.connect('start');
  }

  /** The main frame finished loading `url`. */
  loadSucceeded(url: string): void {
    // After a failure the offline page is on its way; a late finish of the failed load is not success.
    if (this.stateValue !== 'connecting' || !mayNavigate(url, this.origin)) return;
    this.clear('loadTimer');
    this.stateValue = 'online';
    this.killedByUs = false;
    this.backoff.reset();
    this.log({ event: 'online', url });
  }

  /** The main frame failed to load `url` (Electron's did-fail-load). */
  loadFailed(url: string, errorCode: number, description: string): void {
    if (errorCode === ERR_ABORTED || !mayNavigate(url, this.origin)) return;
    this.goOffline(`${description || 'load failed'} (${errorCode})`);
  }

  /** The main frame committed `url` with an HTTP status (Electron's did-navigate). */
  navigated(url: string, httpStatus: number): void {
    // A hub that answers 5xx (starting, or behind a proxy whose upstream is down) is not there yet.
    if (httpStatus >= 500 && mayNavigate(url, this.origin)) this.goOffline(`HTTP ${httpStatus}`);
  }

  rendererGone(reason: string): void {
    this.clear('hangTimer');
    if (this.killedByUs) {
      this.killedByUs = false;
      return;
    }
    this.log({ event: 'renderer-gone', reason });
    this.connect('crash');
  }

  unresponsive(): void {
    if (this.hangTimer !== undefined || this.stopped) return;
    this.log({ event: 'hang', reloadInS: this.options.reloadAfterHangS });
    this.hangTimer = this.timers.setTimeout(() => {
      this.hangTimer = undefined;
      this.killedByUs = true;
      this.view.killRenderer();
      this.connect('hang');
    }, this.options.reloadAfterHangS * 1000);
  }

  responsive(): void {
    this.clear('hangTimer');
  }

  /** Cancels every timer (the shell is quitting). */
  stop(): void {
    this.stopped = true;
    this.clear('retryTimer');
    this.clear('loadTimer');
    this.clear('hangTimer');
  }

  private connect(cause: 'start' | 'retry' | 'crash' | 'hang'): void {
    if (this.stopped) return;
    this.clear('retryTimer');
    this.clear('loadTimer');
    this.stateValue = 'connecting';
    this.log({ event: 'connect', cause, url: this.options.hubUrl });
    this.loadTimer = this.timers.setTimeout(() => {
      this.loadTimer = undefined;
      this.goOffline('no answer');
    }, this.loadTimeoutMs);
    this.view.showHub(this.options.hubUrl);
  }

  private goOffline(cause: string): void {
    if (this.stopped || this.retryTimer !== undefined) return;
    this.clear('loadTimer');
    this.stateValue = 'offline';
    const delay = this.backoff.next();
    this.log({ event: 'offline', cause, retryInMs: delay });
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = undefined;
      this.connect('retry');
    }, delay);
    this.view.showOffline(Math.ceil(delay / 1000));
  }

  private clear(name: 'retryTimer' | 'loadTimer' | 'hangTimer'): void {
    if (this[name] === undefined) return;
    this.timers.clearTimeout(this[name]);
    this[name] = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// The technician's PIN dialog

/** The dialog's page, loaded as a data: URL into the window with the preload. */
export function exitDialogHtml(): string {
  return `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>退出 / Exit</title>
<style>
  body { margin: 0; padding: 32px; background: #10243e; color: #ffffff; font: 24px/1.4 "Noto Sans CJK SC", "Source Han Sans SC", sans-serif; }
  h1 { font-size: 28px; margin: 0 0 16px; }
  input { font-size: 32px; width: 100%; box-sizing: border-box; padding: 12px; letter-spacing: 8px; }
  .actions { display: flex; gap: 16px; margin-top: 24px; }
  button { flex: 1; min-height: 64px; font-size: 24px; border: 0; border-radius: 8px; }
  #ok { background: #ffd75e; color: #10243e; }
  #cancel { background: #d7e3f4; color: #10243e; }
  #message { min-height: 34px; color: #ffd75e; }
</style>
</head>
<body>
<h1>技术人员退出<br><span lang="en">Technician exit</span></h1>
<form id="form">
  <input id="pin" type="password" inputmode="numeric" autocomplete="off" maxlength="64" autofocus aria-label="PIN">
  <p id="message" role="alert"></p>
  <div class="actions"><button id="ok" type="submit">确定 OK</button><button id="cancel" type="button">取消 Cancel</button></div>
</form>
<script>
  const pin = document.getElementById('pin');
  const message = document.getElementById('message');
  document.getElementById('cancel').onclick = () => window.close();
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') window.close(); });
  document.getElementById('form').onsubmit = async (e) => {
    e.preventDefault();
    const r = await window.kiosk.requestExit(pin.value);
    pin.value = '';
    if (r.ok) message.textContent = '正在退出… Exiting…';
    else if (r.reason === 'wrong-pin') message.textContent = 'PIN 错误，还可尝试 ' + r.triesLeft + ' 次 · Wrong PIN, ' + r.triesLeft + ' tries left';
    else if (r.reason === 'locked') message.textContent = '已锁定，请 ' + Math.ceil(r.retryAfterS / 60) + ' 分钟后再试 · Locked, try again in ' + Math.ceil(r.retryAfterS / 60) + ' min';
    else message.textContent = '被拒绝 · Refused';
  };
</script>
</body>
</html>
`;
}
