/**
 * Hub idle RSS: a real hub process with 64 evaluators (frame-level peers over 64 socat ptys,
 * welcomed and answering keepalives) and 8 tablets (mqtt.js over WebSocket) connected, after
 * a quiet spell. Baseline: the same hub process with nothing connected.
 */
import { readFileSync, rmSync } from 'node:fs';
import mqtt from 'mqtt';
import { ptyPair, tempDir, type PtyPair } from '../../simulators/pty.js';
import { DevicePeer, startHub } from '../../tests/support/hub.js';
import { result, type BenchResult } from './measure.js';

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

const quiet = (ms: number) => new Promise((r) => setTimeout(r, ms)); // the point of an idle measurement is to wait

export async function idleRss(devices = 64, tablets = 8): Promise<BenchResult> {
  const windows = Array.from({ length: devices }, (_, i) => ({ id: `W${String(i + 1).padStart(2, '0')}`, deviceId: `HCP5-IDLE${String(i + 1).padStart(2, '0')}` }));
  // baseline: nothing connected
  const baseDir = tempDir('idle-base');
  const base = await startHub(baseDir, { hallId: 'H-IDLE', windows });
  await quiet(5000);
  const baseline = rssMiB(base.proc.child.pid!);
  base.proc.child.kill('SIGTERM');
  await base.proc.exited(10_000);
  rmSync(baseDir, { recursive: true, force: true });

  const dir = tempDir('idle');
  const ptys: PtyPair[] = [];
  for (let i = 0; i < devices; i++) ptys.push(await ptyPair());
  const hub = await startHub(dir, { hallId: 'H-IDLE', windows, devices: { serial: ptys.map((p) => ({ path: p.b })), discover: { serial: false, hid: false } } });
  const peers = await Promise.all(ptys.map((p, i) => DevicePeer.open(p.a, windows[i]!.deviceId)));
  await Promise.all(peers.map((p) => p.hello(1, 60_000)));
  const clients = [];
  for (let i = 0; i < tablets; i++) {
    const { json } = await hub.api('POST', `/api/devices/TAB-${i}/pair`, { windowId: windows[i]!.id });
    clients.push(await mqtt.connectAsync(`ws://127.0.0.1:${hub.port}/mqtt`, { username: `TAB-${i}`, password: json.token as string, protocolVersion: 4, reconnectPeriod: 0 }));
    await clients[i]!.subscribeAsync([`hall/H-IDLE/public/#`, `hall/H-IDLE/tablets/TAB-${i}/#`], { qos: 1 });
  }
  const { json: health } = await hub.api('GET', '/api/health');
  await quiet(10_000);
  const figure = rssMiB(hub.proc.child.pid!);
  for (const c of clients) await c.endAsync(true);
  for (const p of peers) await p.close();
  hub.proc.child.kill('SIGTERM');
  await hub.proc.exited(10_000);
  for (const p of ptys) await p.close();
  rmSync(dir, { recursive: true, force: true });
  return result({
    bench: 'idle-rss',
    figure: Number(figure.toFixed(1)),
    unit: `MiB RSS of the hub process, idle, ${devices} evaluators and ${tablets} tablets connected`,
    baseline: Number(baseline.toFixed(1)),
    baselineName: 'MiB RSS of the same hub process with nothing connected',
    devicesOnline: (health.devices as { online: number }).online,
  });
}
