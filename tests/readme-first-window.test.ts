/**
 * README's "first window" walkthrough, run as written: the block between the first-window
 * markers goes to bash line by line, with three changes a test needs and a reader does not —
 * the packages are already installed (CI installs them), the build goes to this test's own
 * directory instead of the repository's, and the port is a free one instead of 8080.
 */
import { spawn } from 'node:child_process';
import { readFileSync, symlinkSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { freePort } from './support/mosquitto.js';
import { ROOT, requireCommand } from './support/processes.js';

const cleanups = cleanupsAfterEach();

export function firstWindowBlock(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const match = /<!-- first-window -->\s*```sh\n([\s\S]*?)```\s*<!-- \/first-window -->/.exec(readme);
  if (!match) throw new Error('README.md has no first-window block');
  return match[1]!;
}

describe("README's first window", () => {
  it('reaches a rating on the hub, as written', async () => {
    requireCommand('socat', 'socat');
    requireCommand('curl', 'curl');
    const block = firstWindowBlock();
    expect(block).toContain('apt-get install -y nodejs npm build-essential python3 socat fonts-noto-cjk chromium curl');
    expect(block).toContain('npm ci && npm run build');
    const port = await freePort();
    const dir = tempDir(cleanups, 'first-window');
    copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const build = `node ${ROOT}/node_modules/typescript/bin/tsc -p ${ROOT}/tsconfig.build.json --outDir "$PWD/dist" && node --import tsx ${ROOT}/scripts/build-pages.ts "$PWD/dist"`;
    const script = block
      .split('\n')
      .map((line) => {
        if (line.startsWith('apt-get install')) return '# (installed by .ci/run)';
        if (line === 'npm ci && npm run build') return build;
        if (line.startsWith('node dist/hub/cli.js init')) return `${line}\nsed -i 's/"port": 8080/"port": ${port}/' hall.json`;
        return line.replaceAll('127.0.0.1:8080', `127.0.0.1:${port}`);
      })
      .join('\n');
    const bash = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, detached: true, env: { ...process.env, PATH: process.env['PATH'] } });
    cleanups.push(() => {
      try {
        process.kill(-bash.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    });
    let output = '';
    bash.stdout.on('data', (d) => (output += d));
    bash.stderr.on('data', (d) => (output += d));
    // the block's `until` loops wait for the hub; if it never gets there, stop and show why
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        output += '\n(the walkthrough did not finish in 150 s)';
        process.kill(-bash.pid!, 'SIGKILL');
      }, 150_000);
      bash.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    const log = (() => {
      try {
        return `${readFileSync(join(dir, 'hub.log'), 'utf8').split('\n').slice(-15).join('\n')}\n--- device.log ---\n${readFileSync(join(dir, 'device.log'), 'utf8').split('\n').slice(-10).join('\n')}`;
      } catch {
        return '(no hub.log)';
      }
    })();
    expect(code, `the walkthrough failed:\n${output}\n--- hub.log ---\n${log}`).toBe(0);
    // curl prints without a newline: the last statistics answer is the last {"from"… on the line
    const last = output.trim().split('\n').at(-1)!;
    const stats = JSON.parse(last.slice(last.lastIndexOf('{"from"'))) as { groups: { key: string; rated: number; levels: Record<string, number> }[] };
    expect(stats.groups.find((g) => g.key === 'A01')).toMatchObject({ rated: 1, levels: { '5': 1 } });
  }, 180_000);
});
