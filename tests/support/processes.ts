/**
 * Real processes for cross-component tests: socat pseudo-terminal pairs and project CLIs.
 * Waits are on events (a line printed, a process exiting) with a deadline, never sleeps.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = new URL('../../', import.meta.url).pathname;

/** Fails with the install command when a system part is missing (tests never skip). */
export function requireCommand(command: string, debianPackage: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
  if (!found) throw new Error(`${command} is not installed: run \`apt-get install -y ${debianPackage}\``);
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `hcp-${prefix}-`));
}

/** Resolves when `predicate` holds for a value `subscribe` delivers, or rejects after `ms`. */
export function waitFor<T>(subscribe: (listener: (value: T) => void) => () => void, predicate: (value: T) => boolean, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const unsubscribe = subscribe((value) => {
      if (!predicate(value)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(value);
    });
  });
}

export interface PtyPair {
  /** Two linked pseudo-terminals: bytes written to one are read from the other. */
  a: string;
  b: string;
  close(): Promise<void>;
}

/** A socat pty pair; resolves once socat is transferring data. */
export async function ptyPair(): Promise<PtyPair> {
  requireCommand('socat', 'socat');
  const dir = tempDir('pty');
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = createInterface({ input: child.stderr });
  await waitFor<string>(
    (l) => {
      lines.on('line', l);
      return () => lines.off('line', l);
    },
    (line) => line.includes('starting data transfer loop'),
    10_000,
    'socat to link the ptys',
  );
  return {
    a,
    b,
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) {
          rmSync(dir, { recursive: true, force: true });
          resolve();
          return;
        }
        child.once('exit', () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

export interface RunningProcess {
  child: ChildProcessWithoutNullStreams;
  /** JSON log lines seen on stderr so far. */
  logs: Record<string, unknown>[];
  stdout: string[];
  waitLog(predicate: (entry: Record<string, unknown>) => boolean, ms: number, what: string): Promise<Record<string, unknown>>;
  waitStdout(predicate: (line: string) => boolean, ms: number, what: string): Promise<string>;
  send(line: string): void;
  exited(ms: number): Promise<number | null>;
}

/** Starts a project TypeScript entry under tsx (as `npm run` does) and follows its output. */
export function runTs(entry: string, args: string[], env: NodeJS.ProcessEnv = {}): RunningProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { cwd: ROOT, env: { ...process.env, ...env } });
  const logs: Record<string, unknown>[] = [];
  const stdout: string[] = [];
  const logListeners = new Set<(e: Record<string, unknown>) => void>();
  const outListeners = new Set<(l: string) => void>();
  createInterface({ input: child.stderr }).on('line', (line) => {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      entry = { level: 'text', msg: line };
    }
    logs.push(entry);
    for (const l of logListeners) l(entry);
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    stdout.push(line);
    for (const l of outListeners) l(line);
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    logs,
    stdout,
    waitLog: (predicate, ms, what) => {
      const seen = logs.find(predicate);
      if (seen) return Promise.resolve(seen);
      return waitFor((l) => (logListeners.add(l), () => logListeners.delete(l)), predicate, ms, what);
    },
    waitStdout: (predicate, ms, what) => {
      const seen = stdout.find(predicate);
      if (seen) return Promise.resolve(seen);
      return waitFor((l) => (outListeners.add(l), () => outListeners.delete(l)), predicate, ms, what);
    },
    send: (line) => child.stdin.write(`${line}\n`),
    exited: (ms) =>
      Promise.race([
        exit,
        new Promise<number | null>((_, reject) => setTimeout(() => reject(new Error(`${entry} did not exit within ${ms} ms`)), ms).unref()),
      ]),
  };
}
