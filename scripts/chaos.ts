/**
 * `npm run chaos -- --minutes N [--seed S] [--devices N] [--tablets N] [--hub-uptime-s S]
 * [--max-outage-s S] [--drain-s S] [--clock-back-s S] [--keep]`: a living hall under random faults, then a check
 * that nothing was lost or doubled (issue 11 "Prove it").
 *
 *   evaluators (real firmware on SimIO boards) ── cable ── pty ──┐
 *     the cable flips bits, adds noise, is unplugged and plugged  hub process ── Mosquitto ── platform
 *   tablets (MQTT over WebSocket) ─────────────────────────────┘  (data dir on    (the city    ingest
 *                                                                   lazyfs)        broker)     (dedup, receipts)
 *
 * Faults, each kind on its own random schedule: hub kill -9; power cut (lazyfs drops what was
 * not fsynced, the hub dies with it, the disk is mounted again); Mosquitto killed and started;
 * serial noise and bit flips; unplug and replug; disk full and freed (lazyfs); device clock
 * jumps; tablets going offline. Without FUSE (see tests/support/lazyfs.ts) the hub runs on a
 * plain directory and power cuts and full disks are left out.
 *
 * At the end the faults stop, the backlog drains, and the invariants are checked:
 * every press an evaluator counted is stored at the hub, once, as pressed; every rating a tablet
 * was told is stored is stored; every rating the hub accepted reached the platform, once; no
 * transaction has two accepted ratings; nothing is stored that nobody rated; the hub never
 * stayed down longer than --max-outage-s. The figures are printed, the last line as
 * `CHAOS-RESULT {json}`. Exit 0 when every invariant holds, 1 when one does not, 2 for bad
 * arguments.
 */
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import five from 'johnny-five';
import mqtt, { type MqttClient } from 'mqtt';
import { Firmware, type LogEntry } from '../device/firmware.js';
import { JohnnyFiveHardware, SIM_PIN_MAP, boardReady } from '../device/hardware.js';
import { serialTransport } from '../device/transport.js';
import { prng } from '../protocol/fuzz.js';
import { DEFAULT_SETTINGS, Emitter, SettingsFlag, hallTopics, type ByteTransport, type ByteTransportEvents } from '../protocol/index.js';
import { PlatformIngest } from '../simulators/platform.js';
import { SimIO } from '../simulators/sim-io.js';
import { ADMIN_TOKEN, startHub, type HubProcess } from '../tests/support/hub.js';
import { LazyFs, type CutMode } from '../tests/support/lazyfs.js';
import { freePort, startMosquitto, type Mosquitto } from '../tests/support/mosquitto.js';
import { requireCommand, waitFor } from '../simulators/pty.js';

export interface ChaosOptions {
  /** How long faults are injected, minutes (fractions allowed). Default 1. */
  minutes: number;
  /** Seed of every random choice but the OS's timing. Default: the clock. */
  seed: number;
  /** Evaluators, each on its own window. Default 4. */
  devices: number;
  /** Tablets, on the first windows beside their evaluators (一事一评 races). Default 2. */
  tablets: number;
  /** Mean time the hub runs between a kill or cut and the next, s. Default 2. */
  hubUptimeS: number;
  /** The hub may not stay down longer than this, s. Default 30. */
  maxOutageS: number;
  /** How long the backlog may take to drain after the faults stop, s. Default 120. */
  drainS: number;
  /**
   * Largest backward step of a device clock, s. The firmware schedules its timers on its clock,
   * so a step back of N s holds its HELLOs and retransmissions for N s. Default 3.
   */
  clockBackS: number;
  /** Keep the work directory (logs, databases) after the run. Default false. */
  keep: boolean;
}

const DEFAULTS: ChaosOptions = { minutes: 1, seed: Date.now() % 2 ** 31, devices: 4, tablets: 2, hubUptimeS: 2, maxOutageS: 30, drainS: 120, clockBackS: 3, keep: false };

const HALL = 'CHAOS-HALL';
/** Settings pushed to every evaluator: short prompts so a minute holds many transactions. */
const SETTINGS = { ...DEFAULT_SETTINGS, promptTimeoutS: 6, thanksS: 1, flags: SettingsFlag.ACCEPT_UNSOLICITED };

type FaultKind = 'hubKill' | 'powerCut' | 'brokerKill' | 'serialNoise' | 'unplug' | 'diskFull' | 'clockJump' | 'tabletOffline';

/** A rating as its maker knows it. */
interface Rated {
  level: number;
  txnId: string;
}

/** A row of the hub's evaluations table, as the checker reads it. */
export interface HubRow {
  id: string;
  level: number;
  txnId: string | null;
  status: 'accepted' | 'refused';
  syncState: string;
}

export interface PlatformRow {
  id: string;
  level: number;
  txnId: string | null;
}

export interface Facts {
  /** Every EVAL an evaluator queued (its non-volatile queue took it), by id `DEVICE-COUNTER`. */
  presses: Map<string, Rated>;
  /** Tablet ratings by id, with what the hub's ack said (`pending`: no ack yet). */
  tablet: Map<string, Rated & { ack: 'ok' | 'duplicate' | 'rejected' | 'pending' }>;
  hub: HubRow[];
  platform: PlatformRow[];
}

