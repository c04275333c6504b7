/**
 * The kiosk, dashboard and technician pages, served by the hub (DESIGN "Hall tablet": a
 * tablet, a browser and the tests all load the same pages). Each page is an HTML file in
 * `kiosk-ui/pages/` and a TypeScript entry bundled for the browser by esbuild on first
 * request (cached), so the pages share the project's catalogue and protocol code.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import type { Logger } from './log.js';
import { requestUrl } from './http.js';

const ROOT = new URL('../kiosk-ui/pages/', import.meta.url).pathname;
const PAGES: Record<string, string> = { '/tablet': 'tablet.html', '/dashboard': 'dashboard.html', '/tech': 'technician.html' };
const require = createRequire(import.meta.url);

/** mqtt.js's browser build (its package exports do not list the dist files, so by path). */
const MQTT_BROWSER_BUNDLE = join(dirname(require.resolve('mqtt')), '..', 'dist', 'mqtt.min.js');

const bundles = new Map<string, Promise<string>>();

function bundle(name: string): Promise<string> {
  let p = bundles.get(name);
  if (!p) {
    p = build({
      entryPoints: [join(ROOT, `${name}.ts`)],
      bundle: true,
      write: false,
      format: 'esm',
      target: 'chrome100',
      minify: true,
      sourcemap: false,
      logLevel: 'silent',
    }).then((r) => r.outputFiles[0]!.text);
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
  const page = Object.hasOwn(PAGES, path) ? PAGES[path] : undefined;
  if (page) {
    try {
      send(res, 200, 'text/html; charset=utf-8', await readFile(join(ROOT, page)));
    } catch (error) {
      log({ level: 'error', msg: 'page cannot be served', path, error: (error as Error).message });
      send(res, 500, 'text/plain; charset=utf-8', 'this page cannot be shown; the hub log says why');
    }
    return true;
  }
  const asset = /^\/assets\/([a-z-]+)\.(js|css)$/.exec(path);
  if (asset) {
    const [, name, ext] = asset;
    try {
      if (ext === 'css') send(res, 200, 'text/css; charset=utf-8', await readFile(join(ROOT, `${name}.css`)));
      else send(res, 200, 'text/javascript; charset=utf-8', await bundle(name!));
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT' || /Could not resolve/.test((error as Error).message);
      if (missing) send(res, 404, 'text/plain; charset=utf-8', `no asset ${path}`);
      else {
        log({ level: 'error', msg: 'asset cannot be served', path, error: (error as Error).message.split('\n')[0] });
        send(res, 500, 'text/plain; charset=utf-8', 'this asset cannot be served; the hub log says why');
      }
    }
    return true;
  }
  if (path === '/favicon.ico') {
    res.writeHead(204);
    res.end();
    return true;
  }
  if (path === '/vendor/mqtt.min.js') {
    send(res, 200, 'text/javascript; charset=utf-8', await readFile(MQTT_BROWSER_BUNDLE));
    return true;
  }
  return false;
}
