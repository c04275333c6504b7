/**
 * The demo hall (`npm start`): the platform simulator, a hub, N evaluators running the real
 * firmware on simulated boards over real pseudo-terminals (an in-memory link when socat is
 * missing), and a scenario in which clerks finish transactions and citizens rate them with a
 * realistic spread. Some citizens leave their mobile number with consent; those who do not rate
 * at the counter are texted an invitation through a simulated GSM modem on a pty, and most
 * of them answer (PROTOCOL 7). Built from the same simulators the tests use.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import five from 'johnny-five';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { DEFAULT_SETTINGS, LEVEL_WORDS, levelName } from '../protocol/index.js';
import { Firmware } from '../device/firmware.js';
import { JohnnyFiveHardware, SIM_PIN_MAP, boardReady } from '../device/hardware.js';
import { serialTransport, type ByteTransport } from '../device/transport.js';
import { parseConfig } from '../hub/config.js';
import { syncSummary } from '../hub/evaluations.js';
import { Hub } from '../hub/hub.js';
import { prng } from '../protocol/fuzz.js';
import { citizenAnswer, ModemLine, SimulatedModem } from './gsm-modem.js';
import { bytePipePair } from './memory-link.js';
import { PlatformIngest, startEmbeddedBroker } from './platform.js';
import { ptyPair, type PtyPair } from './pty.js';
import { SimIO } from './sim-io.js';

export interface DemoOptions {
  /** Windows, each with a clerk and an evaluator. Default 8. */
  windows: number;
  /** Scenario speed: 1 = real pace (a transaction takes minutes), 10 = ten times faster. */
  speed: number;
  seed: number;
  dataDir: string;
  httpPort: number;
  mqttPort: number;
  /** No platform at all: ratings stay on the hub. */
  noPlatform: boolean;
  /** An external broker instead of the embedded one (the ingest connects there). */
  brokerUrl: string | undefined;
  /**
   * Evaluations a second the embedded platform takes (0: no limit). A real platform is not
   * instant, and a demo's backlog of a few hundred would drain faster than anyone could see.
   */
  platformRate: number;
  adminToken: string;
  log?: (line: string) => void;
}

const CLERKS = ['李明', '王芳', '张伟', '刘洋', '陈静', '杨帆', '赵磊', '黄丽', '周强', '吴敏', '徐涛', '孙颖'];
const MATTERS = [
  ['000105001000', '居民身份证换领'],
  ['000108002000', '营业执照变更登记'],
  ['000112003000', '不动产登记'],
  ['000120004000', '社会保险参保登记'],
  ['000131005000', '公积金提取'],
  ['000140006000', '机动车驾驶证换证'],
] as const;

interface Evaluator {
  deviceId: string;
  windowId: string;
  io: SimIO;
  firmware: Firmware;
}

/** The platform link as the live line shows it. */
export type PlatformLink = 'linked' | 'cut' | 'reconnecting' | 'none';

/** How long a key waits to see the evaluator react (a press is debounced, then shown), ms. */
const REACTION_MS = 1500;

/** Why a press changed nothing, by the state the evaluator was in (device/core.ts: what each state does with a press). */
const IGNORED: Record<string, (e: Evaluator) => string> = {
  idle: () => 'the evaluator is idle and asks for no rating (i invites one; presses unasked are off in its settings)',
  thanks: () => 'the evaluator is thanking for the last rating (a second press is ignored)',
  paused: (e) => `${e.windowId} is paused`,
  'signed-out': (e) => `no clerk is signed in at ${e.windowId}`,
  fault: () => 'the evaluator shows a fault',
  boot: () => 'the evaluator is still starting (the hub has not welcomed it yet)',
  config: () => 'the evaluator is in technician mode, where the buttons change its settings',
};

