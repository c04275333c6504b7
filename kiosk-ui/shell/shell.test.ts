/**
 * The kiosk shell against a stubbed `electron`: fake windows record what the shell does and let
 * the test emit Electron's events; time is vitest's fake clock.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanupsAfterEach, tempDir } from '../../tests/support/cleanup.js';

type Listener = (...args: any[]) => unknown;

const fake = vi.hoisted(() => {
  class Emitter {
    readonly listeners = new Map<string, Listener[]>();
    on(name: string, listener: Listener): this {
      this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
      return this;
    }
    emit(name: string, ...args: unknown[]): void {
      for (const listener of this.listeners.get(name) ?? []) listener(...args);
    }
  }

  /** Electron's `Event`: `preventDefault()` and, for navigation, the target `url`. */
  class FakeEvent {
    defaultPrevented = false;
    constructor(readonly url = '') {}
    preventDefault(): void {
      this.defaultPrevented = true;
    }
  }

  class FakeWebContents extends Emitter {
    url = '';
    crashes = 0;
    openHandler: ((details: { url: string }) => { action: string }) | undefined;
    permissionHandler: ((contents: unknown, permission: string, callback: (granted: boolean) => void) => void) | undefined;
    readonly session = {
      setPermissionRequestHandler: (handler: FakeWebContents['permissionHandler']) => {
        this.permissionHandler = handler;
      },
    };
    getURL(): string {
      return this.url;
    }
    setWindowOpenHandler(handler: FakeWebContents['openHandler']): void {
      this.openHandler = handler;
    }
    forcefullyCrashRenderer(): void {
      this.crashes++;
    }
  }

  type Load = { url: string } | { file: string; query: Record<string, string> };

  class FakeBrowserWindow extends Emitter {
    static all: FakeBrowserWindow[] = [];
    readonly webContents = new FakeWebContents();
    readonly loads: Load[] = [];
    destroyed = false;
    focusCount = 0;
    constructor(readonly options: Record<string, any>) {
      super();
      FakeBrowserWindow.all.push(this);
    }
    loadURL(url: string): Promise<void> {
      this.loads.push({ url });
      this.webContents.url = url;
      return Promise.resolve();
    }
    loadFile(file: string, options: { query: Record<string, string> }): Promise<void> {
      this.loads.push({ file, query: options.query });
      this.webContents.url = `file://${file}?${new URLSearchParams(options.query).toString()}`;
      return Promise.resolve();
    }
    isDestroyed(): boolean {
      return this.destroyed;
    }
    focus(): void {
      this.focusCount++;
    }
    /** What Alt+F4 does: 'close', and unless prevented, 'closed'. */
    close(): void {
      const event = new FakeEvent();
      this.emit('close', event);
      if (event.defaultPrevented) return;
      this.destroyed = true;
      this.emit('closed');
    }
  }

  const state = {
    singleInstance: true,
    userData: '',
    quits: 0,
    exitCodes: [] as number[],
    menus: [] as unknown[],
    shortcuts: new Map<string, () => void>(),
    unregisteredAll: 0,
    handlers: new Map<string, Listener>(),
    exposed: new Map<string, unknown>(),
    invoked: [] as unknown[][],
  };
  const app = Object.assign(new Emitter(), {
    requestSingleInstanceLock: () => state.singleInstance,
    whenReady: () => Promise.resolve(),
    quit: () => void state.quits++,
    exit: (code: number) => void state.exitCodes.push(code),
    getPath: (name: string) => (name === 'userData' ? state.userData : '/nonexistent'),
  });
  const module = {
    app,
    BrowserWindow: FakeBrowserWindow,
    Menu: { setApplicationMenu: (menu: unknown) => void state.menus.push(menu) },
    globalShortcut: {
      register: (accelerator: string, callback: () => void) => {
        state.shortcuts.set(accelerator, callback);
        return true;
      },
      unregisterAll: () => void state.unregisteredAll++,
    },
    ipcMain: { handle: (channel: string, handler: Listener) => void state.handlers.set(channel, handler) },
    contextBridge: { exposeInMainWorld: (key: string, api: unknown) => void state.exposed.set(key, api) },
    ipcRenderer: {
      invoke: (...args: unknown[]) => {
        state.invoked.push(args);
        return Promise.resolve({ ok: false, reason: 'refused' });
      },
    },
  };
  function reset(): void {
    FakeBrowserWindow.all = [];
    app.listeners.clear();
    Object.assign(state, { singleInstance: true, userData: '', quits: 0, exitCodes: [], menus: [], unregisteredAll: 0, invoked: [] });
    state.shortcuts.clear();
    state.handlers.clear();
    state.exposed.clear();
  }
  return { FakeEvent, FakeBrowserWindow, state, module, reset };
});

