/**
 * A real Mosquitto broker for tests: its own config in a temp dir, a free loopback port, no
 * persistence (a kill loses whatever it held), optional password file, ACL and TLS.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { requireCommand, waitFor } from '../../simulators/pty.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface MosquittoOptions {
  /** Users and passwords; with them, anonymous clients are refused. */
  users?: { name: string; password: string }[];
  /** ACL file text (e.g. `pattern readwrite hcp/v1/%u/#`). */
  acl?: string;
  /** PEM files for a TLS listener. */
  tls?: { ca: string; cert: string; key: string };
}

export interface Mosquitto {
  port: number;
  url: string;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
  /** Starts again on the same port. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMosquitto(dir: string, options: MosquittoOptions = {}): Promise<Mosquitto> {
  requireCommand('mosquitto', 'mosquitto');
  const port = await freePort();
  const lines = [`listener ${port} 127.0.0.1`, 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice', 'log_type information'];
  if (options.users) {
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, '');
    for (const u of options.users) {
      const r = spawnSync('mosquitto_passwd', ['-b', passwd, u.name, u.password]);
      if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr.toString()}`);
    }
    lines.push(`password_file ${passwd}`, 'allow_anonymous false');
  } else lines.push('allow_anonymous true');
  if (options.acl) {
    const acl = join(dir, 'acl');
    writeFileSync(acl, options.acl);
    lines.push(`acl_file ${acl}`);
  }
  if (options.tls) lines.push(`cafile ${options.tls.ca}`, `certfile ${options.tls.cert}`, `keyfile ${options.tls.key}`);
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  let child: ChildProcess | undefined;
  const start = async () => {
    const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    const rl = createInterface({ input: proc.stderr! });
    await waitFor<string>(
      (l) => {
        rl.on('line', l);
        return () => rl.off('line', l);
      },
      (line) => /mosquitto version .* running/.test(line),
      10_000,
      'mosquitto to start',
    );
  };
  const kill = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
  };
  await start();
  return { port, url: `${options.tls ? 'mqtts' : 'mqtt'}://${options.tls ? 'localhost' : '127.0.0.1'}:${port}`, kill, start, stop: kill };
}