export interface Verdict {
  /** Counted presses and acknowledged tablet ratings missing at the hub, or stored otherwise. */
  lostAtHub: string[];
  /** Accepted ratings the platform does not have. */
  lostAtPlatform: string[];
  /** Transactions with two accepted ratings at the hub or at the platform. */
  doubled: string[];
  /** Stored ratings nobody made (a corrupted frame taken for a press, say). */
  phantoms: string[];
  /** Tablet ratings never acknowledged. */
  unacknowledged: string[];
}

/** The invariants, on what the run saw and what the stores hold. Pure. */
export function checkInvariants(facts: Facts): Verdict {
  const hub = new Map(facts.hub.map((r) => [r.id, r]));
  const lostAtHub: string[] = [];
  for (const [id, press] of facts.presses) {
    const row = hub.get(id);
    // a press without a transaction may be attached to the window's open one by the hub
    if (!row || row.level !== press.level || (press.txnId !== '' && row.txnId !== press.txnId)) lostAtHub.push(id);
  }
  const unacknowledged: string[] = [];
  for (const [id, t] of facts.tablet) {
    if (t.ack === 'pending') unacknowledged.push(id);
    if (t.ack !== 'ok' && t.ack !== 'duplicate') continue;
    const row = hub.get(id);
    if (!row || row.level !== t.level || row.status !== 'accepted') lostAtHub.push(id);
  }
  const platform = new Map(facts.platform.map((r) => [r.id, r]));
  const lostAtPlatform = facts.hub.filter((r) => r.status === 'accepted' && !platform.has(r.id)).map((r) => r.id);
  const doubled: string[] = [];
  const perTxn = (rows: { txnId: string | null; level: number }[], where: string) => {
    const seen = new Map<string, number>();
    for (const r of rows) if (r.txnId && r.level > 0) seen.set(r.txnId, (seen.get(r.txnId) ?? 0) + 1);
    for (const [txn, n] of seen) if (n > 1) doubled.push(`${where}:${txn}×${n}`);
  };
  perTxn(facts.hub.filter((r) => r.status === 'accepted'), 'hub');
  perTxn(facts.platform, 'platform');
  const phantoms = [
    ...facts.hub.filter((r) => !facts.presses.has(r.id) && !facts.tablet.has(r.id)).map((r) => `hub:${r.id}`),
    ...facts.platform.filter((r) => hub.get(r.id)?.status !== 'accepted').map((r) => `platform:${r.id}`),
  ];
  return { lostAtHub, lostAtPlatform, doubled, phantoms, unacknowledged };
}

// ---------------------------------------------------------------------------------------------
// The edges: cables, evaluators, tablets, the hub process
// ---------------------------------------------------------------------------------------------

/**
 * The cable between an evaluator and the hub: the firmware's byte transport. Behind it a socat
 * pty pair whose far end is the hub's configured port. It corrupts bytes both ways while noisy,
 * and an unplug takes the hub's port away (socat ends, the path vanishes) until the replug.
 */
class Cable extends Emitter<ByteTransportEvents> implements ByteTransport {
  /** Per byte: chance of one flipped bit; per chunk: chance of a burst of garbage. */
  noise = { flip: 0, garbage: 0 };
  plugged = false;
  private port: ByteTransport | undefined;
  private socat: ChildProcess | undefined;

  constructor(
    readonly name: string,
    /** The hub's end (in the hub's configuration). */
    readonly hubPath: string,
    private readonly devicePath: string,
    private readonly random: () => number,
  ) {
    super();
  }

  async plug(): Promise<void> {
    await this.unplug(); // whatever a failed plug left behind
    const socat = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.devicePath}`, `pty,raw,echo=0,link=${this.hubPath}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.socat = socat;
    const lines = createInterface({ input: socat.stderr! });
    await waitFor<string>((l) => (lines.on('line', l), () => lines.off('line', l)), (line) => line.includes('starting data transfer loop'), 10_000, `socat for ${this.name}`);
    const port = serialTransport(this.devicePath);
    port.on('data', (chunk) => this.emit('data', this.corrupt(chunk)));
    await port.open();
    this.port = port;
    this.plugged = true;
  }

  async unplug(): Promise<void> {
    this.plugged = false;
    const port = this.port;
    this.port = undefined;
    await port?.close().catch(() => {});
    const socat = this.socat;
    if (socat && socat.exitCode === null) {
      const exited = new Promise((resolve) => socat.once('exit', resolve));
      socat.kill('SIGTERM');
      await exited;
    }
    rmSync(this.hubPath, { force: true });
    rmSync(this.devicePath, { force: true });
  }

  // ---- ByteTransport, as the firmware sees it: the cable is always there ----
  async open(): Promise<void> {}

  write(bytes: Uint8Array): Promise<void> {
    const port = this.port;
    if (!this.plugged || !port) return Promise.resolve(); // into a cut wire
    return port.write(this.corrupt(bytes)).catch(() => {});
  }

  close(): Promise<void> {
    return this.unplug();
  }

  private corrupt(bytes: Uint8Array): Uint8Array {
    if (this.noise.flip === 0 && this.noise.garbage === 0) return bytes;
    let out = Uint8Array.from(bytes);
    for (let i = 0; i < out.length; i++) if (this.random() < this.noise.flip) out[i]! ^= 1 << Math.floor(this.random() * 8);
    if (this.random() < this.noise.garbage) {
      const garbage = Uint8Array.from({ length: 1 + Math.floor(this.random() * 24) }, () => Math.floor(this.random() * 256));
      const at = Math.floor(this.random() * (out.length + 1));
      out = Uint8Array.from([...out.subarray(0, at), ...garbage, ...out.subarray(at)]);
    }
    return out;
  }
}

