/**
 * Real pseudo-terminal pairs from socat, for tests, benchmarks and the demo: bytes written to
 * one end are read from the other, through the kernel's tty layer as on a real serial port.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

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

