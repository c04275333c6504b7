/**
 * The hall tablet's Electron entry (DESIGN "Hall tablet"): binds `shell-core.ts` to Electron.
 * One kiosk window shows the hub's tablet page; the technician quits with a keyboard shortcut
 * and the PIN, in a small dialog that is the only window with a preload.
 *
 *   npm run build && npx electron dist/kiosk-ui/shell/main.js --config /etc/haochaping/tablet.json
 *
 * The config file is `{hubUrl, tabletId, pinHash, reloadAfterHangS}` (see shell-core.ts); a bad
 * one is one line on stderr and exit code 2. Log lines are JSON on stdout.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, globalShortcut, ipcMain, Menu, type WebContents } from 'electron';
import {
  ConfigError,
  EXIT_CHANNEL,
  EXIT_SHORTCUT,
  ExitGate,
  KioskController,
  configPathFromArgv,
  exitDialogHtml,
  exitDialogWindowOptions,
  hubOrigin,
  isExitChord,
  kioskWindowOptions,
  loadShellConfig,
  mayNavigate,
  type BackoffOptions,
  type ExitDecision,
  type KioskLogEvent,
  type ShellConfig,
} from './shell-core.js';

export interface KioskOptions {
  config: ShellConfig;
  /** Absolute path of `offline.html`. */
  offlinePage: string;
  /** Absolute path of the dialog's preload, already bundled to CommonJS (`buildPreload`). */
  preload: string;
  /** Reconnect delays. Default 1 s doubling to 30 s with 20 % jitter. */
  backoff?: BackoffOptions;
  /** Wall clock for the PIN lockout, ms. Default `Date.now`. */
  now?: () => number;
  /** Default: one JSON line on stdout. */
  log?: (line: KioskLogEvent) => void;
}

export interface Kiosk {
  window: BrowserWindow;
  controller: KioskController;
  /** Opens (or focuses) the technician's PIN dialog, as the shortcut does. */
  openExitDialog(): BrowserWindow;
}

const stdoutLog = (line: KioskLogEvent) => console.log(JSON.stringify({ time: new Date().toISOString(), ...line }));

/** Refuses navigation away from `origin` (`null`: any navigation), pop-ups and webviews. */
function lockNavigation(contents: WebContents, origin: string | null, log: (line: KioskLogEvent) => void): void {
  const refuse = (event: { url: string; preventDefault(): void }) => {
    if (mayNavigate(event.url, origin)) return;
    event.preventDefault();
    log({ event: 'navigation-refused', url: event.url });
  };
  contents.on('will-navigate', (event) => refuse(event));
  contents.on('will-redirect', (event) => refuse(event));
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    log({ event: 'navigation-refused', url });
    return { action: 'deny' };
  });
  // Camera, microphone, geolocation, notifications …: a rating page needs none of them.
  contents.session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
}