function portFree(port: number): Promise<boolean> {
  if (port === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

export class DemoHall {
  hub!: Hub;
  ingest: PlatformIngest | undefined;
  readonly evaluators: Evaluator[] = [];
  link: 'pty' | 'memory' = 'memory';
  tabletUrl = '';
  private broker: Awaited<ReturnType<typeof startEmbeddedBroker>> | undefined;
  private ptys: PtyPair[] = [];
  /** The hall's GSM modem (simulated, on a pty) and its cable; none without socat. */
  modem: SimulatedModem | undefined;
  private modemLine: ModemLine | undefined;
  private timers: NodeJS.Timeout[] = [];
  private readonly rand: () => number;
  private txnSeq = 0;
  /** The evaluator the keys act on. */
  private selected = 0;
  platformUp = true;
  private mqttPort = 0;
  private stopping = false;

  constructor(readonly options: DemoOptions) {
    this.rand = prng(options.seed);
  }

  private random(): number {
    return this.rand() / 2 ** 32;
  }

  async start(): Promise<void> {
    const options = { ...this.options };
    // A port already taken (a Mosquitto service on 1883, say) gives way to a free one.
    if (!(await portFree(options.mqttPort))) options.mqttPort = 0;
    if (!(await portFree(options.httpPort))) options.httpPort = 0;
    mkdirSync(options.dataDir, { recursive: true });
    let platformUrl: string | null = null;
    if (!options.noPlatform) {
      if (options.brokerUrl) platformUrl = options.brokerUrl;
      else {
        this.broker = await this.startBroker(options.mqttPort);
        this.options.mqttPort = this.broker.port;
        this.mqttPort = this.broker.port;
        platformUrl = `mqtt://127.0.0.1:${this.broker.port}`;
      }
      this.ingest = await PlatformIngest.start({ brokerUrl: platformUrl, dbFile: join(options.dataDir, 'platform.sqlite') });
    }
    const ids = Array.from({ length: options.windows }, (_, i) => String(i + 1).padStart(2, '0'));
    this.link = spawnSync('sh', ['-c', 'command -v socat']).status === 0 ? 'pty' : 'memory';
    const ports: { device: ByteTransport; hubPath?: string; hubSide?: ByteTransport }[] = [];
    for (const _ of ids) {
      if (this.link === 'pty') {
        const pair = await ptyPair();
        this.ptys.push(pair);
        ports.push({ device: serialTransport(pair.a), hubPath: pair.b });
      } else {
        const pipe = bytePipePair();
        ports.push({ device: pipe.a, hubSide: pipe.b });
      }
    }
    if (this.link === 'pty') {
      // the citizens' phones: most answer an invitation, a few with TD or a remark
      this.modem = new SimulatedModem({ onMessage: () => citizenAnswer(() => this.random()), replyDelayMs: Math.round(20_000 / options.speed) });
      this.modemLine = new ModemLine(this.modem, join(resolve(options.dataDir), 'modem'));
      await this.modemLine.plug();
    }
    this.hub = new Hub({
      config: parseConfig({
        hallId: '430300-001',
        hallName: '湘潭市政务服务中心（演示）',
        areaCode: '430300',
        dataDir: join(options.dataDir, 'hub'),
        adminToken: options.adminToken,
        http: { host: '127.0.0.1', port: options.httpPort },
        platform: { url: platformUrl },
        devices: { serial: ports.flatMap((p) => (p.hubPath ? [{ path: p.hubPath }] : [])), discover: { serial: false, hid: false } },
        windows: ids.map((id) => ({ id: `W${id}`, name: `W${id} ${MATTERS[Number(id) % MATTERS.length]![1]}`, deviceId: `HCP5-DEMO${id}` })),
        // small batches (a hall's default is 500): a drained backlog shows in steps, not one jump
        sync: { republishAfterS: 10, batchItems: 20 },
        // invitations a few (scenario) minutes after done, at any hour: a demo runs at night too
        ...(this.modemLine ? { sms: { modem: { path: this.modemLine.hubPath }, delayS: Math.max(5, Math.round(300 / options.speed)), quietHours: ['00:00', '00:00'], signature: '【湘潭政务】' } } : {}),
      }),
      // a restored link is used within seconds, not after the sync's backoff of up to 90 s
      syncTiming: { reconnectMaxMs: 2000 },
      ...(options.log ? { log: (e) => !this.stopping && (e.level === 'warn' || e.level === 'error') && options.log!(`${e.level}: ${e.msg}${e['deviceId'] ? ` (${String(e['deviceId'])})` : ''}`) } : {}),
    });
    await this.hub.start();
    for (const [i, id] of ids.entries()) {
      const hubSide = ports[i]!.hubSide;
      if (hubSide) await this.hub.attach(hubSide, `mem-${id}`);
      await this.hub.setStaff(`W${id}`, { duty: 'on', staffId: `S0${id}`, staffName: CLERKS[i % CLERKS.length]!, staffTitle: '' }, 'demo');
    }
    for (const [i, id] of ids.entries()) {
      const io = new SimIO();
      const board = new five.Board({ io, repl: false, debug: false, sigint: false } as unknown as five.BoardOption);
      await boardReady(board);
      const firmware = new Firmware({
        core: { deviceId: `HCP5-DEMO${id}` },
        stateDir: join(options.dataDir, 'devices', `HCP5-DEMO${id}`),
        transport: ports[i]!.device,
        hardware: new JohnnyFiveHardware(board, SIM_PIN_MAP),
      });
      await firmware.start();
      this.evaluators.push({ deviceId: `HCP5-DEMO${id}`, windowId: `W${id}`, io, firmware });
    }
    const tablet = await this.hub.pair('TAB-DEMO', 'W01', 'demo', 'tablet');
    this.tabletUrl = `http://127.0.0.1:${this.hub.port}/tablet?tablet=TAB-DEMO&token=${tablet.token}`;
    // default settings a little shorter than a hall's, so the demo moves
    for (const e of this.evaluators) await this.hub.setDeviceSettings(e.deviceId, { ...DEFAULT_SETTINGS, promptTimeoutS: 20, thanksS: 2 }, 'demo');
    for (const e of this.evaluators) this.scheduleTransaction(e, 2000 + this.random() * 8000);
  }

  /** A clerk serves a citizen; when done the evaluator prompts and the citizen (usually) rates. */
  private scheduleTransaction(e: Evaluator, delayMs: number): void {
    const timer = setTimeout(() => void this.transaction(e), delayMs / this.options.speed);
    this.timers.push(timer);
  }

  private async transaction(e: Evaluator): Promise<void> {
    const [code, name] = MATTERS[Math.floor(this.random() * MATTERS.length)]!;
    const txnId = `430300-${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-${String(++this.txnSeq).padStart(5, '0')}`;
    // some leave their mobile number at the counter, agreeing to be contacted
    const contact = this.modem && this.random() < 0.3 ? `13${String(Math.floor(this.random() * 1e9)).padStart(9, '0')}` : undefined;
    try {
      await this.hub.service(e.windowId, { event: 'done', txnId, matterCode: code, matterName: name, ...(contact ? { contact, contactConsent: true } : {}) }, 'queue-system');
    } catch {
      /* the hub is stopping */
    }
    const r = this.random();
    // most citizens are satisfied; some 差评; a few walk away without rating
    let level = r < 0.6 ? 5 : r < 0.82 ? 4 : r < 0.9 ? 3 : r < 0.94 ? 2 : r < 0.96 ? 1 : 0;
    if (contact && this.random() < 0.5) level = 0; // they will answer the SMS instead
    if (level > 0) {
      const think = 1500 + this.random() * 5000;
      this.timers.push(setTimeout(() => this.press(e, level), think / Math.min(this.options.speed, 4)));
    }
    this.scheduleTransaction(e, (60_000 + this.random() * 120_000) / 1);
  }

  private startBroker(port: number) {
    return startEmbeddedBroker(port, '127.0.0.1', this.options.platformRate > 0 ? { evaluationsPerS: this.options.platformRate } : {});
  }

  /** The evaluator the keys act on. */
  get selectedEvaluator(): Evaluator {
    return this.evaluators[this.selected]!;
  }

  /**
   * One key of a person at the demo (a terminal key, or one line of a pipe), answered with
   * one line: what it did, or why nothing happened. `1`-`5` (or `press N`) press that button
   * on the selected evaluator, `i` (or `invite`) its invite key, `[` `]` select, `p` cut or
   * restore the platform link. Quitting is the caller's.
   */
  async key(text: string): Promise<string> {
    const [verb = '', arg] = text.trim().split(/\s+/);
    if (/^[1-5]$/.test(verb)) return this.pressSelected(Number(verb));
    if (verb === 'press' && arg && /^[1-5]$/.test(arg)) return this.pressSelected(Number(arg));
    if (verb === 'i' || verb === 'invite') return this.pressSelected('invite');
    if (verb === '[' || verb === ']') {
      const n = this.evaluators.length;
      this.selected = (this.selected + (verb === ']' ? 1 : n - 1)) % n;
      const e = this.selectedEvaluator;
      return `selected ${e.windowId} (${e.deviceId}, ${e.firmware.state ?? 'not running'})`;
    }
    if (verb === 'p') return this.togglePlatform();
    return `unknown key ${JSON.stringify(text.trim())}: 1-5 press, i invite, [ ] select, p platform link, q quit (npm start -- --help)`;
  }

  /** Presses a button of the selected evaluator and watches what the evaluator does with it. */
  private async pressSelected(level: number | 'invite'): Promise<string> {
    const e = this.selectedEvaluator;
    const before = e.firmware.state;
    const what = level === 'invite' ? `${e.windowId}: invite key` : `${e.windowId}: pressed ${level} (${LEVEL_WORDS[levelName(level)].zh})`;
    if (before === undefined) return `${what}: nothing happened: the evaluator is not running`;
    const expected = level === 'invite' ? 'prompt' : 'thanks';
    const reacted = this.nextState(e, expected);
    this.press(e, level);
    if (await reacted) return level === 'invite' ? `${what}: the evaluator asks the citizen to rate` : `${what}: rated; the evaluator thanks the citizen`;
    if (level === 'invite' && before === 'prompt') return `${what}: nothing new: the evaluator is already asking for a rating`;
    if (before === 'prompt') return `${what}: the evaluator did not take it (it is ${e.firmware.state ?? 'stopped'})`;
    const why = IGNORED[before];
    return `${what}: nothing happened: ${why ? why(e) : `the evaluator is ${before}`}`;
  }

  /** Resolves true when the evaluator enters `state` within `REACTION_MS`, false otherwise. */
  private nextState(e: Evaluator, state: string): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (reached: boolean) => {
        clearTimeout(timer);
        e.firmware.off('state', listener);
        resolve(reached);
      };
      const listener = (s: string) => s === state && done(true);
      const timer = setTimeout(() => done(false), REACTION_MS);
      e.firmware.on('state', listener);
    });
  }

  /** Presses a button of an evaluator as a citizen would (through johnny-five's debounce). */
  press(e: Evaluator, level: number | 'invite'): void {
    const pin = level === 'invite' ? SIM_PIN_MAP.invite : SIM_PIN_MAP.buttons[String(level) as '1'];
    if (typeof pin !== 'number') return;
    e.io.setInput(pin, 1);
    this.timers.push(setTimeout(() => e.io.setInput(pin, 0), 150));
  }

  /** Cuts the hall's link to the platform (the broker goes away) or restores it; says which, or why not. */
  async togglePlatform(): Promise<string> {
    if (this.options.noPlatform) return 'no platform link to cut: the demo runs with --no-platform';
    if (!this.mqttPort) return `the platform is the broker at ${this.options.brokerUrl}: cut it there`;
    if (this.platformUp) {
      await this.broker?.close();
      this.broker = undefined;
      this.platformUp = false;
      return 'platform link cut: new ratings wait on the hub (the backlog grows)';
    }
    this.broker = await this.startBroker(this.mqttPort);
    this.platformUp = true;
    return 'platform link restored: the hub reconnects within seconds, then the backlog drains';
  }

  summary(): { ratings: number; notEvaluated: number; dissatisfied: number; backlog: number; confirmed: number; platform: number; link: PlatformLink; online: number; sms: { sent: number; replies: number } | null } {
    const s = this.hub.store.read(syncSummary);
    // a counter timeout later rated by SMS is superseded: no longer "not evaluated"
    const counts = this.hub.store.read((db) => db.prepare(`SELECT SUM(level > 0) AS n, SUM(level = 0) AS none, SUM(level IN (1, 2)) AS bad FROM evaluations WHERE status = 'accepted' AND superseded_by IS NULL`).get()) as { n: number | null; none: number | null; bad: number | null };
    const sms = this.hub.sms?.status();
    return {
      ratings: counts.n ?? 0,
      notEvaluated: counts.none ?? 0,
      dissatisfied: counts.bad ?? 0,
      backlog: s.pending + s.sent,
      confirmed: s.confirmed,
      platform: this.ingest?.counts.stored ?? 0,
      link: !this.hub.platform ? 'none' : this.hub.platform.state.connected ? 'linked' : this.platformUp ? 'reconnecting' : 'cut',
      online: this.hub.views.devices().filter((d) => d.online).length,
      sms: sms ? { sent: sms.sent, replies: sms.received } : null,
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    for (const e of this.evaluators) await e.firmware.stop().catch(() => {});
    await this.hub?.stop().catch(() => {});
    await this.ingest?.close().catch(() => {});
    await this.broker?.close().catch(() => {});
    for (const p of this.ptys) await p.close();
    await this.modemLine?.unplug();
  }
}
