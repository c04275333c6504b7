/**
 * What a hall server runs is the build: `npm run build`, then `node dist/hub/cli.js`. This
 * builds into a temporary directory, copies only the build (and package.json, for the module
 * type) to another one with the installed packages beside it, starts it with plain node — no
 * tsx, no sources — and loads the three pages in Chromium.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { sharedBrowser } from './support/browser.js';
import { getBytes } from './support/http-get.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { ROOT, waitFor } from './support/processes.js';

const cleanups = cleanupsAfterEach();
const browser = sharedBrowser();
const TOKEN = 'built-hub-admin-token';

/** Runs a command to its end; rejects with its output when it fails. */
function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${out}`))));
  });
}

describe('the built hub', () => {
  it('is built whole, runs with node alone, and serves every page, asset and API', async () => {
    const build = tempDir(cleanups, 'build');
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(build, 'dist')]);
    await run(process.execPath, ['--import', 'tsx', 'scripts/build-pages.ts', join(build, 'dist')]);

    // the hall server: the build, package.json and the installed packages; no sources, no tsx run
    const app = tempDir(cleanups, 'app');
    cpSync(join(build, 'dist'), join(app, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'));
    expect(existsSync(join(app, 'hub'))).toBe(false);
    expect(existsSync(join(app, 'dist/kiosk-ui/pages/assets/tablet.js'))).toBe(true);

    const config = join(app, 'hall.json');
    writeFileSync(config, JSON.stringify({ hallId: '430300-001', hallName: '湘潭市政务服务中心', adminToken: TOKEN, dataDir: join(app, 'data'), http: { host: '127.0.0.1', port: 0 }, devices: { discover: { serial: false, hid: false } }, windows: [{ id: 'A01', name: 'A01 综合受理' }] }));
    const hub = spawn(process.execPath, [join(app, 'dist/hub/cli.js'), '--config', config], { cwd: app });
    cleanups.push(() => hub.kill('SIGKILL'));
    const lines: string[] = [];
    const listeners = new Set<(l: string) => void>();
    for (const stream of [hub.stdout, hub.stderr]) {
      createInterface({ input: stream }).on('line', (l) => {
        lines.push(l);
        for (const f of listeners) f(l);
      });
    }
    const started = lines.find((l) => l.includes('"hub started"')) ?? (await waitFor<string>((f) => (listeners.add(f), () => listeners.delete(f)), (l) => l.includes('"hub started"'), 30_000, 'the built hub to start'));
    const base = (JSON.parse(started) as { http: string }).http;

    for (const path of ['/tablet', '/dashboard', '/tech', '/public', '/api/public', '/assets/tablet.js', '/assets/dashboard.js', '/assets/technician.js', '/assets/public.js', '/assets/rate.js', '/assets/tablet.css', '/vendor/mqtt.min.js', '/api/health']) {
      expect((await fetch(`${base}${path}`)).status, path).toBe(200);
    }
    expect((await fetch(`${base}/assets/nothing.js`)).status).toBe(404);
    // the tablet's page and assets as the build compressed them (issue 15 goal 8), identity bytes to a client that accepts none
    for (const [path, file] of [['/tablet', 'tablet.html'], ['/assets/tablet.js', 'assets/tablet.js'], ['/assets/tablet-qr.js', 'assets/tablet-qr.js'], ['/assets/tablet.css', 'tablet.css'], ['/vendor/mqtt.min.js', 'vendor/mqtt.min.js']]) {
      const built = join(app, 'dist/kiosk-ui/pages', file!);
      const br = await getBytes(`${base}${path}`, { 'accept-encoding': 'gzip, deflate, br' });
      expect([br.headers['content-encoding'], br.headers['vary']], path).toEqual(['br', 'Accept-Encoding']);
      expect(br.body.equals(readFileSync(`${built}.br`)), `${path}: the build's brotli file`).toBe(true);
      const gzip = await getBytes(`${base}${path}`, { 'accept-encoding': 'gzip' });
      expect(gzip.headers['content-encoding'], path).toBe('gzip');
      expect(gunzipSync(gzip.body).equals(readFileSync(built)), `${path}: gzip of the built file`).toBe(true);
      const plain = await getBytes(`${base}${path}`);
      expect(plain.headers['content-encoding'], path).toBeUndefined();
      expect(plain.body.equals(readFileSync(built)), `${path}: the built file's bytes`).toBe(true);
      expect((await getBytes(`${base}${path}`, { 'accept-encoding': 'br', 'if-none-match': br.headers['etag'] as string })).status, `${path}: revalidated`).toBe(304);
    }

    const page = await browser().newPage();
    cleanups.push(() => page.close());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const pair = await fetch(`${base}/api/devices/TAB-01/pair`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ windowId: 'A01' }) });
    const { token } = (await pair.json()) as { token: string };
    await page.goto(`${base}/tablet?tablet=TAB-01&token=${token}`);
    await page.waitForFunction(() => document.querySelectorAll('[data-level]').length === 5, undefined, { timeout: 10_000 });
    await page.goto(`${base}/dashboard`);
    await page.waitForFunction(() => document.body.innerText.includes('好差评'), undefined, { timeout: 10_000 });
    await page.goto(`${base}/tech`);
    await page.waitForFunction(() => document.body.innerText.length > 0 && !!document.querySelector('input, button'), undefined, { timeout: 10_000 });
    expect(errors).toEqual([]);
    expect(lines.filter((l) => l.includes('"level":"error"'))).toEqual([]);
  }, 120_000);
});
