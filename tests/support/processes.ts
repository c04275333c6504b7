/**
 * Real processes for cross-component tests: socat pseudo-terminal pairs and project CLIs.
 * Waits are on events (a line printed, a process exiting) with a deadline, never sleeps.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { waitFor } from '../../simulators/pty.js';

export { ptyPair, requireCommand, waitFor, type PtyPair } from '../../simulators/pty.js';

export const ROOT = new URL('../../', import.meta.url).pathname;

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
  return runNode(entry, args, ['--import', 'tsx'], env);
}

/** Starts a script with plain node (`nodeArgs` before it: a compiled entry, `--cpu-prof`) and follows its output. */
export function runNode(entry: string, args: string[], nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}): RunningProcess {
  const child = spawn(process.execPath, [...nodeArgs, entry, ...args], { cwd: ROOT, env: { ...process.env, ...env } });
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