interface Evaluator {
  deviceId: string;
  windowId: string;
  io: SimIO;
  firmware: Firmware;
  cable: Cable;
  /** The device's clock runs this far from the true time (clock jumps), ms. */
  clockOffsetMs: number;
}

/** A hall tablet: keeps every rating until the hub's ack, resends on every connection. */
class Tablet {
  readonly outbox = new Map<string, string>();
  online = false;
  offered: string | undefined;
  private client: MqttClient | undefined;
  private n = 0;

  constructor(
    readonly tabletId: string,
    readonly windowId: string,
    private readonly token: string,
    private readonly url: string,
    private readonly ratings: Facts['tablet'],
  ) {}

  connect(): void {
    this.online = true;
    const client = mqtt.connect(this.url, { username: this.tabletId, password: this.token, protocolVersion: 4, reconnectPeriod: 500, connectTimeout: 3000, clean: true, clientId: `${this.tabletId}-${Math.random().toString(16).slice(2, 8)}` });
    this.client = client;
    client.on('error', () => {});
    client.on('connect', () => {
      client.subscribe([hallTopics.tablet(HALL, this.tabletId, 'acks'), hallTopics.tablet(HALL, this.tabletId, 'session')], { qos: 1 });
      for (const payload of this.outbox.values()) this.send(payload);
    });
    client.on('message', (topic, payload) => {
      let value: { id?: string; status?: string; txnId?: string };
      try {
        value = payload.length > 0 ? (JSON.parse(payload.toString()) as typeof value) : {};
      } catch {
        return;
      }
      if (topic.endsWith('/session')) this.offered = value.txnId;
      else if (topic.endsWith('/acks') && value.id && this.outbox.has(value.id)) {
        const rating = this.ratings.get(value.id);
        if (rating && (value.status === 'ok' || value.status === 'duplicate' || value.status === 'rejected')) rating.ack = value.status;
        this.outbox.delete(value.id);
      }
    });
  }

  async disconnect(): Promise<void> {
    this.online = false;
    const client = this.client;
    this.client = undefined;
    await client?.endAsync(true).catch(() => {});
  }

  /** A citizen rates the offered transaction on the tablet. */
  rate(level: number): boolean {
    const txnId = this.offered;
    if (!txnId) return false;
    this.offered = undefined;
    const id = `${this.tabletId}-${++this.n}`;
    const payload = JSON.stringify({ id, level, reasons: level <= 2 ? ['attitude'] : [], comment: '', txnId, windowId: this.windowId, evaluatedAt: new Date().toISOString() });
    this.ratings.set(id, { level, txnId, ack: 'pending' });
    this.outbox.set(id, payload);
    this.send(payload);
    return true;
  }

