/**
 * The evaluator links (DESIGN "Hub"): ports opened from the configuration and kept open
 * (reopened after an unplug), evaluators discovered by USB id, one `DeviceLink` per port, and
 * their statistics. A bad device, bad bytes or an unplug affects that link only. Ports come
 * from the injected `PortOpener`, so tests run the real links over ptys or memory pipes.
 */
import { DEVICE_STATE_NAMES, type ByteTransport, type Eval, type Event, type Hello, type Message } from '../protocol/index.js';
import { Timers, type Clock } from './clock.js';
import { DeviceLink, type AckDecision, type LinkDeps } from './link.js';
import type { Logger } from './log.js';
import type { PortOpener } from './ports.js';

export interface LinksDeps {
  opener: PortOpener;
  clock: Clock;
  log: Logger;
  pairing: LinkDeps['pairing'];
  staff: LinkDeps['staff'];
  /** Commits an EVAL; resolves to the ACK only after the commit. */
  evaluation(link: DeviceLink, deviceId: string, message: Eval, clock: { offsetMs: number | undefined; receivedAt: number }): Promise<AckDecision>;
  event(deviceId: string, message: Event): Promise<void>;
  /** A device said HELLO (record it, then re-check its pairing). */
  hello(link: DeviceLink, hello: Hello): void;
  /** A device's state, queue depth or presence changed. */
  status(deviceId: string, fields: { state?: string; queued?: number }): void;
  /** Discovery poll interval, ms. Default 2000. */
  discoveryIntervalMs?: number;
  /** PROTOCOL 1.3 [r2] HUB_STATE flags now. */
  hubState?(): number;
}

/**
 * HELLOs of one port (DESIGN "Hub": a bad device affects its own link only): a device repeats
 * HELLO every 2 s until welcomed, which is recorded at most every 30 s; new device ids are
 * taken at most 3 a minute. The rest are dropped and counted, one log line per burst.
 */
export class HelloGate {
  private readonly lastRecorded = new Map<string, number>();
  private newIds: number[] = [];
  private dropped = 0;

  constructor(
    private readonly clock: Clock,
    private readonly burst: (dropped: number) => void,
  ) {}

  admit(deviceId: string): boolean {
    const now = this.clock.now();
    const last = this.lastRecorded.get(deviceId);
    if (last !== undefined) {
      if (now - last < 30_000) return false; // already recorded: the session goes on regardless
      this.lastRecorded.set(deviceId, now);
      return true;
    }
    this.newIds = this.newIds.filter((t) => t > now - 60_000);
    if (this.newIds.length >= 3) {
      if (this.dropped++ === 0) this.burst(1);
      return false;
    }
    if (this.dropped > 0) {
      this.burst(this.dropped);
      this.dropped = 0;
    }
    this.newIds.push(now);
    if (this.lastRecorded.size > 64) this.lastRecorded.clear();
    this.lastRecorded.set(deviceId, now);
    return true;
  }
}

/** A link's counters as the technician sees them. */
export interface LinkSummary {
  online: boolean;
  /** The port where this device id is already online, if this port's device was refused for it. */
  conflictWith?: string;
  linkErrors: number;
  link: { framesIn: number; framesOut: number; drops: DeviceLink['stats']['drops']; refused: number; retransmits: number };
}

export class Links {
  private readonly links = new Set<DeviceLink>();
  private readonly ports = new Map<string, DeviceLink>();
  private readonly timers: Timers;
  private stopped = false;

  constructor(private readonly deps: LinksDeps) {
    this.timers = new Timers(deps.clock);
  }

  /** Opens a port and keeps it open: reopened after an unplug, every 2 s. */
  keepOpen(path: string, baudRate: number): void {
    const open = () => {
      if (this.stopped || this.ports.has(path)) return;
      this.attach(this.deps.opener.serial(path, baudRate), path).catch((error: Error) => {
        this.deps.log({ level: 'warn', msg: 'cannot open port', port: path, error: error.message });
      });
    };
    open();
    this.timers.every(2000, open);
  }

