/**
 * Hub idle RSS, as a hall server runs it: the build (`npm run build` into a temporary
 * directory, with package.json and the installed packages beside it, as tests/built-hub.test.ts
 * does), started with plain node and the flags of docs/deploy/haochaping-hub.service, no tsx.
 * 64 evaluators (frame-level peers over 64 socat ptys, welcomed and answering keepalives) and 8
 * tablets (mqtt.js over WebSocket) connected, then a quiet spell. Baseline: the same compiled
 * hub with nothing connected. For reference also a bare `node` process, and each process's RSS
 * split into anonymous memory (heaps) and file pages (the node binary, native addons).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import { ptyPair, tempDir, waitFor, type PtyPair } from '../../simulators/pty.js';
import { DevicePeer } from '../../tests/support/hub.js';
import { result, type BenchResult } from './measure.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const ADMIN_TOKEN = 'bench-idle-admin-token';

interface Rss {
  rss: number;
  anon: number;
  file: number;
}

function rssOf(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kB = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]);
  const mib = (v: number) => Number((v / 1024).toFixed(1));
  return { rss: mib(kB('VmRSS')), anon: mib(kB('RssAnon')), file: mib(kB('RssFile') + kB('RssShmem')) };
}

const quiet = (ms: number) => new Promise((r) => setTimeout(r, ms)); // the point of an idle measurement is to wait

/** The node flags of the systemd unit's ExecStart (`/usr/bin/node [flags] dist/hub/cli.js ...`). */
export function unitNodeFlags(): string[] {
  const unit = readFileSync(join(ROOT, 'docs/deploy/haochaping-hub.service'), 'utf8');
  const exec = /^ExecStart=\S+\s+(.*)$/m.exec(unit)![1]!.split(/\s+/);
  return exec.slice(0, exec.indexOf('dist/hub/cli.js'));
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${out}`))));
  });
}

/** `npm run build` into a fresh directory laid out as a hall server: dist/, package.json, node_modules. */
export async function buildApp(): Promise<string> {
  const build = tempDir('idle-build');
  await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(build, 'dist')]);
  await run(process.execPath, ['--import', 'tsx', 'scripts/build-pages.ts', join(build, 'dist')]);
  const app = tempDir('idle-app');
  cpSync(join(build, 'dist'), join(app, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'));
  rmSync(build, { recursive: true, force: true });
  return app;
}

interface BuiltHub {
  child: ChildProcess;
  url: string;
  api(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** The compiled hub with plain node: resolves when it logs "hub started". */
async function startBuiltHub(app: string, dir: string, config: Record<string, unknown>): Promise<BuiltHub> {
  const file = join(dir, 'hall.json');
  writeFileSync(file, JSON.stringify({ adminToken: ADMIN_TOKEN, http: { host: '127.0.0.1', port: 0 }, devices: { discover: { serial: false, hid: false } }, dataDir: join(dir, 'data'), ...config }));
  const child = spawn(process.execPath, [...unitNodeFlags(), join(app, 'dist/hub/cli.js'), '--config', file], { cwd: app, env: { ...process.env, HCP_LOG_LEVEL: 'info' } });
  const lines: string[] = [];
  const listeners = new Set<(line: string) => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      for (const l of listeners) l(line);
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const started = await Promise.race([
    waitFor<string>((l) => (listeners.add(l), () => listeners.delete(l)), (l) => l.includes('"hub started"'), 30_000, 'the built hub to start'),
    exited.then((code) => {
      throw new Error(`the built hub exited with ${code}: ${lines.join(' | ')}`);
    }),
  ]);
  const url = (JSON.parse(started) as { http: string }).http;
  return {
    child,
    url,
    api: async (method, path, body) => {
      const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return (await res.json()) as Record<string, unknown>;
    },
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, quiet(10_000).then(() => child.kill('SIGKILL'))]);
    },
  };
}

export async function idleRss(devices = 64, tablets = 8): Promise<BenchResult> {
  const windows = Array.from({ length: devices }, (_, i) => ({ id: `W${String(i + 1).padStart(2, '0')}`, deviceId: `HCP5-IDLE${String(i + 1).padStart(2, '0')}` }));
  const app = await buildApp();
  const dirs: string[] = [app];
  try {
    // reference: node itself, doing nothing
    const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    await quiet(3000);
    const bareNode = rssOf(bare.pid!);
    bare.kill('SIGKILL');

    // baseline: the compiled hub, nothing connected
    const baseDir = tempDir('idle-base');
    dirs.push(baseDir);
    const base = await startBuiltHub(app, baseDir, { hallId: 'H-IDLE', windows });
    await quiet(10_000);
    const baseline = rssOf(base.child.pid!);
    await base.stop();

    const dir = tempDir('idle');
    dirs.push(dir);
    const ptys: PtyPair[] = [];
    for (let i = 0; i < devices; i++) ptys.push(await ptyPair());
    const hub = await startBuiltHub(app, dir, { hallId: 'H-IDLE', windows, devices: { serial: ptys.map((p) => ({ path: p.b })), discover: { serial: false, hid: false } } });
    const peers = await Promise.all(ptys.map((p, i) => DevicePeer.open(p.a, windows[i]!.deviceId)));
    await Promise.all(peers.map((p) => p.hello(1, 60_000)));
    const clients = [];
    for (let i = 0; i < tablets; i++) {
      const json = await hub.api('POST', `/api/devices/TAB-${i}/pair`, { windowId: windows[i]!.id });
      clients.push(await mqtt.connectAsync(`ws://${new URL(hub.url).host}/mqtt`, { username: `TAB-${i}`, password: json['token'] as string, protocolVersion: 4, reconnectPeriod: 0 }));
      await clients[i]!.subscribeAsync([`hall/H-IDLE/public/#`, `hall/H-IDLE/tablets/TAB-${i}/#`], { qos: 1 });
    }
    const health = await hub.api('GET', '/api/health');
    await quiet(10_000);
    const figure = rssOf(hub.child.pid!);
    for (const c of clients) await c.endAsync(true);
    for (const p of peers) await p.close();
    await hub.stop();
    for (const p of ptys) await p.close();
    return result({
      bench: 'idle-rss',
      figure: figure.rss,
      unit: `MiB RSS of the compiled hub (node ${unitNodeFlags().join(' ')} dist/hub/cli.js), idle, ${devices} evaluators and ${tablets} tablets connected`,
      baseline: baseline.rss,
      baselineName: 'MiB RSS of the same compiled hub with nothing connected',
      split: { connected: figure, nothingConnected: baseline, bareNode },
      devicesOnline: (health['devices'] as { online: number }).online,
    });
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
