/**
 * SMS follow-up (PROTOCOL 7): invitations sent and replies committed per minute by a real hub
 * process through its modem driver, over a socat pty, to the simulated modem whose phones
 * answer `5` at once; each invitation and its reply is one round trip. Baseline: the same AT
 * traffic on the same kind of pty without the hub (AT+CMGS, the text, +CMGS; +CMTI, AT+CMGR,
 * AT+CMGD), one round trip after another. Then the hub's RSS with 10,000 open invitations
 * (sent, awaiting replies) after a quiet spell, against the same hub with none.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../hub/store.js';
import { AtLineReader, toUcs2Hex } from '../../hub/modem.js';
import { chinaDate } from '../../hub/sms.js';
import { serialTransport } from '../../device/transport.js';
import { ModemLine, SimulatedModem } from '../../simulators/gsm-modem.js';
import { tempDir, waitFor } from '../../simulators/pty.js';
import { startHub, type HubProcess } from '../../tests/support/hub.js';
import { result, type BenchResult } from './measure.js';
import { readFileSync } from 'node:fs';

const TEXT = '【湘潭政务】请评价A01窗口服务:回复5非常满意4满意3基本满意2不满意1非常不满意';
const number = (i: number) => `139${String(i).padStart(8, '0')}`;
const quiet = (ms: number) => new Promise((r) => setTimeout(r, ms)); // the point of an idle measurement is to wait

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** A hub with SMS on a simulated modem whose phones answer `5`; delayS 0, no quiet hours. */
async function smsHub(dir: string, answer: boolean): Promise<{ hub: HubProcess; modem: SimulatedModem; line: ModemLine }> {
  const modem = new SimulatedModem({ onMessage: () => (answer ? '5' : undefined) });
  const line = new ModemLine(modem, join(dir, 'modem'));
  await line.plug();
  const hub = await startHub(dir, { hallId: 'H-SMS', windows: [{ id: 'A01', name: 'A01' }], sms: { modem: { path: line.hubPath }, delayS: 0, quietHours: ['00:00', '00:00'], signature: '【湘潭政务】' } });
  await hub.proc.waitStdout((l) => l.includes('"modem ready"'), 30_000, 'the modem ready');
  return { hub, modem, line };
}

async function stop(h: { hub: HubProcess; line: ModemLine }, dir: string): Promise<void> {
  h.hub.proc.child.kill('SIGTERM');
  await h.hub.proc.exited(10_000);
  await h.line.unplug();
  rmSync(dir, { recursive: true, force: true });
}

/** Round trips a minute through the hub: from the first invitation sent to the last reply deleted (after its commit). */
async function throughHub(n: number): Promise<number> {
  const dir = tempDir('bench-sms');
  const h = await smsHub(dir, true);
  for (let i = 0; i < n; i++) {
    const { status } = await h.hub.api('POST', '/api/windows/A01/service', { event: 'done', txnId: `T-${i}`, contact: number(i), contactConsent: true });
    if (status !== 202) throw new Error(`service answered ${status}`);
  }
  let deleted = 0;
  h.modem.on('deleted', () => deleted++);
  const first = waitFor<unknown>((l) => (h.modem.on('sent', l), () => h.modem.off('sent', l)), () => true, 30_000, 'the first invitation');
  await first;
  const start = performance.now();
  await waitFor<number>((l) => (h.modem.on('deleted', l), () => h.modem.off('deleted', l)), () => deleted >= n, 10 * 60_000, `${n} replies committed`);
  const perMinute = (n * 60_000) / (performance.now() - start);
  const { json } = await h.hub.api('GET', '/api/sync');
  if (json.sms.sent !== n || json.sms.received !== n) throw new Error(`the hub sent ${json.sms.sent} and took ${json.sms.received} of ${n}`);
  await stop(h, dir);
  return perMinute;
}

