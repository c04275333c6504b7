/**
 * The kiosk, dashboard and technician pages, served by the hub (DESIGN "Hall tablet": a
 * tablet, a browser and the tests all load the same pages). Each page is an HTML file in
 * `kiosk-ui/pages/` and a TypeScript entry bundled for the browser. The build
 * (`npm run build`, scripts/build-pages.ts) puts the bundles in `assets/` beside the compiled
 * pages and the hub serves them as files; under tsx in development there is no `assets/`, and
 * a page is bundled with esbuild on first request instead (esbuild is a build tool: it is
 * loaded only then, never on a hall server).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { requestUrl } from './http.js';
import type { Logger } from './log.js';

/** Where the pages are: `kiosk-ui/pages/` beside `hub/`, in the sources or in `dist/`. */
const ROOT = new URL('../kiosk-ui/pages/', import.meta.url).pathname;
const PAGES: Record<string, string> = { '/tablet': 'tablet.html', '/dashboard': 'dashboard.html', '/tech': 'technician.html', '/public': 'public.html' };
/** The TypeScript entries bundled for the browser, by name (`/assets/{name}.js`). */
export const PAGE_ENTRIES = ['tablet', 'dashboard', 'technician', 'rate', 'public'] as const;
/** [r2] A QR rating link (PROTOCOL 8): one phone page for every token, which its script reads from the path. */
const RATE_LINK = /^\/r\/[^/]{1,1000}$/;
const require = createRequire(import.meta.url);

/** mqtt.js's browser build (its package exports do not list the dist files, so by path). */
export const MQTT_BROWSER_BUNDLE = join(dirname(require.resolve('mqtt')), '..', 'dist', 'mqtt.min.js');

/** How a page is bundled, the same at build time and on demand. */
export const browserBuildOptions = { bundle: true, format: 'esm', target: 'chrome100', minify: true, sourcemap: false } as const;

/** A built hub has its bundles as files; the sources under tsx do not. */
const BUILT = existsSync(join(ROOT, 'assets'));
const bundles = new Map<string, Promise<string>>();

function bundle(name: string): Promise<string> {
  if (BUILT) return readFile(join(ROOT, 'assets', `${name}.js`), 'utf8');
  let p = bundles.get(name);
  if (!p) {
    p = import('esbuild')
      .then(({ build }) => build({ ...browserBuildOptions, entryPoints: [join(ROOT, `${name}.ts`)], write: false, logLevel: 'silent' }))
      .then((r) => r.outputFiles[0]!.text);
    p.catch(() => bundles.delete(name)); // a broken build is retried on the next request
    bundles.set(name, p);
  }
  return p;
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    // the staff pages keep a token: no other site may frame them (clickjacking)
    'x-frame-options': 'DENY',
    'content-security-policy': "frame-ancestors 'none'",
  });
  res.end(body);
}

/** A page or asset that cannot be read: logged with its cause and answered 500, never a reset. */
function failed(res: ServerResponse, log: Logger, path: string, error: unknown): void {
  log({ level: 'error', msg: 'page or asset cannot be served', path, error: (error as Error).message.split('\n')[0] });
  send(res, 500, 'text/plain; charset=utf-8', 'this page cannot be shown; the hub log says why');
}

/** Serves a page or asset; false when the path is not one of ours. */
export async function servePage(req: IncomingMessage, res: ServerResponse, log: Logger = () => {}): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const path = requestUrl(req)?.pathname;
  if (!path) return false;
  if (path === '/') {
    res.writeHead(302, { location: '/tablet' });
    res.end();
    return true;
  }
  const page = Object.hasOwn(PAGES, path) ? PAGES[path] : RATE_LINK.test(path) ? 'rate.html' : undefined;
  const asset = /^\/assets\/([a-z-]+)\.(js|css)$/.exec(path);
  try {
    if (page) send(res, 200, 'text/html; charset=utf-8', await readFile(join(ROOT, page)));
    else if (asset) {
      const [, name, ext] = asset;
      const known = ext === 'css' ? existsSync(join(ROOT, `${name}.css`)) : (PAGE_ENTRIES as readonly string[]).includes(name!);
      if (!known) send(res, 404, 'text/plain; charset=utf-8', `no asset ${path}`);
      else if (ext === 'css') send(res, 200, 'text/css; charset=utf-8', await readFile(join(ROOT, `${name}.css`)));
      else send(res, 200, 'text/javascript; charset=utf-8', await bundle(name!));
    } else if (path === '/favicon.ico') {
      res.writeHead(204);
      res.end();
    } else if (path === '/vendor/mqtt.min.js') {
      send(res, 200, 'text/javascript; charset=utf-8', await readFile(BUILT ? join(ROOT, 'vendor', 'mqtt.min.js') : MQTT_BROWSER_BUNDLE));
    } else return false;
  } catch (error) {
    failed(res, log, path, error);
  }
  return true;
}
