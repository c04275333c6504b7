/**
 * A real Mosquitto broker for tests: its own config in a temp dir, a free loopback port, no
 * persistence (a kill loses whatever it held), optional password file, ACL and TLS.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
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
  /** Keep Mosquitto's per-client queue limits (1,000 queued, 20 in flight); default: none. */
  defaultQueueLimits?: boolean;
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
  const limits = options.defaultQueueLimits ? [] : ['max_queued_messages 0', 'max_inflight_messages 0'];
  const lines = [`listener ${port} 127.0.0.1`, 'persistence false', ...limits, 'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice', 'log_type information'];
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
  // Started as root, Mosquitto drops to the `mosquitto` user before it reads the password
  // file, the ACL and the TLS files: they and the (mkdtemp, 0700) dir must be readable to it.
  const readable = [options.users && join(dir, 'passwd'), options.acl && join(dir, 'acl'), options.tls?.ca, options.tls?.cert, options.tls?.key].filter((f): f is string => !!f);
  if (readable.length > 0) {
    chmodSync(dir, 0o755);
    for (const f of readable) chmodSync(f, 0o644);
  }
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  let child: ChildProcess | undefined;
  const start = async () => {
    const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    const rl = createInterface({ input: proc.stderr! });
    const seen: string[] = [];
    rl.on('line', (line) => seen.length < 50 && seen.push(line));
    // A config Mosquitto refuses makes it exit at once: say why instead of waiting out the deadline.
    const exited = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`mosquitto exited with ${code} at start: ${seen.join(' | ')}`))));
    const running = waitFor<string>(
      (l) => {
        rl.on('line', l);
        return () => rl.off('line', l);
      },
      (line) => /mosquitto version .* running/.test(line),
      10_000,
      'mosquitto to start',
    );
    exited.catch(() => undefined); // after a later kill nobody waits on it
    await Promise.race([running, exited]);
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

export interface TestCertificates {
  /** PEM of the test CA (what a client trusts). */
  ca: string;
  /** PEM certificate and key of the broker, for `localhost` and 127.0.0.1, signed by the CA. */
  cert: string;
  key: string;
}

/** A throwaway CA and a server certificate for localhost, made with openssl in `dir`. */
export function makeCertificates(dir: string): TestCertificates {
  requireCommand('openssl', 'openssl');
  const file = (name: string) => join(dir, name);
  const run = (args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.toString()}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=hcp test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost']);
  writeFileSync(file('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  run(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.pem'), '-days', '2', '-extfile', file('server.ext')]);
  return { ca: file('ca.pem'), cert: file('server.pem'), key: file('server.key') };
}
