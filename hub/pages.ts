/**
 * The kiosk, dashboard and technician pages, served by the hub (DESIGN "Hall tablet": a
 * tablet, a browser and the tests all load the same pages). Each page is an HTML file in
 * `kiosk-ui/pages/` and a TypeScript entry bundled for the browser. The build
 * (`npm run build`, scripts/build-pages.ts) puts the bundles in `assets/` beside the compiled
 * pages and the hub serves them as files; under tsx in development there is no `assets/`, and
 * a page is bundled with esbuild on first request instead (esbuild is a build tool: it is
 * loaded only then, never on a hall server).
 *
 * A hall tablet is a cheap one on the hall's Wi-Fi (issue 15 goal 8): every page and asset is
 * sent brotli- or gzip-compressed when the browser accepts it (identity bytes otherwise), with
 * an ETag, so a tablet revalidates (`no-cache`) and gets a 304 instead of the bytes again. The
 * build writes the compressed files beside each one at the highest settings (`.br`, `.gz`); in
 * development they are compressed on first request at quicker settings and kept in memory.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import { requestUrl } from './http.js';
import type { Logger } from './log.js';

/** Where the pages are: `kiosk-ui/pages/` beside `hub/`, in the sources or in `dist/`. */
const ROOT = new URL('../kiosk-ui/pages/', import.meta.url).pathname;
const PAGES: Record<string, string> = { '/tablet': 'tablet.html', '/dashboard': 'dashboard.html', '/tech': 'technician.html', '/public': 'public.html' };
/** The TypeScript entries bundled for the browser, by name (`/assets/{name}.js`). */
export const PAGE_ENTRIES = ['tablet', 'tablet-qr', 'dashboard', 'technician', 'rate', 'public'] as const;
/** [r2] A QR rating link (PROTOCOL 8): one phone page for every token, which its script reads from the path. */
const RATE_LINK = /^\/r\/[^/]{1,1000}$/;
const require = createRequire(import.meta.url);

/** mqtt.js's browser build (its package exports do not list the dist files, so by path). */
export const MQTT_BROWSER_BUNDLE = join(dirname(require.resolve('mqtt')), '..', 'dist', 'mqtt.min.js');

/**
 * How a page is bundled, the same at build time and on demand. What a page loads only on demand
 * is an entry of its own, left out of the page's bundle and imported by its URL (`/assets/`).
 */
export const browserBuildOptions = { bundle: true, format: 'esm', target: 'chrome100', minify: true, sourcemap: false, external: ['./tablet-qr.js'] as string[] } as const;

/** A built hub has its bundles as files; the sources under tsx do not. */
const BUILT = existsSync(join(ROOT, 'assets'));
const bundles = new Map<string, Promise<Buffer>>();

function bundle(name: string): Promise<Buffer> {
  if (BUILT) return readFile(join(ROOT, 'assets', `${name}.js`));
  let p = bundles.get(name);
  if (!p) {
    p = import('esbuild')
      .then(({ build }) => build({ ...browserBuildOptions, entryPoints: [join(ROOT, `${name}.ts`)], write: false, logLevel: 'silent' }))
      .then((r) => Buffer.from(r.outputFiles[0]!.contents));
    p.catch(() => bundles.delete(name)); // a broken build is retried on the next request
    bundles.set(name, p);
  }
  return p;
}

const HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // the staff pages keep a token: no other site may frame them (clickjacking)
  'x-frame-options': 'DENY',
  'content-security-policy': "frame-ancestors 'none'",
} as const;

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache', ...HEADERS });
  res.end(body);
}

// ---- compression ----
type Coding = 'br' | 'gzip';
/** A page or asset as it can be sent: its bytes, compressed each way, and its ETag. */
interface Representation {
  identity: Buffer;
  br: Buffer;
  gzip: Buffer;
  etag: string;
}

const brotli = promisify(brotliCompress);
const gzipped = promisify(gzip);

/**
 * Compresses both ways: `best` at the build (brotli 11: mqtt.js's 334 KB in about 1.5 s, 88 KB),
 * otherwise quick enough for a first request in development (brotli 5: 50 ms, 96 KB).
 */