  private send(payload: string): void {
    if (this.client?.connected) this.client.publish(hallTopics.tablet(HALL, this.tabletId, 'evaluations'), payload, { qos: 1 }, () => {});
  }
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

export interface Figures {
  seed: number;
  minutes: number;
  /** How long the faults actually ran (Ctrl-C ends them early), s. */
  faultsS: number;
  powerCutsThroughLazyfs: boolean;
  faults: Record<FaultKind, number>;
  cutModes: Record<CutMode, number>;
  unsyncedBytesDropped: number;
  ratings: { evaluator: number; notEvaluated: number; tablet: number; tabletRefused: number; hubStored: number; hubAccepted: number; hubRefused: number; platformStored: number; platformRepeats: number };
  lost: number;
  lostAtHub: number;
  lostAtPlatform: number;
  doubled: number;
  phantoms: number;
  unacknowledged: number;
  undrained: string[];
  hubStarts: number;
  hubStartFailures: number;
  /** Hub exits nobody asked for, with their last log lines. */
  hubCrashes: string[];
  /** The hubs' error log lines by message, over every run. */
  hubErrors: Record<string, number>;
  startFailures: string[];
  /** Hub starts refused because a dead hub's lock named a live process. */
  staleLocks: string[];
  longestOutageS: number;
  maxOutageS: number;
  drainS: number;
  integrity: string;
  samples: { lostAtHub: string[]; lostAtPlatform: string[]; doubled: string[]; phantoms: string[] };
  ok: boolean;
}

/**
 * Runs the hall for `options.minutes` under faults, drains it, checks it. `signal` ends the
 * faults early (Ctrl-C): the drain and the check still run.
 */
export async function runChaos(options: ChaosOptions, say: (line: string) => void, signal?: AbortSignal): Promise<Figures> {
  requireCommand('socat', 'socat');
  const rand = prng(options.seed);
  const random = () => rand() / 2 ** 32;
  const between = (lo: number, hi: number) => lo + random() * (hi - lo);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const dir = mkdtempSync(join(tmpdir(), 'hcp-chaos-'));
  const undo: (() => unknown)[] = [];
  const faults: Record<FaultKind, number> = { hubKill: 0, powerCut: 0, brokerKill: 0, serialNoise: 0, unplug: 0, diskFull: 0, clockJump: 0, tabletOffline: 0 };
  const cutModes: Record<CutMode, number> = { drop: 0, torn: 0, reorder: 0 };
  const facts: Facts = { presses: new Map(), tablet: new Map(), hub: [], platform: [] };
  // Fault schedules and the scenario wait on these; aborting one ends its waits at once.
  const faultsOver = new AbortController();
  const scenarioOver = new AbortController();
  const pause = (ms: number, over: AbortController) => delay(ms, undefined, { signal: over.signal }).catch(() => undefined);
  const timers: NodeJS.Timeout[] = [];

  try {
    // ---- the disk: lazyfs when it can be had ----
    let lazy: LazyFs | undefined;
    try {
      lazy = await LazyFs.mount(join(dir, 'fs'));
      undo.push(() => lazy?.unmount());
    } catch (error) {
      say(`power cuts and full disks left out: ${(error as Error).message}`);
    }
    const dataDir = join(lazy ? lazy.mountpoint : dir, 'hub');

    // ---- the platform: Mosquitto and the ingest ----
    mkdirSync(join(dir, 'mosquitto'));
    const broker: Mosquitto = await startMosquitto(join(dir, 'mosquitto'));
    let brokerUp = true;
    undo.push(() => broker.stop());
    const ingest = await PlatformIngest.start({ brokerUrl: broker.url, dbFile: join(dir, 'platform.sqlite') });
    undo.push(() => ingest.close());

    // ---- cables and the hub's configuration ----
    const ids = Array.from({ length: options.devices }, (_, i) => String(i + 1).padStart(2, '0'));
    const cables = ids.map((id) => new Cable(`cable ${id}`, join(dir, `tty-hub-${id}`), join(dir, `tty-dev-${id}`), random));
    for (const cable of cables) {
      await cable.plug();
      undo.push(() => cable.unplug());
    }
    const httpPort = await freePort();
    const hubConfig = {
      hallId: HALL,
      dataDir,
      http: { host: '127.0.0.1', port: httpPort },
      platform: { url: broker.url },
      devices: { serial: cables.map((c) => ({ path: c.hubPath })), discover: { serial: false, hid: false } },
      windows: ids.map((id) => ({ id: `W${id}`, name: `W${id}`, deviceId: `HCP5-CHAOS${id}` })),
      sync: { republishAfterS: 3 },
    };
    const api = async (method: string, path: string, body?: unknown): Promise<any> => {
      const res = await fetch(`http://127.0.0.1:${httpPort}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(3000) });
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status}`);
      return res.json();
    };

    // ---- the hub, kept running (and killed) by its supervisor ----
    let hub: HubProcess | undefined;
    let hubUp = false;
    let downSince = Date.now();
    let longestOutageMs = 0;
    let hubStarts = 0;
    let hubStartFailures = 0;
    let unsyncedBytesDropped = 0;
    const startFailures: string[] = [];
    /** Hubs that exited without being killed by us, with their last words. */
    const crashes: string[] = [];
    /** The hubs' error log lines, by message (a commit failing on a full disk, say). */
    const hubErrors: Record<string, number> = {};
    const killedByUs = new WeakSet<HubProcess>();
    /** Starts refused over a lock left by a dead hub (its pid now names a live process). */
    const staleLocks: string[] = [];
    undo.push(async () => {
      if (!hub || hub.proc.child.exitCode !== null) return;
      killedByUs.add(hub);
      hub.proc.child.kill('SIGKILL');
      await hub.proc.exited(10_000);
    });
    const bringUp = async () => {
      for (;;) {
        try {
          const h = await startHub(dir, hubConfig);
          hub = h;
          // 'close', not 'exit': by then stderr (a crash's stack) has been read to its end
          h.proc.child.once('close', (code, sig) => {
            for (const line of h.proc.stdout) {
              if (!line.includes('"level":"error"')) continue;
              const msg = (JSON.parse(line) as { msg?: string }).msg ?? '?';
              hubErrors[msg] = (hubErrors[msg] ?? 0) + 1;
            }
            if (killedByUs.has(h)) return;
            const stderr = h.proc.logs.map((e) => String(e['msg'])).join('\n');
            crashes.push(`exit ${code ?? sig} after ${h.proc.stdout.length} log lines; last: ${h.proc.stdout.slice(-3).join(' | ')}; stderr:\n${stderr.slice(0, 4000)}`);
            say(`the hub exited by itself: ${crashes.at(-1)}`);
            if (hub === h) {
              hubUp = false;
              downSince = Date.now();
            }
          });
          hubStarts++;
          hubUp = true;
          longestOutageMs = Math.max(longestOutageMs, Date.now() - downSince);
          return;
        } catch (error) {
          hubStartFailures++;
          // Our last hub is dead (we killed it and saw it exit): a hub that will not start
          // because of a lock naming a live pid trusts a lock a power cut left behind. It is
          // counted as a failure; then the lock goes, as the hub's message tells a technician.
          if (/another hub \(pid \d+\) is using/.test((error as Error).message)) {
            staleLocks.push((error as Error).message.slice(0, 300));
            rmSync(join(dataDir, 'hub.lock'), { force: true });
            continue;
          }
          if (startFailures.length < 5) startFailures.push((error as Error).message.slice(0, 400));
          say(`hub did not start: ${(error as Error).message.slice(0, 300)}`);
          if (Date.now() - downSince > options.maxOutageS * 1000 * 4) throw new Error(`the hub has not started for ${Math.round((Date.now() - downSince) / 1000)} s: ${startFailures.join(' | ')}`);
          await delay(1000);
        }
      }
    };
    await bringUp();
    /** The set-up's calls, again until they get through (a loaded machine answers slowly). */
    const setUp = async (method: string, path: string, body: unknown): Promise<any> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await api(method, path, body);
        } catch (error) {
          if (attempt >= 10) throw new Error(`set-up ${method} ${path}: ${(error as Error).message}`);
          await delay(1000);
        }
      }
    };
    // The hall, set up once through the API (durable: answered after the commit).
    for (const id of ids) await setUp('PUT', `/api/windows/W${id}/staff`, { duty: 'on', staffId: `S${id}`, staffName: `Clerk ${id}` });
    const tokens: string[] = [];
    for (let i = 0; i < Math.min(options.tablets, ids.length); i++) tokens.push((await setUp('POST', `/api/devices/TAB-${ids[i]}/pair`, { windowId: `W${ids[i]}`, kind: 'tablet' })).token as string);

    // ---- evaluators and tablets ----
    const evaluators: Evaluator[] = [];
    for (const [i, id] of ids.entries()) {
      const io = new SimIO();
      const board = new five.Board({ io, repl: false, debug: false, sigint: false } as unknown as five.BoardOption);
      await boardReady(board);
      const deviceId = `HCP5-CHAOS${id}`;
      const e: Evaluator = { deviceId, windowId: `W${id}`, io, cable: cables[i]!, clockOffsetMs: 0, firmware: undefined as unknown as Firmware };
      const log = (entry: LogEntry) => {
        // a press is counted once its EVAL is queued; the firmware logs it with its counter
        if ((entry.msg === 'rated' || entry.msg === 'prompt timed out: not evaluated') && typeof entry['counter'] === 'number') {
          facts.presses.set(`${deviceId}-${entry['counter']}`, { level: Number(entry['rating']), txnId: String(entry['txnId'] ?? '') });
        }
      };
      e.firmware = new Firmware({ core: { deviceId }, stateDir: join(dir, 'devices', deviceId), transport: cables[i]!, hardware: new JohnnyFiveHardware(board, SIM_PIN_MAP), clock: { now: () => Date.now() + e.clockOffsetMs }, log });
      await e.firmware.start();
      undo.push(() => e.firmware.stop().catch(() => {}));
      evaluators.push(e);
    }
    for (const e of evaluators) await setUp('PUT', `/api/devices/${e.deviceId}/settings`, SETTINGS);
    const tablets = tokens.map((token, i) => new Tablet(`TAB-${ids[i]}`, `W${ids[i]}`, token, `ws://127.0.0.1:${httpPort}/mqtt`, facts.tablet));
    for (const t of tablets) {
      t.connect();
      undo.push(() => t.disconnect());
    }
    say(`hall up: ${evaluators.length} evaluators over ptys, ${tablets.length} tablets, Mosquitto on ${broker.port}, hub data on ${lazy ? 'lazyfs' : 'a plain directory'} (${dir})`);

    // ---- the citizens and clerks ----
    const press = (e: Evaluator, level: number) => {
      const pin = SIM_PIN_MAP.buttons[String(level) as '1'];
      if (typeof pin !== 'number') return;
      e.io.setInput(pin, 1);
      setTimeout(() => e.io.setInput(pin, 0), 120);
    };
    let txnSeq = 0;
    let scenarioOn = true;
    const windowLife = async (e: Evaluator, tablet: Tablet | undefined) => {
      while (scenarioOn) {
        await pause(between(1000, 3000), scenarioOver);
        if (!scenarioOn) break;
        if ((!hubUp || random() < 0.3) && e.firmware.state === 'idle') {
          // an unsolicited press (2..4: 1 and 5 are the technician chord): kept on the device
          // while the hub is down, so the queue has a backlog when the hub comes back
          press(e, 2 + Math.floor(random() * 3));
          continue;
        }
        if (!hubUp) continue;
        const txnId = `${HALL}-${options.seed}-${++txnSeq}`;
        try {
          await api('POST', `/api/windows/${e.windowId}/service`, { event: 'done', txnId, matterName: '不动产登记' });
        } catch {
          continue; // the hub went down: the clerk's queue system tries the next one
        }
        const level = pick([5, 5, 5, 5, 4, 4, 3, 2, 1]);
        const onTablet = tablet && random() < 0.4;
        const onEvaluator = !onTablet || random() < 0.3; // sometimes both: 一事一评 must refuse one
        await pause(between(300, 2500), scenarioOver);
        if (onTablet) tablet.rate(level);
        if (onEvaluator && e.firmware.state === 'prompt') press(e, level);
      }
    };
    const lives = evaluators.map((e, i) => windowLife(e, tablets[i]));

    // ---- the faults ----
    const running = () => !faultsOver.signal.aborted;
    const faultsFrom = Date.now();
    timers.push(setTimeout(() => faultsOver.abort(), options.minutes * 60_000));
    signal?.addEventListener('abort', () => faultsOver.abort());
    let supervisorError: Error | undefined;
    const hubSupervisor = (async () => {
      while (running()) {
        const h = hub!;
        // 'close' as the crash listener does, so a crash is seen as one before anything else
        const exited = new Promise<void>((resolve) => (!hubUp ? resolve() : h.proc.child.once('close', () => resolve())));
        await Promise.race([pause(between(0.25, 1.75) * options.hubUptimeS * 1000, faultsOver), exited]);
        if (!hubUp) {
          await bringUp(); // it died by itself: counted in crashes
          continue;
        }
        if (!running()) break;
        killedByUs.add(h);
        const cut = lazy && random() < 0.5;
        hubUp = false;
        downSince = Date.now();
        if (cut) {
          const mode = pick<CutMode>(['drop', 'torn', 'reorder']);
          const report = await lazy!.cut(mode, rand());
          h.proc.child.kill('SIGKILL');
          await h.proc.exited(10_000);
          faults.powerCut++;
          cutModes[mode]++;
          unsyncedBytesDropped += report.droppedBytes;
          await lazy!.remount();
        } else {
          h.proc.child.kill('SIGKILL');
          await h.proc.exited(10_000);
          faults.hubKill++;
        }
        await bringUp();
      }
    })().catch((error: Error) => {
      supervisorError = error;
      faultsOver.abort();
    });
    /** A fault kind on its own schedule: wait, inject, hold, restore. */
    const every = (kind: FaultKind, gapS: [number, number], inject: () => Promise<(() => Promise<void> | void) | undefined>, holdS: [number, number]) =>
      (async () => {
        while (running()) {
          await pause(between(gapS[0], gapS[1]) * 1000, faultsOver);
          if (!running()) break;
          try {
            const restore = await inject();
            if (!restore) continue;
            faults[kind]++;
            await pause(between(holdS[0], holdS[1]) * 1000, faultsOver);
            await restore();
          } catch (error) {
            say(`${kind}: ${(error as Error).message}`);
          }
        }
      })();
    const injectors = [
      every('brokerKill', [3, 25], async () => {
        brokerUp = false;
        await broker.kill();
        return async () => {
          await broker.start();
          brokerUp = true;
        };
      }, [0.3, 5]),
      every('serialNoise', [1, 8], async () => {
        const cable = pick(cables);
        if (cable.noise.flip > 0) return undefined;
        cable.noise = { flip: between(0.001, 0.03), garbage: between(0.01, 0.2) };
        return () => void (cable.noise = { flip: 0, garbage: 0 });
      }, [0.5, 4]),
      every('unplug', [4, 20], async () => {
        const cable = pick(cables);
        if (!cable.plugged) return undefined;
        await cable.unplug();
        return () => cable.plug();
      }, [0.5, 6]),
      every('clockJump', [4, 20], async () => {
        const e = pick(evaluators);
        // A Node firmware's clock is the wall clock: NTP steps it, forward by up to two hours
        // here, back by up to --clock-back-s (its timers wait out a backward step: see there).
        e.clockOffsetMs += random() < 0.5 ? Math.round(between(1000, 2 * 3_600_000)) : -Math.round(between(100, options.clockBackS * 1000));
        return () => undefined;
      }, [0, 0]),
      every('tabletOffline', [3, 15], async () => {
        const t = tablets.length > 0 ? pick(tablets) : undefined;
        if (!t || !t.online) return undefined;
        await t.disconnect();
        return () => t.connect();
      }, [1, 12]),
      ...(lazy
        ? [
            every('diskFull', [10, 40], async () => {
              const ok = await lazy!.full(true).then(() => true, () => false);
              return ok ? () => lazy!.full(false).catch(() => {}) : undefined;
            }, [2, 15]),
          ]
        : []),
    ];

    const progress = setInterval(() => {
      const f = Object.entries(faults).map(([k, v]) => `${k} ${v}`).join(', ');
      say(`presses ${facts.presses.size}, tablet ${facts.tablet.size}, platform ${ingest.counts.stored}; ${f}; longest outage ${(longestOutageMs / 1000).toFixed(1)} s`);
    }, 30_000);
    undo.push(() => clearInterval(progress));

    await Promise.all(injectors);
    await hubSupervisor;
    const faultsS = (Date.now() - faultsFrom) / 1000;
    clearInterval(progress);
    if (supervisorError) throw supervisorError;

    // ---- everything back, then the backlog drains ----
    for (const cable of cables) {
      cable.noise = { flip: 0, garbage: 0 };
      if (!cable.plugged) await cable.plug();
    }
    if (!brokerUp) await broker.start();
    if (lazy) await lazy.full(false);
    for (const t of tablets) if (!t.online) t.connect();
    scenarioOn = false;
    scenarioOver.abort();
    await Promise.all(lives);
    if (!hubUp) await bringUp();
    const drainStart = Date.now();
    const db = new Database(join(dataDir, 'hub.sqlite'), { readonly: true, fileMustExist: true });
    undo.push(() => db.close());
    const backlog = () => (db.prepare(`SELECT COUNT(*) AS n FROM evaluations WHERE sync_state IN ('pending', 'sent')`).get() as { n: number }).n;
    const undrained = () => [
      ...evaluators.filter((e) => e.firmware.queueDepth > 0 || e.firmware.state === 'prompt' || !e.firmware.linkUp).map((e) => `${e.deviceId}: ${e.firmware.queueDepth} queued, ${e.firmware.state}, link ${e.firmware.linkUp ? 'up' : 'down'}`),
      ...tablets.filter((t) => t.outbox.size > 0).map((t) => `${t.tabletId}: ${t.outbox.size} unacknowledged`),
      ...(backlog() > 0 ? [`hub: ${backlog()} not confirmed by the platform`] : []),
    ];
    // No event covers another process's database: look every 250 ms, up to the deadline.
    while (undrained().length > 0 && Date.now() - drainStart < options.drainS * 1000) await delay(250);
    const left = undrained();
    const drainS = (Date.now() - drainStart) / 1000;

    // ---- the stores, and the verdict ----
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    facts.hub = (db.prepare(`SELECT id, level, txn_id AS txnId, status, sync_state AS syncState FROM evaluations`).all() as HubRow[]);
    facts.platform = (ingest.db.prepare(`SELECT id, level, json_extract(payload, '$.txnId') AS txnId FROM evaluations WHERE hall_id = ?`).all(HALL) as PlatformRow[]);
    const repeats = (ingest.db.prepare('SELECT COALESCE(SUM(repeats), 0) AS n FROM evaluations').get() as { n: number }).n;
    const verdict = checkInvariants(facts);
    /** What the maker was told and what the hub holds, for a lost id. */
    const describe = (id: string) => {
      const made = facts.presses.get(id) ?? facts.tablet.get(id);
      const row = facts.hub.find((r) => r.id === id);
      return `${id}: made ${JSON.stringify(made)}, hub ${row ? JSON.stringify(row) : 'has no row'}`;
    };
    const presses = [...facts.presses.values()];
    const tabletRatings = [...facts.tablet.values()];
    const figures: Figures = {
      seed: options.seed,
      minutes: options.minutes,
      faultsS,
      powerCutsThroughLazyfs: lazy !== undefined,
      faults,
      cutModes,
      unsyncedBytesDropped,
      ratings: {
        evaluator: presses.filter((p) => p.level > 0).length,
        notEvaluated: presses.filter((p) => p.level === 0).length,
        tablet: tabletRatings.filter((t) => t.ack === 'ok' || t.ack === 'duplicate').length,
        tabletRefused: tabletRatings.filter((t) => t.ack === 'rejected').length,
        hubStored: facts.hub.length,
        hubAccepted: facts.hub.filter((r) => r.status === 'accepted').length,
        hubRefused: facts.hub.filter((r) => r.status === 'refused').length,
        platformStored: facts.platform.length,
        platformRepeats: repeats,
      },
      lost: verdict.lostAtHub.length + verdict.lostAtPlatform.length,
      lostAtHub: verdict.lostAtHub.length,
      lostAtPlatform: verdict.lostAtPlatform.length,
      doubled: verdict.doubled.length,
      phantoms: verdict.phantoms.length,
      unacknowledged: verdict.unacknowledged.length,
      undrained: left,
      hubStarts,
      hubStartFailures,
      hubCrashes: crashes,
      hubErrors,
      startFailures,
      staleLocks,
      longestOutageS: longestOutageMs / 1000,
      maxOutageS: options.maxOutageS,
      drainS,
      integrity,
      samples: { lostAtHub: verdict.lostAtHub.slice(0, 10).map((id) => describe(id)), lostAtPlatform: verdict.lostAtPlatform.slice(0, 10), doubled: verdict.doubled.slice(0, 10), phantoms: verdict.phantoms.slice(0, 10) },
      ok: false,
    };
    figures.ok = crashes.length === 0 && staleLocks.length === 0 && figures.lost === 0 && figures.doubled === 0 && figures.phantoms === 0 && figures.unacknowledged === 0 && left.length === 0 && integrity === 'ok' && longestOutageMs <= options.maxOutageS * 1000;
    if (!figures.ok) say(`keeping ${dir} for a look`);
    if (!figures.ok) options.keep = true;
    return figures;
  } finally {
    faultsOver.abort();
    scenarioOver.abort();
    for (const t of timers) clearTimeout(t);
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch {
        /* everything else still gets undone */
      }
    }
    if (!options.keep) rmSync(dir, { recursive: true, force: true });
  }
}