vi.mock('electron', () => fake.module);

const { buildPreload, main, startKiosk } = await import('./main.js');
const core = await import('./shell-core.js');
const { Backoff, ConfigError, EXIT_CHANNEL, EXIT_SHORTCUT, hashPin, loadShellConfig } = core;
type KioskLogEvent = import('./shell-core.js').KioskLogEvent;
type FakeWindow = InstanceType<typeof fake.FakeBrowserWindow>;

const HUB = 'http://192.168.10.2:8080/tablet';
const PIN = '246810';
const PIN_HASH = hashPin(PIN);
const OFFLINE = '/opt/haochaping/kiosk-ui/shell/offline.html';
const config = { hubUrl: HUB, tabletId: 'TAB-01', pinHash: PIN_HASH, reloadAfterHangS: 7 };

beforeEach(() => {
  fake.reset();
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

async function boot() {
  const logs: KioskLogEvent[] = [];
  const kiosk = await startKiosk({ config, offlinePage: OFFLINE, preload: '/var/lib/kiosk/preload.cjs', backoff: { random: () => 0 }, log: (line) => void logs.push(line) });
  expect(kiosk).not.toBeNull();
  const win = fake.FakeBrowserWindow.all[0]!;
  return { kiosk: kiosk!, win, contents: win.webContents, logs };
}

const lastLoad = (win: FakeWindow) => win.loads.at(-1);
const failLoad = (win: FakeWindow, url = HUB, code = -102, isMainFrame = true) =>
  win.webContents.emit('did-fail-load', new fake.FakeEvent(), code, 'ERR_CONNECTION_REFUSED', url, isMainFrame, 1, 1);
const finishLoad = (win: FakeWindow, url = HUB) => {
  win.webContents.url = url;
  win.webContents.emit('did-finish-load');
};
const navigate = (win: FakeWindow, name: 'will-navigate' | 'will-redirect', url: string) => {
  const event = new fake.FakeEvent(url);
  win.webContents.emit(name, event, url);
  return event.defaultPrevented;
};

describe('kiosk window', () => {
  it('is full screen with no menu, frame, dev tools, Node or preload, and loads the hub', async () => {
    const { win } = await boot();
    expect(fake.FakeBrowserWindow.all).toHaveLength(1);
    expect(win.options).toMatchObject({
      fullscreen: true,
      kiosk: true,
      frame: false,
      autoHideMenuBar: true,
      webPreferences: { contextIsolation: true, nodeIntegration: false, sandbox: true, devTools: false, webviewTag: false },
    });
    expect(win.options['webPreferences'].preload).toBeUndefined();
    expect(fake.state.menus).toEqual([null]);
    expect(win.loads).toEqual([{ url: HUB }]);
    const granted: boolean[] = [];
    win.webContents.permissionHandler!(win.webContents, 'media', (ok) => granted.push(ok));
    expect(granted).toEqual([false]);
  });

  it('does not start a second shell', async () => {
    fake.state.singleInstance = false;
    const kiosk = await startKiosk({ config, offlinePage: OFFLINE, preload: '/p.cjs', log: () => {} });
    expect(kiosk).toBeNull();
    expect(fake.state.quits).toBe(1);
    expect(fake.FakeBrowserWindow.all).toHaveLength(0);
  });
});

describe('navigation guard', () => {
  it('keeps the page on the hub origin and denies every window.open', async () => {
    const { win, logs } = await boot();
    expect(navigate(win, 'will-navigate', 'http://192.168.10.2:8080/dashboard?x=1')).toBe(false);
    for (const away of ['https://example.com/', 'http://192.168.10.2:8081/tablet', 'https://192.168.10.2:8080/tablet', 'file:///etc/passwd', 'javascript:alert(1)', 'not a url']) {
      expect(navigate(win, 'will-navigate', away), away).toBe(true);
    }
    expect(navigate(win, 'will-redirect', 'http://192.168.10.2:8080/tablet')).toBe(false);
    expect(navigate(win, 'will-redirect', 'http://captive.portal/login')).toBe(true);
    expect(win.webContents.openHandler!({ url: 'https://example.com/' })).toEqual({ action: 'deny' });
    expect(win.webContents.openHandler!({ url: HUB })).toEqual({ action: 'deny' });
    const webview = new fake.FakeEvent();
    win.webContents.emit('will-attach-webview', webview, {}, {});
    expect(webview.defaultPrevented).toBe(true);
    expect(logs).toContainEqual({ event: 'navigation-refused', url: 'http://captive.portal/login' });
    expect(win.loads).toEqual([{ url: HUB }]);
  });
});

describe('renderer crash and hang', () => {
  it('reloads the hub after the renderer is gone', async () => {
    const { win, logs } = await boot();
    finishLoad(win);
    win.webContents.emit('render-process-gone', new fake.FakeEvent(), { reason: 'crashed', exitCode: 139 });
    expect(win.loads).toEqual([{ url: HUB }, { url: HUB }]);
    expect(logs).toContainEqual({ event: 'renderer-gone', reason: 'crashed' });
  });

  it('ends and reloads a renderer unresponsive for reloadAfterHangS', async () => {
    const { win } = await boot();
    finishLoad(win);
    win.emit('unresponsive');
    vi.advanceTimersByTime(6_999);
    expect(win.webContents.crashes).toBe(0);
    expect(win.loads).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(win.webContents.crashes).toBe(1);
    expect(win.loads).toEqual([{ url: HUB }, { url: HUB }]);
    // The kill's own render-process-gone does not load the hub a third time.
    win.webContents.emit('render-process-gone', new fake.FakeEvent(), { reason: 'killed', exitCode: 9 });
    expect(win.loads).toHaveLength(2);
  });

  it('leaves a renderer alone that answers again in time', async () => {
    const { win } = await boot();
    finishLoad(win);
    win.emit('unresponsive');
    vi.advanceTimersByTime(5_000);
    win.emit('responsive');
    vi.advanceTimersByTime(60_000);
    expect(win.webContents.crashes).toBe(0);
    expect(win.loads).toHaveLength(1);
  });
});

describe('reconnect', () => {
  it('shows the offline page and retries with growing delays, then the hub when it answers', async () => {
    const { win, kiosk } = await boot();
    for (const delay of [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]) {
      failLoad(win);
      expect(lastLoad(win)).toEqual({ file: OFFLINE, query: { retry: String(delay / 1000), tablet: 'TAB-01' } });
      expect(kiosk.controller.state).toBe('offline');
      vi.advanceTimersByTime(delay - 1);
      expect(lastLoad(win)).toHaveProperty('file');
      vi.advanceTimersByTime(1);
      expect(lastLoad(win)).toEqual({ url: HUB });
    }
    finishLoad(win);
    expect(kiosk.controller.state).toBe('online');
    // After a success the backoff starts over.
    failLoad(win);
    expect(lastLoad(win)).toEqual({ file: OFFLINE, query: { retry: '1', tablet: 'TAB-01' } });
  });

  it('ignores aborted loads, subframes and the offline page finishing', async () => {
    const { win, kiosk } = await boot();
    failLoad(win, HUB, -3);
    failLoad(win, HUB, -102, false);
    expect(win.loads).toHaveLength(1);
    failLoad(win);
    finishLoad(win, `file://${OFFLINE}?retry=1`);
    finishLoad(win, HUB); // the failed load's error page, after the failure: not the hub answering
    expect(kiosk.controller.state).toBe('offline');
    failLoad(win); // a second report of the same outage does not schedule a second retry
    expect(win.loads).toHaveLength(2);
    vi.advanceTimersByTime(1_000);
    expect(win.loads).toHaveLength(3);
  });

  it('treats a hub that never answers, or answers 5xx, as unreachable', async () => {
    const { win } = await boot();
    vi.advanceTimersByTime(29_999);
    expect(win.loads).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(lastLoad(win)).toHaveProperty('file', OFFLINE);
    vi.advanceTimersByTime(1_000);
    win.webContents.emit('did-navigate', new fake.FakeEvent(), HUB, 503, 'Service Unavailable');
    expect(lastLoad(win)).toEqual({ file: OFFLINE, query: { retry: '2', tablet: 'TAB-01' } });
  });

  it('jitters each delay by at most a fifth, below the 30 s cap', () => {
    const draws = [0.999, 0.5, 0, 0.25];
    const backoff = new Backoff({ random: () => draws.shift() ?? 0.999 });
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toEqual([800, 1_800, 4_000, 7_600, 12_803]);
    for (let i = 0; i < 20; i++) {
      const delay = backoff.next();
      expect(delay).toBeGreaterThanOrEqual(24_000);
      expect(delay).toBeLessThanOrEqual(30_000);
    }
  });
});

describe('technician exit', () => {
  async function withDialog() {
    const booted = await boot();
    fake.state.shortcuts.get(EXIT_SHORTCUT)!();
    const dialog = fake.FakeBrowserWindow.all[1]!;
    const ask = (pin: unknown, sender: unknown = dialog.webContents) => fake.state.handlers.get(EXIT_CHANNEL)!({ sender }, pin);
    return { ...booted, dialog, ask };
  }

  it('opens one PIN dialog, the only window with the preload', async () => {
    const { win, dialog, kiosk } = await withDialog();
    expect(dialog.options).toMatchObject({ parent: win, modal: true, webPreferences: { preload: '/var/lib/kiosk/preload.cjs', sandbox: true, contextIsolation: true, devTools: false } });
    expect(lastLoad(dialog)).toHaveProperty('url', expect.stringMatching(/^data:text\/html/));
    expect(navigate(dialog, 'will-navigate', HUB)).toBe(true);
    kiosk.openExitDialog();
    expect(fake.FakeBrowserWindow.all).toHaveLength(2);
    expect(dialog.focusCount).toBe(1);
  });

  it('opens the dialog from the chord typed in the kiosk window too, and from nothing else', async () => {
    const { win } = await boot();
    const key = (input: Record<string, unknown>) => {
      const event = new fake.FakeEvent();
      win.webContents.emit('before-input-event', event, { type: 'keyDown', key: 'Q', control: true, meta: false, alt: true, shift: true, ...input });
      return event.defaultPrevented;
    };
    expect(key({ alt: false })).toBe(false);
    expect(key({ type: 'keyUp' })).toBe(false);
    expect(key({ key: 'w' })).toBe(false);
    expect(fake.FakeBrowserWindow.all).toHaveLength(1);
    expect(key({})).toBe(true);
    expect(fake.FakeBrowserWindow.all).toHaveLength(2);
  });

  it('refuses a wrong PIN and keeps the kiosk window from closing', async () => {
    const { win, ask } = await withDialog();
    expect(ask('000000')).toEqual({ ok: false, reason: 'wrong-pin', triesLeft: 4 });
    expect(ask(123456)).toEqual({ ok: false, reason: 'wrong-pin', triesLeft: 3 });
    expect(fake.state.quits).toBe(0);
    win.close();
    expect(win.destroyed).toBe(false);
  });

  it('locks out for 5 minutes after 5 wrong PINs, then accepts the right one and quits', async () => {
    const { win, ask, logs } = await withDialog();
    for (const triesLeft of [4, 3, 2, 1]) expect(ask('111111')).toEqual({ ok: false, reason: 'wrong-pin', triesLeft });
    expect(ask('111111')).toEqual({ ok: false, reason: 'locked', retryAfterS: 300 });
    expect(ask(PIN)).toEqual({ ok: false, reason: 'locked', retryAfterS: 300 });
    vi.advanceTimersByTime(299_000);
    expect(ask(PIN)).toEqual({ ok: false, reason: 'locked', retryAfterS: 1 });
    expect(fake.state.quits).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(ask(PIN)).toEqual({ ok: true });
    expect(fake.state.quits).toBe(1);
    expect(fake.state.unregisteredAll).toBe(1);
    win.close();
    expect(win.destroyed).toBe(true);
    expect(logs.filter((l) => l.event === 'exit-request').map((l) => (l as { result: string }).result)).toEqual([
      'wrong-pin', 'wrong-pin', 'wrong-pin', 'wrong-pin', 'locked', 'locked', 'locked', 'ok',
    ]);
  });

  it('accepts the right PIN only from the dialog, never from the hub page', async () => {
    const { win, ask } = await withDialog();
    expect(ask(PIN, win.webContents)).toEqual({ ok: false, reason: 'refused' });
    expect(fake.state.quits).toBe(0);
    expect(ask(PIN)).toEqual({ ok: true });
    expect(fake.state.quits).toBe(1);
  });
});

describe('config and entry', () => {
  const cleanups = cleanupsAfterEach();
  let dir: string;
  beforeEach(() => {
    dir = tempDir(cleanups, 'kiosk-shell');
  });
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it.each([
    ['missing pinHash', JSON.stringify({ hubUrl: HUB, tabletId: 'TAB-01' }), 'pinHash', /missing required "pinHash"/],
    ['unknown key', JSON.stringify({ ...config, mqttToken: 'x' }), 'mqttToken', /unknown key "mqttToken"/],
    ['ftp hub', JSON.stringify({ ...config, hubUrl: 'ftp://hub/tablet' }), 'hubUrl', /"hubUrl" must be an http/],
    ['plain PIN', JSON.stringify({ ...config, pinHash: '1234' }), 'pinHash', /"pinHash" must be "scrypt\$/],
    ['zero hang', JSON.stringify({ ...config, reloadAfterHangS: 0 }), 'reloadAfterHangS', /"reloadAfterHangS"/],
    ['tablet id with a slash', JSON.stringify({ ...config, tabletId: 'A/B' }), 'tabletId', /"tabletId" must not contain/],
    ['not JSON', '{"hubUrl": \n', '', /is not valid JSON/],
    ['not an object', '[1, 2]', '', /expected a JSON object/],
  ])('%s is a one-line ConfigError naming the key', (name, text, key, message) => {
    const path = file(`${name.replace(/\W/g, '-')}.json`, text);
    let caught: unknown;
    try {
      loadShellConfig(path);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as InstanceType<typeof ConfigError>;
    expect(error.key).toBe(key);
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/^tablet config: [^\n]+$/);
  });

  it('fills the hang default and reads a good file', () => {
    const { reloadAfterHangS, ...rest } = config;
    expect(loadShellConfig(file('good.json', JSON.stringify(rest)))).toEqual({ ...rest, reloadAfterHangS: 10 });
  });

  it('main() with a bad config prints one line and exits 2 without a window', async () => {
    const errors: unknown[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((...args) => void errors.push(args.join(' ')));
    try {
      await main(['electron', 'main.js', '--config', file('bad.json', JSON.stringify({ hubUrl: HUB }))]);
    } finally {
      spy.mockRestore();
    }
    expect(errors).toEqual(['tablet config: missing required "tabletId"']);
    expect(fake.state.exitCodes).toEqual([2]);
    expect(fake.FakeBrowserWindow.all).toHaveLength(0);
  });

  it('main() with a good config opens the kiosk with the preload bundled into userData', async () => {
    vi.useRealTimers(); // esbuild's service runs on real I/O; nothing here waits on a clock
    fake.state.userData = join(dir, 'user-data');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const kiosk = await main(['electron', 'main.js', `--config=${file('main.json', JSON.stringify(config))}`]);
      kiosk!.controller.stop();
      kiosk!.openExitDialog();
    } finally {
      log.mockRestore();
    }
    const [win, dialog] = fake.FakeBrowserWindow.all;
    expect(win!.loads).toEqual([{ url: HUB }]);
    expect(dialog!.options['webPreferences'].preload).toBe(join(dir, 'user-data', 'kiosk-preload.cjs'));
  });

  it('the preload, bundled, is a classic script exposing only kiosk.requestExit', async () => {
    vi.useRealTimers();
    const target = await buildPreload(new URL('./preload.ts', import.meta.url).pathname, join(dir, 'preload.cjs'));
    const code = readFileSync(target, 'utf8');
    // What a sandboxed preload is: a function body with a `require` for electron. An `import`
    // or `export` (tsc's ESM output) would be a SyntaxError here.
    new Function('require', 'exports', 'module', code)((id: string) => (id === 'electron' ? fake.module : undefined), {}, { exports: {} });
    const api = fake.state.exposed.get('kiosk') as Record<string, (pin: unknown) => Promise<unknown>>;
    expect([...fake.state.exposed.keys()]).toEqual(['kiosk']);
    expect(Object.keys(api)).toEqual(['requestExit']);
    await api['requestExit']!('246810');
    await api['requestExit']!({ toString: () => '246810' });
    expect(fake.state.invoked).toEqual([
      [EXIT_CHANNEL, '246810'],
      [EXIT_CHANNEL, ''],
    ]);
  });
});

describe('offline page', () => {
  const html = readFileSync(new URL('./offline.html', import.meta.url), 'utf8');

  it('says it is connecting in Chinese and English, in large type', () => {
    expect(html).toContain('正在连接服务器…');
    expect(html).toContain('Connecting to the hall server…');
    const sizes = [...html.matchAll(/font-size:\s*(\d+)px/g)].map((m) => Number(m[1]));
    expect(sizes.length).toBeGreaterThan(0);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(24);
    expect(html).not.toMatch(/(src|href)\s*=\s*"(https?:)?\/\//); // nothing to fetch while offline
  });

  it('has text colours of at least 7:1 contrast on its background (WCAG AAA)', () => {
    const colour = (name: string) => html.match(new RegExp(`--${name}:\\s*#([0-9a-f]{6})`))![1]!;
    const luminance = (hex: string) => {
      const [r, g, b] = [0, 2, 4].map((i) => {
        const c = parseInt(hex.slice(i, i + 2), 16) / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      }) as [number, number, number];
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const ratio = (a: string, b: string) => {
      const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
      return (hi + 0.05) / (lo + 0.05);
    };
    expect(ratio(colour('fg'), colour('bg'))).toBeGreaterThanOrEqual(7);
    expect(ratio(colour('muted'), colour('bg'))).toBeGreaterThanOrEqual(7);
  });
});
