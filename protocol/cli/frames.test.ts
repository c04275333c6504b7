/** The frame inspector as a technician runs it: a real process, stdin in, stdout and exit code out. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;

function run(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'protocol/cli/frames.ts', ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const vectors = (JSON.parse(readFileSync(new URL('../vectors/messages.json', import.meta.url), 'utf8')) as { vectors: { hex: string; message: unknown }[] }).vectors;

describe('npm run frames', () => {
  it('decode then encode round-trips every message vector', async () => {
    // one capture, wrapped across lines at odd places, with spaces between bytes
    const capture = vectors.map((v) => v.hex).join('').replace(/(..)/g, '$1 ').replace(/(.{61})/g, '$1\n');
    const decoded = await run(['decode'], capture);
    expect(decoded.stderr).toBe('');
    expect(decoded.code).toBe(0);
    const lines = decoded.stdout.trim().split('\n');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(vectors.map((v) => v.message));
    const encoded = await run(['encode'], decoded.stdout);
    expect(encoded.code).toBe(0);
    expect(encoded.stdout.trim().split('\n')).toEqual(vectors.map((v) => v.hex));
  });

  it('reports bad lines and dropped frames one line each, exits 1, no stack trace', async () => {
    const good = vectors[0]!.hex;
    const corrupt = `${good.slice(0, 10)}ff${good.slice(12)}`;
    const result = await run(['decode'], `${good}\nnot hex at all\n${corrupt}\n`);
    expect(result.code).toBe(1);
    expect(result.stdout.split('\n')[0]).toContain('"type":"HELLO"');
    expect(result.stdout).toContain('"drop":"crc"');
    const errors = result.stderr.trim().split('\n');
    expect(errors[0]).toMatch(/^line 2: not hex/);
    expect(errors[1]).toMatch(/^line 3: dropped \d+ bytes \(crc\)/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('encode names the bad line and field', async () => {
    const result = await run(['encode'], '{"type":"EVAL","seq":1,"counter":1,"level":7,"origin":1,"txnId":"","deviceTime":0,"promptMs":0}\n{oops\n{"type":"PING","senderTime":5}\n');
    expect(result.code).toBe(1);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/line 1: EVAL.level: expected an integer 0..5, got 7/);
    expect(result.stderr).toMatch(/line 2: malformed JSON/);
  });

  it('a usage error exits 2', async () => {
    const result = await run(['frobnicate'], '');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/usage/);
  });
});