function report(f: Figures, say: (line: string) => void): void {
  const n = (x: number) => x.toLocaleString('en-US');
  say(`chaos: ${(f.faultsS / 60).toFixed(1)} min of faults, seed ${f.seed}; hub data ${f.powerCutsThroughLazyfs ? 'on lazyfs (power cuts drop unsynced writes)' : 'on a plain directory (no power cuts)'}`);
  say(`faults: hub kill -9 ${n(f.faults.hubKill)}, power cut ${n(f.faults.powerCut)} (drop ${f.cutModes.drop}, torn ${f.cutModes.torn}, reorder ${f.cutModes.reorder}; ${n(f.unsyncedBytesDropped)} unsynced bytes lost), Mosquitto kill ${n(f.faults.brokerKill)}, serial noise ${n(f.faults.serialNoise)}, unplug ${n(f.faults.unplug)}, disk full ${n(f.faults.diskFull)}, clock jump ${n(f.faults.clockJump)}, tablet offline ${n(f.faults.tabletOffline)}`);
  say(`ratings: evaluator presses ${n(f.ratings.evaluator)} (+ ${n(f.ratings.notEvaluated)} not evaluated), tablet ${n(f.ratings.tablet)} (+ ${n(f.ratings.tabletRefused)} refused, 一事一评); hub stored ${n(f.ratings.hubStored)} (${n(f.ratings.hubAccepted)} accepted, ${n(f.ratings.hubRefused)} refused); platform stored ${n(f.ratings.platformStored)} (${n(f.ratings.platformRepeats)} repeats deduplicated)`);
  say(`lost: ${f.lost} (hub ${f.lostAtHub}, platform ${f.lostAtPlatform}); doubled: ${f.doubled}; phantoms: ${f.phantoms}; unacknowledged: ${f.unacknowledged}; integrity_check: ${f.integrity}`);
  say(`hub errors logged: ${Object.entries(f.hubErrors).map(([m, c]) => `${m} ×${c}`).join('; ') || 'none'}`);
  if (f.startFailures.length) say(`hub start failures (first ${f.startFailures.length}): ${f.startFailures.join(' | ')}`);
  if (f.staleLocks.length) say(`HUB REFUSED TO START over a dead hub's lock: ${f.staleLocks.length} times, e.g. ${f.staleLocks[0]}`);
  if (f.hubCrashes.length) say(`HUB CRASHES: ${f.hubCrashes.length}: ${f.hubCrashes.slice(0, 5).join(' || ')}`);
  say(`hub: ${n(f.hubStarts)} starts (${f.hubStartFailures} failed, ${f.hubCrashes.length} crashed by itself), longest outage ${f.longestOutageS.toFixed(1)} s (limit ${f.maxOutageS} s); drained in ${f.drainS.toFixed(1)} s${f.undrained.length ? `, NOT drained: ${f.undrained.join('; ')}` : ''}`);
  if (!f.ok) say(`FAILED: ${JSON.stringify(f.samples)}`);
}