/** The same AT traffic without the hub: a minimal client, one round trip after another. */
async function bareAt(n: number): Promise<number> {
  const dir = tempDir('bench-sms-raw');
  const modem = new SimulatedModem({ onMessage: () => '5' });
  const line = new ModemLine(modem, join(dir, 'modem'));
  await line.plug();
  const port = serialTransport(line.hubPath);
  const reader = new AtLineReader();
  const tokens: string[] = [];
  const waiters = new Set<() => void>();
  port.on('data', (chunk) => {
    for (const t of reader.push(chunk)) tokens.push(t.kind === 'prompt' ? '>' : t.text);
    for (const w of [...waiters]) w();
  });
  await port.open();
  /** Waits for a token matching `re`, dropping those before it. */
  const expectToken = (re: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        while (tokens.length > 0) {
          const t = tokens.shift()!;
          if (re.test(t)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(t);
            return;
          }
        }
      };
      const timer = setTimeout(() => reject(new Error(`no ${re} from the modem`)), 10_000);
      waiters.add(check);
      check();
    });
  const ascii = (s: string) => Buffer.from(s, 'latin1');
  for (const command of ['ATE0', 'AT+CMGF=1', 'AT+CSCS="UCS2"', 'AT+CSMP=17,167,0,8', 'AT+CNMI=2,1,0,0,0']) {
    await port.write(ascii(`${command}\r`));
    await expectToken(/^OK$/);
  }
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    await port.write(ascii(`AT+CMGS="${toUcs2Hex(number(i))}"\r`));
    await expectToken(/^>$/);
    await port.write(ascii(`${toUcs2Hex(TEXT)}\x1a`));
    await expectToken(/^OK$/);
    const index = /,(\d+)$/.exec(await expectToken(/^\+CMTI:/))![1];
    await port.write(ascii(`AT+CMGR=${index}\r`));
    await expectToken(/^OK$/);
    await port.write(ascii(`AT+CMGD=${index}\r`));
    await expectToken(/^OK$/);
  }
  const perMinute = (n * 60_000) / (performance.now() - start);
  await port.close();
  await line.unplug();
  rmSync(dir, { recursive: true, force: true });
  return perMinute;
}

/** RSS of a hub holding `open` invitations sent within the reply window and not answered yet. */
async function rssWithOpen(open: number): Promise<number> {
  const dir = tempDir('bench-sms-rss');
  if (open > 0) {
    const store = new Store({ dataDir: join(dir, 'data') });
    const now = Date.now();
    store.writeNow((db) => {
      const txn = db.prepare(`INSERT INTO transactions (txn_id, window_id, state, opened_at, done_at, contact) VALUES (?, 'A01', 'done', ?, ?, ?)`);
      const sms = db.prepare(
        `INSERT INTO sms_outbox (number, text, purpose, txn_id, state, attempts, not_before, day, created_at, updated_at, submitted_at, sent_at, mr)
         VALUES (?, ?, 'invitation', ?, 'sent', 1, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (let i = 0; i < open; i++) {
        // done over the last 20 hours, invited 10 minutes later: all still within the 48 h reply window
        const doneAt = new Date(now - 20 * 3_600_000 + i * 7000).toISOString();
        const sentAt = new Date(now - 20 * 3_600_000 + i * 7000 + 600_000).toISOString();
        txn.run(`T-${i}`, doneAt, doneAt, number(i));
        sms.run(number(i), TEXT, `T-${i}`, sentAt, chinaDate(Date.parse(sentAt)), sentAt, sentAt, sentAt, sentAt, i % 256);
      }
    });
    store.close();
  }
  const h = await smsHub(dir, false);
  await quiet(10_000);
  const rss = rssMiB(h.hub.proc.child.pid!);
  const { json } = await h.hub.api('GET', '/api/sync');
  if (json.sms.sent !== open) throw new Error(`the hub counts ${json.sms.sent} sent, expected ${open}`);
  await stop(h, dir);
  return rss;
}

export async function sms(n = 300, open = 10_000): Promise<BenchResult> {
  const baseline = await bareAt(n);
  const figure = await throughHub(n);
  const rssBaselineMiB = await rssWithOpen(0);
  const rssOpenMiB = await rssWithOpen(open);
  return result({
    bench: 'sms',
    figure: Math.round(figure),
    unit: `SMS round trips a minute through the hub (invitation sent, reply committed as a rating), ${n} citizens`,
    baseline: Math.round(baseline),
    baselineName: 'the same AT traffic a minute on the same kind of pty without the hub',
    openInvitations: open,
    rssOpenMiB: Number(rssOpenMiB.toFixed(1)),
    rssBaselineMiB: Number(rssBaselineMiB.toFixed(1)),
    rssRatio: Number((rssOpenMiB / rssBaselineMiB).toFixed(4)),
  });
}
