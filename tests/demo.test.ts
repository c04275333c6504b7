/**
 * `npm start` as a newcomer runs it: `--help` lists the options and the keys; with a fixed
 * seed and speed it shows its URLs, each piped key is answered with one line, ratings reach
 * the platform simulator's database, a cut platform link builds a backlog that drains when
 * restored with the drain's progress on the live line, and SIGINT stops everything, leaving
 * no process behind.
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

/** The keys the demo takes; `--help` must explain each and the demo must answer each. */
const KEYS = ['1', '2', '3', '4', '5', 'i', '[', ']', 'p', 'q'];
const OPTIONS = ['--windows', '--speed', '--seed', '--http-port', '--mqtt-port', '--platform-rate', '--broker', '--no-platform', '--data', '--token', '--help'];
/** The live summary line and the drain's end: printed on their own, not in answer to a key. */
const unasked = (l: string) => l.startsWith('ratings ') || l.startsWith('backlog drained');

describe('npm start', () => {
  it('--help lists every option and every key, for a terminal and for a pipe', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/start.ts', '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const help = run.stdout;
    for (const option of OPTIONS) expect(help, option).toContain(option);
    const keys = help.slice(help.indexOf('\nkeys'));
    expect(keys).toMatch(/pipe/);
    expect(keys).toMatch(/one line/);
    for (const k of ['1-5', 'i', '[ ]', 'p', 'q']) expect(keys, k).toMatch(new RegExp(`^  ${k.replace(/[[\]]/g, '\\$&')} +\\S`, 'm'));
    expect(keys).toContain('press N');
    // a wrong option says so and shows the same text, exit 2
    const wrong = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/start.ts', '--speed', 'fast'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(/^start: --speed must be a number/);
    expect(wrong.stderr).toContain('--platform-rate');
  }, 60_000);

  it('runs a living hall, syncs to the platform, survives a cut link, and stops cleanly on SIGINT', async () => {
    const dir = tempDir(cleanups, 'demo');
    const [http, mqttPort] = [await freePort(), await freePort()];
    // a slow platform (5 a second): the drain of a backlog of 20 or more takes 4 s or more
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts', '--seed', '42', '--speed', '60', '--windows', '4', '--data', dir, '--http-port', String(http), '--mqtt-port', String(mqttPort), '--platform-rate', '5'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
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

    // piped keys as on a terminal, each answered with one line, in order
    const from = lines.length;
    const answers = [
      [']', /^selected W02 \(HCP5-DEMO02, [a-z-]+\)$/],
      ['5', /^W02: pressed 5 \(非常满意\): (rated; the evaluator thanks the citizen|nothing happened: .+|the evaluator did not take it .+)$/],
      ['i', /^W02: invite key: (the evaluator asks the citizen to rate|nothing new: .+|nothing happened: .+)$/],
      ['x', /^unknown key "x": .*--help/],
      ['press 2', /^W02: pressed 2 \(不满意\): /],
      ['[', /^selected W01 \(HCP5-DEMO01, [a-z-]+\)$/],
    ] as const;
    for (const [key] of answers) child.stdin!.write(`${key}\n`);
    await next((l) => lines.indexOf(l) >= from && answers.at(-1)![1].test(l), 20_000, 'the answer to the last key');
    const answered = lines.slice(from).filter((l) => !unasked(l));
    expect(answered.length, answered.join('\n')).toBe(answers.length);
    answers.forEach(([key, pattern], i) => expect(answered[i], `the answer to ${key}`).toMatch(pattern));
    for (const key of KEYS.filter((k) => k !== 'q' && k !== 'p')) expect(answered.join('\n')).not.toContain(`unknown key "${key}"`);

    child.stdin!.write('p\n');
    await next((l) => l.startsWith('platform link cut'), 10_000, 'the link cut');
    const backlogLine = await summary(/backlog [1-9]\d+ .*LINK CUT/); // 10 or more
    const backlog = Number(/backlog (\d+)/.exec(backlogLine)![1]);
    expect(backlog).toBeGreaterThanOrEqual(10);
    child.stdin!.write('p\n');
    const restoredLine = await next((l) => l.startsWith('platform link restored'), 10_000, 'the link restored');
    const restored = lines.indexOf(restoredLine);
    const drainedLine = await next((l) => lines.indexOf(l) > restored && l.startsWith('backlog drained:'), 60_000, 'the backlog to drain');
    // the drain as it went: "backlog FROM → NOW, RATE/s", every second
    const progress = lines
      .slice(restored, lines.indexOf(drainedLine))
      .flatMap((l) => {
        const m = /\| backlog (\d+) → (\d+), (\d+)\/s \| platform received \d+ \(linked\)/.exec(l);
        return m ? [{ from: Number(m[1]), now: Number(m[2]), rate: Number(m[3]) }] : [];
      });
    expect(progress.length, 'progress lines while draining').toBeGreaterThanOrEqual(2);
    expect(progress.some((p) => p.now > 0 && p.now < p.from), 'a line part way through').toBe(true);
    expect(progress.some((p) => p.rate > 0), 'a rate measured').toBe(true);
    expect(drainedLine).toMatch(/^backlog drained: \d+ evaluations? in \d+\.\d s$/);
    const drained = await next((l) => lines.indexOf(l) > restored && /backlog 0 \| platform received \d+ \(linked\)/.test(l), 30_000, 'the live line after the drain');
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
