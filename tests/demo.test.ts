/**
 * `npm start` as a newcomer runs it: with a fixed seed and speed it shows its URLs, ratings
 * reach the platform simulator's database, a cut platform link builds a backlog that drains
 * when restored, and SIGINT stops everything, leaving no process behind.
 */
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { freePort } from './support/mosquitto.js';
import { ROOT, waitFor } from './support/processes.js';

const cleanups = cleanupsAfterEach();

function descendants(pid: number): number[] {
  const out = spawnSync('ps', ['-e', '-o', 'pid=,ppid=']).stdout.toString();
  const children = new Map<number, number[]>();
  for (const line of out.trim().split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    children.set(pp!, [...(children.get(pp!) ?? []), p!]);
  }
  const all: number[] = [];
  const walk = (p: number) => (children.get(p) ?? []).forEach((c) => (all.push(c), walk(c)));
  walk(pid);
  return all;
}

describe('npm start', () => {
  it('runs a living hall, syncs to the platform, survives a cut link, and stops cleanly on SIGINT', async () => {
    const dir = tempDir(cleanups, 'demo');
    const [http, mqttPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts', '--seed', '42', '--speed', '60', '--windows', '4', '--data', dir, '--http-port', String(http), '--mqtt-port', String(mqttPort)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const lines: string[] = [];
    const listeners = new Set<(l: string) => void>();
    createInterface({ input: child.stdout! }).on('line', (l) => {
      lines.push(l);
      for (const f of listeners) f(l);
    });
    const next = (pred: (l: string) => boolean, ms: number, what: string) =>
      lines.find(pred) ?? waitFor<string>((f) => (listeners.add(f), () => listeners.delete(f)), pred, ms, what);

    const started = Date.now();
    const token = (await next((l) => l.startsWith('admin token:'), 20_000, 'the URLs and admin token')).split(/\s+/).pop()!;
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(lines.join('\n')).toMatch(/tablet page: +http:\/\/127\.0\.0\.1:\d+\/tablet\?tablet=TAB-DEMO&token=/);
    expect(lines.join('\n')).toMatch(/dashboard: +http:\/\/127\.0\.0\.1:\d+\/dashboard/);
    expect(token.length).toBeGreaterThan(8);

    const platformDb = join(dir, 'platform.sqlite');
    const stored = () => {
      const db = new Database(platformDb, { readonly: true, fileMustExist: true });
      try {
        return (db.prepare('SELECT COUNT(*) AS n FROM evaluations').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    const summary = (pattern: RegExp) => next((l) => pattern.test(l), 60_000, `a summary matching ${pattern}`);
    await summary(/platform received [1-9]\d* \(linked\)/);
    expect(stored()).toBeGreaterThan(0);

    child.stdin!.write('p\n');
    await next((l) => l === 'platform link cut', 10_000, 'the link cut');
    const backlogLine = await summary(/backlog [1-9]\d* .*LINK CUT/);
    const backlog = Number(/backlog (\d+)/.exec(backlogLine)![1]);
    expect(backlog).toBeGreaterThan(0);
    child.stdin!.write('p\n');
    await next((l) => l === 'platform link restored', 10_000, 'the link restored');
    const drained = await next((l) => lines.indexOf(l) > lines.indexOf('platform link restored') && /backlog 0 \| platform received \d+ \(linked\)/.test(l), 90_000, 'the backlog to drain');
    expect(drained).toMatch(/backlog 0/);

    const hub = new Database(join(dir, 'hub', 'hub.sqlite'), { readonly: true });
    const committed = (hub.prepare(`SELECT COUNT(*) AS n FROM evaluations WHERE status = 'accepted'`).get() as { n: number }).n;
    hub.close();
    expect(stored()).toBeGreaterThanOrEqual(committed - 8); // the few committed in the last second may still be in flight

    const family = descendants(child.pid!);
    expect(family.length).toBeGreaterThan(0); // socat pairs at least
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    // still running (a zombie waiting for this container's init to reap it has already exited)
    const alive = family
      .map((p) => spawnSync('ps', ['-o', 'stat=,cmd=', '-p', String(p)]).stdout.toString().trim())
      .filter((line) => line && !line.startsWith('Z'));
    expect(alive, 'no process left behind').toEqual([]);
  }, 180_000);
});
