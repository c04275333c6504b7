/** The hub's command line as a technician uses it: real processes over one store. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { runTs } from './support/processes.js';

const cleanups = cleanupsAfterEach();

async function hubCli(config: unknown, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const d = tempDir(cleanups, 'cli');
  const file = join(d, 'hall.json');
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
  return hubCliAt(file, args);
}

async function hubCliAt(file: string, args: string[]) {
  const proc = runTs('hub/cli.ts', ['--config', file, ...args]);
  const code = await proc.exited(30_000);
  return { code, stdout: proc.stdout.join('\n'), stderr: proc.logs.map((e) => String(e['msg'])).join('\n') };
}

describe('npm run hub', () => {
  it('an unknown key is a one-line error naming it, exit 2', async () => {
    const r = await hubCli({ hallId: 'H', adminToken: 'hall-test-token-7f3a9c', devices: { serail: [] } }, []);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('config: unknown key "devices.serail"');
  });

  it('malformed JSON and a missing file are one-line errors, exit 2', async () => {
    expect(await hubCli('{"hallId": ', [])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^config: .* is not valid JSON/) });
    const missing = await hubCliAt('/nonexistent/hall.json', []);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^config: cannot read \/nonexistent\/hall.json: ENOENT$/);
  });

  it('pairs, lists, reports status and exports over the same store, auditing the pairing', async () => {
    const d = tempDir(cleanups, 'cli');
    const file = join(d, 'hall.json');
    writeFileSync(file, JSON.stringify({ hallId: 'H', adminToken: 'hall-test-token-7f3a9c', dataDir: join(d, 'data'), windows: [{ id: 'A01' }] }));
    expect(await hubCliAt(file, ['pair', 'HCP5-0001', 'A01'])).toMatchObject({ code: 2, stderr: expect.stringContaining('has not been seen by this hub') });
    expect(await hubCliAt(file, ['pair', 'HCP5-0001', 'A01', '--evaluator'])).toMatchObject({ code: 0, stdout: expect.stringContaining('paired evaluator HCP5-0001 to window A01') });
    const tablet = await hubCliAt(file, ['pair', 'TAB-01', 'A01', '--tablet']);
    expect(tablet.stdout).toMatch(/tablet token \(shown once\): \S{20,}/);
    const devices = await hubCliAt(file, ['devices']);
    expect(devices.stdout).toMatch(/TAB-01 +window A01/);
    expect((await hubCliAt(file, ['pair', 'X', 'Z9'])).stderr).toMatch(/no window Z9/);
    const status = await hubCliAt(file, ['status']);
    expect(status.stdout).toContain('evaluations waiting for the platform: 0');
    const exported = await hubCliAt(file, ['export', '--format', 'gb39046']);
    expect(exported.stdout.split('\n')[0]).toBe('办件编号,评价渠道,评价人,评价时间,评价次数,满意度,满意度代码,文字评价,行政区划');
    const audit = await hubCliAt(file, ['audit']);
    expect(audit.stdout).toMatch(/cli +pair +\{"deviceId":"TAB-01","windowId":"A01","kind":"tablet"\}/);
    expect((await hubCliAt(file, ['export', '--format', 'xml'])).code).toBe(2);
  });
});