  /** Polls for evaluators by USB id and opens the new ones. */
  discover(options: { serial: boolean; hid: boolean }): void {
    if (!options.serial && !options.hid) return;
    const poll = async () => {
      if (this.stopped) return;
      try {
        if (options.serial) {
          for (const path of await this.deps.opener.discoverSerial()) {
            if (!this.ports.has(path)) this.attach(this.deps.opener.serial(path, 115200), path).catch((e: Error) => this.deps.log({ level: 'warn', msg: 'cannot open port', port: path, error: e.message }));
          }
        }
        if (options.hid) {
          for (const found of await this.deps.opener.discoverHid()) {
            if (!this.ports.has(found.name)) this.attach(found, found.name).catch((e: Error) => this.deps.log({ level: 'warn', msg: 'cannot open HID device', port: found.name, error: e.message }));
          }
        }
      } catch (error) {
        this.deps.log({ level: 'debug', msg: 'discovery failed', error: (error as Error).message });
      }
    };
    this.timers.every(this.deps.discoveryIntervalMs ?? 2000, () => void poll());
    void poll();
  }

  /** Runs a link over a transport until it closes; isolated from every other link. */
  async attach(transport: ByteTransport, key: string): Promise<DeviceLink> {
    const { log } = this.deps;
    const link: DeviceLink = new DeviceLink(transport, {
      pairing: this.deps.pairing,
      staff: this.deps.staff,
      evaluation: (deviceId, message, clock) => this.deps.evaluation(link, deviceId, message, clock),
      event: this.deps.event,
      now: () => this.deps.clock.now(),
      clock: this.deps.clock,
      hubState: () => this.deps.hubState?.() ?? 0,
      conflict: (deviceId) => [...this.ports].find(([, other]) => other !== link && other.deviceId === deviceId && other.isWelcomed && other.isOnline)?.[0],
    });
    const gate = new HelloGate(this.deps.clock, (dropped) => log({ level: 'warn', msg: 'HELLO flood: new device ids ignored on this port', port: key, dropped }));
    this.ports.set(key, link);
    this.links.add(link);
    link.on('log', (entry) => log({ ...entry, port: key }));
    link.on('hello', (hello) => {
      if (!gate.admit(hello.deviceId)) return; // a flood of fresh ids: not recorded, not logged one by one
      log({ level: 'info', msg: 'device hello', port: key, deviceId: hello.deviceId, fwVersion: hello.fwVersion, queued: hello.queued, paired: !!this.deps.pairing(hello.deviceId) });
      this.deps.hello(link, hello);
    });
    link.on('online', (id) => this.deps.status(id, {}));
    link.on('offline', (id) => log({ level: 'warn', msg: 'device offline', deviceId: id, port: key }));
    link.on('state', (id, state, queued) => this.deps.status(id, { state: DEVICE_STATE_NAMES[state as keyof typeof DEVICE_STATE_NAMES] ?? String(state), queued }));
    link.on('closed', (error) => {
      this.links.delete(link);
      this.ports.delete(key);
      if (error && !this.stopped) log({ level: 'warn', msg: 'link closed', port: key, deviceId: link.deviceId, error: error.message });
    });
    try {
      await link.open();
    } catch (error) {
      this.links.delete(link);
      this.ports.delete(key);
      throw error;
    }
    log({ level: 'info', msg: 'link open', port: key });
    return link;
  }

  /** Sends a reliable message to a welcomed device; false if it is not online and welcomed. */
  send(deviceId: string, message: Message): boolean {
    return this.welcomed(deviceId)?.sendReliable(message) ?? false;
  }

  /** The hub's state changed: every welcomed device is told (HUB_STATE). */
  broadcastHubState(flags: number): void {
    for (const link of this.links) link.sendHubState(flags);
  }

  /** Pairings changed: welcome waiting devices, release unpaired ones. */
  recheckPairings(): void {
    for (const link of this.links) link.recheckPairing();
  }

  summary(deviceId: string): LinkSummary | undefined {
    const link = [...this.links].find((l) => l.deviceId === deviceId);
    if (!link) return undefined;
    const s = link.stats;
    const linkErrors = Object.entries(s.drops).reduce((n, [reason, count]) => (reason === 'resync' ? n : n + count), 0) + s.refused;
    const conflict = [...this.links].find((l) => l.deviceId === deviceId && l.conflictWith)?.conflictWith;
    return { online: link.isOnline, ...(conflict ? { conflictWith: conflict } : {}), linkErrors, link: { framesIn: s.framesIn, framesOut: s.framesOut, drops: s.drops, refused: s.refused, retransmits: s.retransmits } };
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.timers.clearAll();
    await Promise.all([...this.links].map((l) => l.close().catch(() => {})));
  }

  private welcomed(deviceId: string): DeviceLink | undefined {
    return [...this.links].find((l) => l.deviceId === deviceId && l.isWelcomed);
  }
}