function parse(argv: string[]): ChaosOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string' },
      seed: { type: 'string' },
      devices: { type: 'string' },
      tablets: { type: 'string' },
      'hub-uptime-s': { type: 'string' },
      'max-outage-s': { type: 'string' },
      'drain-s': { type: 'string' },
      'clock-back-s': { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const num = (name: keyof typeof values, fallback: number, min: number) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const v = Number(raw);
    if (!Number.isFinite(v) || v < min) throw new TypeError(`--${name} must be a number of at least ${min}, got ${JSON.stringify(raw)}`);
    return v;
  };
  return {
    minutes: num('minutes', DEFAULTS.minutes, 0.05),
    seed: Math.floor(num('seed', DEFAULTS.seed, 0)),
    devices: Math.floor(num('devices', DEFAULTS.devices, 1)),
    tablets: Math.floor(num('tablets', DEFAULTS.tablets, 0)),
    hubUptimeS: num('hub-uptime-s', DEFAULTS.hubUptimeS, 0.2),
    maxOutageS: num('max-outage-s', DEFAULTS.maxOutageS, 1),
    drainS: num('drain-s', DEFAULTS.drainS, 1),
    clockBackS: num('clock-back-s', DEFAULTS.clockBackS, 0.1),
    keep: values.keep ?? false,
  };
}

async function main(): Promise<number> {
  let options: ChaosOptions;
  try {
    options = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`chaos: ${(error as Error).message}\n`);
    return 2;
  }
  const say = (line: string) => process.stdout.write(`${line}\n`);
  // Ctrl-C (or SIGTERM) ends the faults early; the drain and the check still run. A second one quits.
  const early = new AbortController();
  const onSignal = () => {
    if (early.signal.aborted) process.exit(130);
    say('ending the faults early: draining and checking');
    early.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const figures = await runChaos(options, say, early.signal);
  report(figures, say);
  say(`CHAOS-RESULT ${JSON.stringify(figures)}`);
  return figures.ok ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`chaos: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
}