/** Opens the kiosk window on the hub and wires crash, hang, reconnect and the PIN exit. */
export async function startKiosk(options: KioskOptions): Promise<Kiosk | null> {
  const { config, offlinePage, preload } = options;
  const log = options.log ?? stdoutLog;
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return null;
  }
  await app.whenReady();
  Menu.setApplicationMenu(null);

  const window = new BrowserWindow(kioskWindowOptions(config));
  const contents = window.webContents;
  lockNavigation(contents, hubOrigin(config.hubUrl), log);

  const controller = new KioskController(
    {
      // Failures arrive as did-fail-load; the promise's rejection says the same again.
      showHub: (url) => void window.loadURL(url).catch(() => {}),
      showOffline: (retryInS) => void window.loadFile(offlinePage, { query: { retry: String(retryInS), tablet: config.tabletId } }).catch(() => {}),
      killRenderer: () => contents.forcefullyCrashRenderer(),
    },
    { hubUrl: config.hubUrl, reloadAfterHangS: config.reloadAfterHangS, ...(options.backoff ? { backoff: options.backoff } : {}), log },
  );
  contents.on('did-finish-load', () => controller.loadSucceeded(contents.getURL()));
  contents.on('did-fail-load', (_event, errorCode, description, url, isMainFrame) => {
    if (isMainFrame) controller.loadFailed(url, errorCode, description);
  });
  contents.on('did-navigate', (_event, url, httpStatus) => controller.navigated(url, httpStatus));
  contents.on('render-process-gone', (_event, details) => controller.rendererGone(details.reason));
  window.on('unresponsive', () => controller.unresponsive());
  window.on('responsive', () => controller.responsive());

  let exiting = false;
  window.on('close', (event) => {
    if (!exiting) event.preventDefault(); // Alt+F4 and friends: only the PIN quits
  });
  app.on('second-instance', () => window.focus());

  const gate = new ExitGate({ pinHash: config.pinHash, ...(options.now ? { now: options.now } : {}) });
  let dialog: BrowserWindow | null = null;
  const openExitDialog = (): BrowserWindow => {
    if (dialog && !dialog.isDestroyed()) {
      dialog.focus();
      return dialog;
    }
    const opened = new BrowserWindow({ ...exitDialogWindowOptions(preload), parent: window, modal: true });
    lockNavigation(opened.webContents, null, log);
    opened.on('closed', () => {
      if (dialog === opened) dialog = null;
    });
    void opened.loadURL(`data:text/html;charset=utf-8,${encodeURIComponent(exitDialogHtml())}`).catch(() => {});
    dialog = opened;
    return opened;
  };
  globalShortcut.register(EXIT_SHORTCUT, () => void openExitDialog());
  contents.on('before-input-event', (event, input) => {
    if (!isExitChord(input)) return;
    event.preventDefault();
    openExitDialog();
  });

  ipcMain.handle(EXIT_CHANNEL, (event, pin: unknown): ExitDecision => {
    // Only the dialog, opened at the tablet's keyboard, may ask; never the hub's page.
    const decision: ExitDecision = dialog !== null && event.sender === dialog.webContents ? gate.check(pin) : { ok: false, reason: 'refused' };
    log({ event: 'exit-request', result: decision.ok ? 'ok' : decision.reason });
    if (decision.ok) {
      exiting = true;
      controller.stop();
      globalShortcut.unregisterAll();
      app.quit();
    }
    return decision;
  });

  controller.start();
  return { window, controller, openExitDialog };
}

/** Where `offline.html` and `preload.ts` are: beside this file, or in the source tree when run from `dist/`. */
export function shellAssetsDir(here: string): string {
  const candidates = [here, resolve(here, '../../../kiosk-ui/shell')];
  const found = candidates.find((dir) => existsSync(join(dir, 'offline.html')) && existsSync(join(dir, 'preload.ts')));
  if (!found) throw new Error(`kiosk shell: offline.html and preload.ts not found in ${candidates.join(' or ')}`);
  return found;
}

/** Bundles `preload.ts` to the CommonJS a sandboxed preload needs (tsc's ESM output cannot run there). */
export async function buildPreload(source: string, target: string): Promise<string> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [source],
    bundle: true,
    external: ['electron'],
    format: 'cjs',
    platform: 'browser',
    target: 'chrome130',
    write: false,
    logLevel: 'silent',
  });
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, result.outputFiles[0]!.text);
  return target;
}

/** The Electron entry: config from `--config`, then the kiosk. */
export async function main(argv: readonly string[] = process.argv): Promise<Kiosk | null> {
  let config: ShellConfig;
  try {
    config = loadShellConfig(configPathFromArgv(argv));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    app.exit(2);
    return null;
  }
  const assets = shellAssetsDir(dirname(fileURLToPath(import.meta.url)));
  const preload = await buildPreload(join(assets, 'preload.ts'), join(app.getPath('userData'), 'kiosk-preload.cjs'));
  return startKiosk({ config, offlinePage: join(assets, 'offline.html'), preload });
}

// Started by Electron; imported by the tests (with a stubbed `electron`) it does nothing.
if (process.versions['electron'] !== undefined) {
  main().catch((error: unknown) => {
    console.error(`kiosk shell: ${(error as Error).message}`);
    app.exit(1);
  });
}