export async function compress(bytes: Buffer, best: boolean): Promise<{ br: Buffer; gzip: Buffer }> {
  const [br, gz] = await Promise.all([
    brotli(bytes, { params: { [zlib.BROTLI_PARAM_QUALITY]: best ? 11 : 5, [zlib.BROTLI_PARAM_SIZE_HINT]: bytes.length } }),
    gzipped(bytes, { level: best ? 9 : 6 }),
  ]);
  return { br, gzip: gz };
}

/** The suffix of a compressed file the build writes beside the file. */
export const COMPRESSED_SUFFIX: Record<Coding, string> = { br: '.br', gzip: '.gz' };

/** By what is served (a path or bundle name): the representation of its current bytes. */
const represented = new Map<string, { hash: string; rep: Promise<Representation> }>();

/**
 * The representation of `bytes`, made once per content: on a built hub from the compressed
 * files the build wrote beside `file`, otherwise compressed here.
 */
function represent(key: string, bytes: Buffer, file?: string): Promise<Representation> {
  const hash = createHash('sha256').update(bytes).digest('base64url').slice(0, 22);
  const hit = represented.get(key);
  if (hit?.hash === hash) return hit.rep;
  const rep = (async (): Promise<Representation> => {
    const built = BUILT && file && existsSync(file + COMPRESSED_SUFFIX.br) && existsSync(file + COMPRESSED_SUFFIX.gzip);
    const compressed = built ? { br: await readFile(file + COMPRESSED_SUFFIX.br), gzip: await readFile(file + COMPRESSED_SUFFIX.gzip) } : await compress(bytes, false);
    return { identity: bytes, ...compressed, etag: hash };
  })();
  rep.catch(() => represented.delete(key));
  represented.set(key, { hash, rep });
  return rep;
}

/** The coding the request accepts that the hub prefers: brotli, then gzip, else none. */
export function acceptedCoding(header: string | string[] | undefined): Coding | undefined {
  const q = new Map<string, number>();
  for (const part of String(header ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const weight = params.map((p) => /^\s*q=(.*)$/.exec(p)?.[1]).find((v) => v !== undefined); // a malformed weight counts as 0
    if (name) q.set(name, weight === undefined ? 1 : Number(weight) || 0);
  }
  const ok = (name: Coding) => (q.get(name) ?? q.get('*') ?? 0) > 0;
  return ok('br') ? 'br' : ok('gzip') ? 'gzip' : undefined;
}

/** Sends a page or asset in the coding the browser accepts; 304 when it already has these bytes. */
async function sendRepresented(req: IncomingMessage, res: ServerResponse, type: string, key: string, bytes: Buffer, file?: string): Promise<void> {
  const rep = await represent(key, bytes, file);
  const coding = acceptedCoding(req.headers['accept-encoding']);
  // one tag per coding: the compressed bytes are other bytes
  const etag = `"${rep.etag}${coding ? `-${coding}` : ''}"`;
  const headers = { 'content-type': type, 'cache-control': 'no-cache', vary: 'Accept-Encoding', etag, ...HEADERS };
  const known = String(req.headers['if-none-match'] ?? '')
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''));
  if (known.includes(etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const body = coding ? rep[coding] : rep.identity;
  res.writeHead(200, { ...headers, ...(coding ? { 'content-encoding': coding } : {}), 'content-length': body.length });
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
    if (page) {
      const file = join(ROOT, page);
      await sendRepresented(req, res, 'text/html; charset=utf-8', page, await readFile(file), file);
    } else if (asset) {
      const [, name, ext] = asset;
      const file = ext === 'css' ? join(ROOT, `${name}.css`) : join(ROOT, 'assets', `${name}.js`);
      const known = ext === 'css' ? existsSync(file) : (PAGE_ENTRIES as readonly string[]).includes(name!);
      if (!known) send(res, 404, 'text/plain; charset=utf-8', `no asset ${path}`);
      else await sendRepresented(req, res, ext === 'css' ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8', path, ext === 'css' ? await readFile(file) : await bundle(name!), file);
    } else if (path === '/favicon.ico') {
      res.writeHead(204);
      res.end();
    } else if (path === '/vendor/mqtt.min.js') {
      const file = BUILT ? join(ROOT, 'vendor', 'mqtt.min.js') : MQTT_BROWSER_BUNDLE;
      await sendRepresented(req, res, 'text/javascript; charset=utf-8', path, await readFile(file), file);
    } else return false;
  } catch (error) {
    failed(res, log, path, error);
  }
  return true;
}
