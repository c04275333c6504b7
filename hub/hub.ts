/**
 * The hall hub (DESIGN "Hub"): evaluator links, the store, transactions (一事一评), the
 * embedded broker for tablets, and the HTTP API, on one HTTP server. `startHub` binds the real
 * edges; everything it composes takes them as arguments.
 */
import { createServer, type Server } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { servePage } from './pages.js';
import { dueAt } from './deadlines.js';
import { maskContact, rowToEvaluation } from './evaluations.js';
import type { AddressInfo } from 'node:net';
import {
  AckReason,
  AckStatus,
  DeviceState,
  Duty,
  PayloadError,
  ServiceEvent,
  hallTopics,
  parsePayload,
  type Eval,
  type Evaluation,
  type Event,
  type Hello,
  type PublicConfig,
  type Settings,
  type TabletAck,
  type TabletEvaluation,
  DEFAULT_REASONS,
  DEFAULT_SETTINGS,
  isTopicSegment,
  type HallConfig,
} from '../protocol/index.js';
import { SerialTransport, type ByteTransport } from '../device/transport.js';
import { HallBroker } from './broker.js';
import type { HubConfig } from './config.js';
import { commitEvaluation, exportEvaluations, listEvaluations, recordService, stats, syncSummary, type CommitResult, type ExportFormat, type StatGroup } from './evaluations.js';
import { createApi } from './http.js';
import { DeviceLink, type AckDecision } from './link.js';
import { discoverHid, discoverSerial } from './discovery.js';
import { pairDevice, Registry, unpairDevice, DUTY_CODE, type DeviceKind, type StaffOnDuty } from './registry.js';
import { audit, Store } from './store.js';
import { PlatformSync } from './sync.js';
import { statfsSync } from 'node:fs';

export const HUB_VERSION = '0.1.0';

export type LogEntry = { level: 'debug' | 'info' | 'warn' | 'error'; msg: string } & Record<string, unknown>;
export type Logger = (entry: LogEntry) => void;

const STATE_NAMES: Record<number, string> = {
  [DeviceState.BOOT]: 'boot',
  [DeviceState.IDLE]: 'idle',
  [DeviceState.PROMPT]: 'prompt',
  [DeviceState.THANKS]: 'thanks',
  [DeviceState.PAUSED]: 'paused',
  [DeviceState.CONFIG]: 'config',
  [DeviceState.FAULT]: 'fault',
  [DeviceState.SIGNED_OUT]: 'signed-out',
};
const ORIGIN_NAMES: Record<number, Evaluation['origin']> = { 1: 'prompted', 2: 'invited', 3: 'unsolicited' };

export interface HubOptions {
  config: HubConfig;
  log?: Logger;
  /** Opens a serial port; tests may swap in another transport. Default: serialport. */
  openSerial?: (path: string, baudRate: number) => ByteTransport;
  /** Discovery poll interval, ms. Default 2000. */
  discoveryIntervalMs?: number;
}

export class Hub {
  readonly store: Store;
  readonly registry: Registry;
  readonly server: Server;
  broker!: HallBroker;
  readonly log: Logger;
  private readonly config: HubConfig;
  private readonly links = new Set<DeviceLink>();
  private readonly openPorts = new Map<string, DeviceLink>();
  private readonly tabletsOnline = new Set<string>();
  private readonly startedAt = Date.now();
  private timers: NodeJS.Timeout[] = [];
  private dataVersion = 0;
  private stopped = false;
  platform: PlatformSync | undefined;
  /** Free space fell below `storage.minFreeMiB`: new ratings are refused, devices keep them. */
  storageLow = false;
  private hallConfig: HallConfig | undefined;

  constructor(private readonly options: HubOptions) {
    this.config = options.config;
    this.log = options.log ?? (() => {});
    this.store = new Store({ dataDir: this.config.dataDir });
    this.registry = new Registry(this.store, this.config);
    const api = createApi(this, this.config.adminToken);
    this.server = createServer((req, res) => {
      api(req, res)
        .then(async (handled) => handled || (await servePage(req, res)))
        .then((handled) => {
          if (handled) return;
          res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify({ error: { code: 'not-found', message: `nothing at ${req.url}` } }));
        })
        .catch(() => res.destroy());
    });
    this.server.requestTimeout = 30_000;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async start(): Promise<void> {
    await this.registry.applyConfigPairings();
    this.broker = await HallBroker.create(this.server, {
      hallId: this.config.hallId,
      checkTablet: (id, token) => this.registry.tabletToken(id, token),
      tabletEvaluation: (id, e) => this.onTabletEvaluation(id, e),
      checkDashboard: (password) => {
        const a = Buffer.from(password);
        const b = Buffer.from(this.config.adminToken);
        return a.length === b.length && timingSafeEqual(a, b);
      },
      suggestion: async (tabletId, text, contact) => {
        await this.store.submit((db) => db.prepare('INSERT INTO suggestions (tablet_id, text, contact, at) VALUES (?, ?, ?, ?)').run(tabletId, text, contact, new Date().toISOString()));
        this.log({ level: 'info', msg: 'suggestion received', tabletId });
        this.broker.publish(`hall/${this.config.hallId}/dashboard/suggestion`, { tabletId, text, at: new Date().toISOString() }, false);
      },
      rejected: (id, payload, reason) => this.reject(id, payload, reason),
      log: this.log,
    });
    this.broker.aedes.on('clientReady', (client) => {
      const id = (client as { tabletId?: string }).tabletId;
      if (id) this.tabletsOnline.add(id);
    });
    this.broker.aedes.on('clientDisconnect', (client) => {
      const id = (client as { tabletId?: string }).tabletId;
      if (id) this.tabletsOnline.delete(id);
    });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.config.http.port, this.config.http.host, () => resolve());
    });
    this.publishPublicConfig();
    this.checkStorage();
    this.timers.push(setInterval(() => this.checkStorage(), 10_000));
    this.prune();
    this.timers.push(setInterval(() => this.prune(), 3_600_000));
    // the configuration the platform last pushed stays in effect across restarts
    const stored = this.store.read((db) => db.prepare('SELECT config FROM hall_config ORDER BY version DESC LIMIT 1').get()) as { config: string } | undefined;
    if (stored) {
      try {
        await this.applyHallConfig(JSON.parse(stored.config) as HallConfig);
      } catch (error) {
        this.log({ level: 'error', msg: 'stored platform config could not be applied', error: (error as Error).message });
      }
    }
    if (this.config.platform.url) {
      this.platform = new PlatformSync(this.store, {
        hall: this.hallIdentity(),
        url: this.config.platform.url,
        username: this.config.platform.username,
        password: this.config.platform.password,
        caFile: this.config.platform.caFile,
        version: HUB_VERSION,
        batchItems: this.config.sync.batchItems,
        republishAfterMs: this.config.sync.republishAfterS * 1000,
        onConfig: (c) => this.applyHallConfig(c),
        devices: () => this.devices().map((d) => ({ deviceId: d.deviceId, status: { online: d.online, kind: d.kind, model: d.model, fwVersion: d.fwVersion, windowId: d.windowId, state: d.state, lastSeenAt: d.lastSeenAt, linkErrors: d.linkErrors } })),
        log: this.log,
      });
      this.platform.start();
    }
    for (const { path, baudRate } of this.config.devices.serial) this.keepOpen(path, baudRate);
    this.dataVersion = this.store.read((db) => db.pragma('data_version', { simple: true }) as number);
    this.timers.push(setInterval(() => this.watchExternalChanges(), 1000));
    if (this.config.devices.discover.serial || this.config.devices.discover.hid) {
      const interval = this.options.discoveryIntervalMs ?? 2000;
      this.timers.push(setInterval(() => void this.discover(), interval));
      void this.discover();
    }
    this.log({ level: 'info', msg: 'hub started', hallId: this.config.hallId, http: `http://${this.config.http.host}:${this.port}`, dataDir: this.config.dataDir, version: HUB_VERSION });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.platform?.stop();
    await Promise.all([...this.links].map((l) => l.close().catch(() => {})));
    await this.broker?.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.store.close();
    this.log({ level: 'info', msg: 'hub stopped' });
  }

  // ---- links ----
  /** Opens a port and keeps it open: reopened after an unplug, every 2 s. */
  private keepOpen(path: string, baudRate: number): void {
    const open = () => {
      if (this.stopped || this.openPorts.has(path)) return;
      const transport = (this.options.openSerial ?? ((p, b) => new SerialTransport(p, b)))(path, baudRate);
      this.attach(transport, path).catch((error: Error) => {
        this.log({ level: 'warn', msg: 'cannot open port', port: path, error: error.message });
      });
    };
    open();
    this.timers.push(setInterval(open, 2000));
  }

  /** Runs a link over a transport until it closes; isolated from every other link. */
  async attach(transport: ByteTransport, key: string): Promise<DeviceLink> {
    const link = new DeviceLink(transport, {
      pairing: (id) => this.registry.pairing(id),
      staff: (windowId) => {
        const s = this.registry.staffAt(windowId);
        return { duty: DUTY_CODE[s.duty], staffId: s.staffId, staffName: s.staffName, staffTitle: s.staffTitle };
      },
      evaluation: (deviceId, message, clock) => this.onDeviceEvaluation(link, deviceId, message, clock),
      event: (deviceId, message) => this.onDeviceEvent(deviceId, message),
      now: () => Date.now(),
    });
    this.openPorts.set(key, link);
    this.links.add(link);
    link.on('log', (entry) => this.log({ ...entry, port: key }));
    link.on('hello', (hello: Hello) => {
      this.log({ level: 'info', msg: 'device hello', port: key, deviceId: hello.deviceId, fwVersion: hello.fwVersion, queued: hello.queued, paired: !!this.registry.pairing(hello.deviceId) });
      void this.registry.seen(hello).then(() => link.repair()).catch((error: Error) => this.log({ level: 'error', msg: 'cannot record device', error: error.message }));
    });
    link.on('online', (id) => void this.registry.touch(id, {}).catch(() => {}));
    link.on('offline', (id) => this.log({ level: 'warn', msg: 'device offline', deviceId: id, port: key }));
    link.on('state', (id, state, queued) => void this.registry.touch(id, { state: STATE_NAMES[state] ?? String(state), queued }).catch(() => {}));
    link.on('closed', (error) => {
      this.links.delete(link);
      this.openPorts.delete(key);
      if (error && !this.stopped) this.log({ level: 'warn', msg: 'link closed', port: key, deviceId: link.deviceId, error: error.message });
    });
    try {
      await link.open();
    } catch (error) {
      this.links.delete(link);
      this.openPorts.delete(key);
      throw error;
    }
    this.log({ level: 'info', msg: 'link open', port: key });
    return link;
  }

  private async discover(): Promise<void> {
    if (this.stopped) return;
    const { discover } = this.config.devices;
    try {
      if (discover.serial) {
        for (const path of await discoverSerial(this.config)) {
          if (!this.openPorts.has(path)) this.attach(new SerialTransport(path), path).catch((e: Error) => this.log({ level: 'warn', msg: 'cannot open port', port: path, error: e.message }));
        }
      }
      if (discover.hid) {
        for (const found of await discoverHid(this.config)) {
          if (!this.openPorts.has(found.name)) this.attach(found, found.name).catch((e: Error) => this.log({ level: 'warn', msg: 'cannot open HID device', port: found.name, error: e.message }));
        }
      }
    } catch (error) {
      this.log({ level: 'debug', msg: 'discovery failed', error: (error as Error).message });
    }
  }

  private linkOf(deviceId: string): DeviceLink | undefined {
    return [...this.links].find((l) => l.deviceId === deviceId && l.isWelcomed);
  }

  /** A pairing changed in the store (API, CLI): reload, and welcome or release devices. */
  private afterPairingChange(): void {
    this.registry.reload();
    for (const link of this.links) link.repair();
  }

  private watchExternalChanges(): void {
    const version = this.store.read((db) => db.pragma('data_version', { simple: true }) as number);
    if (version === this.dataVersion) return;
    this.dataVersion = version;
    this.afterPairingChange();
  }

  // ---- evaluations ----
  private hallIdentity() {
    return { hallId: this.config.hallId, areaCode: this.config.areaCode, deptCode: this.config.deptCode };
  }

  private commit(record: Evaluation): Promise<CommitResult> {
    const attachWithinMs = ((this.registry.pairing(record.deviceId)?.settings.promptTimeoutS ?? 30) + 10) * 1000;
    return this.store.submit((db) => commitEvaluation(db, record, { attachWithinMs, misuseWindowMs: this.config.evaluation.misuseWindowS * 1000 }));
  }

  private async onDeviceEvaluation(link: DeviceLink, deviceId: string, message: Eval, clock: { offsetMs: number | undefined; receivedAt: number }): Promise<AckDecision> {
    if (this.storageLow) return { status: AckStatus.REJECTED, reason: AckReason.STORAGE_UNAVAILABLE }; // the device keeps it
    const pairing = this.registry.pairing(deviceId);
    const staff = pairing ? this.registry.staffAt(pairing.windowId) : undefined;
    const receivedAt = new Date(clock.receivedAt).toISOString();
    const flags: string[] = [];
    let evaluatedAt: string;
    if (message.deviceTime === 0) {
      evaluatedAt = receivedAt;
      flags.push('clockUnsynced');
    } else {
      evaluatedAt = new Date(message.deviceTime - (clock.offsetMs ?? 0)).toISOString();
    }
    let record: Evaluation;
    try {
      record = parsePayload('evaluation', {
        id: `${deviceId}-${message.counter}`,
        ...this.hallIdentity(),
        channel: 'evaluator',
        level: message.level,
        reasons: [],
        comment: '',
        contact: null,
        txnId: message.txnId || null,
        matterCode: null,
        matterName: null,
        windowId: pairing?.windowId ?? null,
        staffId: staff && staff.duty !== 'off' ? staff.staffId || null : null,
        staffName: staff && staff.duty !== 'off' ? staff.staffName || null : null,
        origin: ORIGIN_NAMES[message.origin],
        evaluatedAt,
        receivedAt,
        deviceId,
        fwVersion: link.hello?.fwVersion ?? '',
        promptMs: message.promptMs,
        flags,
      });
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      await this.reject(deviceId, message, error.message);
      return { status: AckStatus.REJECTED, reason: AckReason.INVALID_FIELD };
    }
    const result = await this.commit(record);
    return this.afterCommit(result, record.id);
  }

  private afterCommit(result: CommitResult, id: string): AckDecision {
    switch (result.status) {
      case 'ok':
        this.platform?.notify();
        this.broker?.publish(`hall/${this.config.hallId}/dashboard/evaluation`, { ...result.record, contact: maskContact(result.record.contact), ...this.deadlineOf(result.record) }, false);
        this.log({ level: 'info', msg: 'evaluation committed', id, rating: result.record.level, channel: result.record.channel, windowId: result.record.windowId, txnId: result.record.txnId, flags: result.record.flags });
        if (result.record.txnId && result.record.level > 0 && result.record.windowId) this.clearTabletSessions(result.record.windowId);
        return { status: AckStatus.OK, reason: AckReason.NONE };
      case 'duplicate':
        this.log({ level: 'debug', msg: 'evaluation repeated', id });
        return { status: AckStatus.DUPLICATE, reason: AckReason.NONE };
      case 'refused':
        this.log({ level: 'warn', msg: 'second rating of a transaction kept for audit, not counted', id, txnId: result.record.txnId });
        return { status: AckStatus.REJECTED, reason: AckReason.ALREADY_EVALUATED };
      default:
        result satisfies never;
        return { status: AckStatus.REJECTED, reason: AckReason.INVALID_FIELD };
    }
  }

  private async reject(deviceId: string, message: unknown, reason: string): Promise<void> {
    this.log({ level: 'warn', msg: 'message rejected', deviceId, reason });
    const now = new Date().toISOString();
    await this.store.submit((db) =>
      db
        .prepare(
          `INSERT INTO rejections (device_id, message, reason, first_at, last_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (device_id, message, reason) DO UPDATE SET last_at = excluded.last_at, times = times + 1`,
        )
        .run(deviceId, JSON.stringify(message), reason, now, now),
    );
  }

  private async onDeviceEvent(deviceId: string, message: Event): Promise<void> {
    this.log({ level: message.code === 1 || message.code === 5 ? 'warn' : 'info', msg: 'device event', deviceId, code: message.code, arg: message.arg, text: message.text });
    await this.store.submit((db) => db.prepare('INSERT INTO device_events (device_id, code, arg, text, at) VALUES (?, ?, ?, ?, ?)').run(deviceId, message.code, message.arg, message.text, new Date().toISOString()));
  }

  private async onTabletEvaluation(tabletId: string, e: TabletEvaluation): Promise<TabletAck> {
    if (this.storageLow) throw new Error('hub storage is below its free-space floor'); // no PUBACK: the tablet keeps it
    const tablet = this.registry.device(tabletId);
    const windowId = e.windowId ?? tablet?.windowId ?? null;
    const staff = windowId ? this.registry.staffAt(windowId) : undefined;
    const record: Evaluation = {
      id: e.id,
      ...this.hallIdentity(),
      channel: 'tablet',
      level: e.level,
      reasons: e.reasons,
      comment: e.comment,
      contact: e.contact ?? null,
      txnId: e.txnId ?? null,
      matterCode: null,
      matterName: null,
      windowId,
      staffId: e.staffId ?? (staff && staff.duty !== 'off' ? staff.staffId || null : null),
      staffName: staff && staff.duty !== 'off' ? staff.staffName || null : null,
      origin: 'tablet',
      evaluatedAt: new Date(Date.parse(e.evaluatedAt)).toISOString(),
      receivedAt: new Date().toISOString(),
      deviceId: tabletId,
      fwVersion: '',
      promptMs: null,
      flags: [],
    };
    const result = await this.commit(record);
    const ack = this.afterCommit(result, e.id);
    if (ack.status === AckStatus.OK) return { id: e.id, status: 'ok' };
    if (ack.status === AckStatus.DUPLICATE) return { id: e.id, status: 'duplicate' };
    return { id: e.id, status: 'rejected', reason: 'already-evaluated' };
  }

  // ---- transactions, staff, devices ----
  async service(windowId: string, body: { event: 'started' | 'done' | 'cancelled'; txnId: string; matterCode?: string | undefined; matterName?: string | undefined }, actor: string): Promise<void> {
    const staff = this.registry.staffAt(windowId);
    const at = new Date().toISOString();
    await this.store.submit((db) =>
      recordService(db, {
        txnId: body.txnId,
        windowId,
        event: body.event,
        matterCode: body.matterCode ?? null,
        matterName: body.matterName ?? null,
        staffId: staff.duty !== 'off' ? staff.staffId || null : null,
        staffName: staff.duty !== 'off' ? staff.staffName || null : null,
        at,
      }),
    );
    const evaluator = this.registry.evaluatorAt(windowId);
    const code = { started: ServiceEvent.STARTED, done: ServiceEvent.DONE, cancelled: ServiceEvent.CANCELLED }[body.event];
    const link = evaluator ? this.linkOf(evaluator.deviceId) : undefined;
    const delivered = link?.sendReliable({ type: 'SERVICE', event: code, txnId: body.txnId, matterCode: body.matterCode ?? '', matterName: body.matterName ?? '' }) ?? false;
    this.log({ level: 'info', msg: 'service', actor, windowId, event: body.event, txnId: body.txnId, evaluator: evaluator?.deviceId ?? null, delivered });
    for (const tablet of this.registry.tabletsAt(windowId)) {
      const topic = hallTopics.tablet(this.config.hallId, tablet.deviceId, 'session');
      if (body.event === 'done') {
        this.broker.publish(topic, { txnId: body.txnId, windowId, staffId: staff.staffId, staffName: staff.staffName, matterCode: body.matterCode ?? '', matterName: body.matterName ?? '', offeredAt: at }, true);
      } else if (body.event === 'cancelled') this.broker.publish(topic, {}, true);
    }
  }

  /** The window's transaction is rated: its tablets stop offering it. */
  private clearTabletSessions(windowId: string): void {
    for (const tablet of this.registry.tabletsAt(windowId)) this.broker?.publish(hallTopics.tablet(this.config.hallId, tablet.deviceId, 'session'), {}, true);
  }

  async setStaff(windowId: string, staff: StaffOnDuty, actor: string): Promise<void> {
    await this.registry.setStaff(windowId, staff, actor);
    const evaluator = this.registry.evaluatorAt(windowId);
    const link = evaluator ? this.linkOf(evaluator.deviceId) : undefined;
    link?.sendReliable({ type: 'STAFF', duty: DUTY_CODE[staff.duty] ?? Duty.SIGNED_OUT, staffId: staff.staffId, staffName: staff.staffName, staffTitle: staff.staffTitle });
  }

  async pair(deviceId: string, windowId: string, actor: string, kind?: DeviceKind): Promise<{ kind: DeviceKind; token?: string }> {
    const result = await this.store.submit((db) => pairDevice(db, deviceId, windowId, actor, kind));
    this.afterPairingChange();
    this.log({ level: 'info', msg: 'paired', actor, deviceId, windowId, kind: result.kind });
    return result;
  }

  async unpair(deviceId: string, actor: string): Promise<boolean> {
    const changed = await this.store.submit((db) => unpairDevice(db, deviceId, actor));
    this.afterPairingChange();
    return changed;
  }

  async setDeviceSettings(deviceId: string, settings: Settings, actor: string): Promise<boolean> {
    await this.registry.setDeviceSettings(deviceId, settings, actor);
    return this.linkOf(deviceId)?.sendReliable({ type: 'SETTINGS', settings }) ?? false;
  }

  /** Disk floor: below it, refuse new ratings (devices and tablets keep them) and say so. */
  private checkStorage(): void {
    try {
      const fs = statfsSync(this.config.dataDir);
      const freeMiB = (fs.bavail * fs.bsize) / 1048576;
      const low = freeMiB < this.config.storage.minFreeMiB;
      if (low !== this.storageLow) this.log({ level: low ? 'error' : 'info', msg: low ? 'disk nearly full: refusing new ratings, devices keep them' : 'disk space recovered: taking ratings again', freeMiB: Math.round(freeMiB) });
      this.storageLow = low;
    } catch (error) {
      this.log({ level: 'warn', msg: 'cannot read free disk space', error: (error as Error).message });
    }
  }

  /** Deletes confirmed evaluations past the retention; never anything unsynced. */
  private prune(): void {
    const cutoff = new Date(Date.now() - this.config.storage.retentionDays * 86_400_000).toISOString();
    void this.store
      .submit((db) => db.prepare(`DELETE FROM evaluations WHERE sync_state = 'confirmed' AND confirmed_at < ?`).run(cutoff).changes)
      .then((n) => n > 0 && this.log({ level: 'info', msg: 'pruned confirmed evaluations past retention', count: n }))
      .catch(() => {});
  }

  /**
   * A configuration pushed by the platform (PROTOCOL 3 `config`), already schema-checked. It
   * is checked for consistency and applied whole, or refused whole (the caller keeps the old).
   */
  private async applyHallConfig(config: HallConfig): Promise<void> {
    const windowIds = new Set(config.windows.map((w) => w.id));
    for (const w of config.windows) if (!isTopicSegment(w.id)) throw new Error(`window id ${JSON.stringify(w.id)} cannot be a topic segment`);
    for (const s of config.staff) if (s.windowId && !windowIds.has(s.windowId)) throw new Error(`staff ${s.id} is at window ${s.windowId}, which the config does not list`);
    this.hallConfig = config;
    for (const w of config.windows) this.registry.windows.set(w.id, { id: w.id, name: w.name });
    this.publishPublicConfig();
    if (config.settings) {
      for (const d of this.registry.all()) {
        if (d.kind !== 'evaluator' || !d.paired || d.settings) continue; // a technician's own settings win
        const pushed = Object.fromEntries(Object.entries(config.settings).filter(([, v]) => v !== undefined));
        this.linkOf(d.deviceId)?.sendReliable({ type: 'SETTINGS', settings: { ...DEFAULT_SETTINGS, ...pushed } });
      }
    }
  }

  private publishPublicConfig(): void {
    const config: PublicConfig = {
      hallId: this.config.hallId,
      hallName: this.hallConfig?.hallName ?? this.config.hallName,
      windows: [...this.registry.windows.values()],
      reasons: this.hallConfig?.reasons.length ? this.hallConfig.reasons : [...DEFAULT_REASONS],
      complaintPhone: this.hallConfig?.complaintPhone ?? this.config.complaintPhone,
      languages: ['zh-CN', 'en'],
      settings: { inactivityS: 60, thanksS: 5 },
    };
    this.broker.publish(hallTopics.publicConfig(this.config.hallId), config, true);
  }

  async selfTest(deviceId: string, actor: string): Promise<boolean> {
    await this.store.submit((db) => audit(db, actor, 'self-test', { deviceId }));
    return this.linkOf(deviceId)?.sendReliable({ type: 'SELF_TEST' }) ?? false;
  }

  /** A 差评 handling step (acknowledged, called back, resolved), stored and synced. */
  async recordHandling(evaluationId: string, step: string, by: string | null, note: string | null): Promise<{ at: string } | undefined> {
    const at = new Date().toISOString();
    const found = await this.store.submit((db) => {
      const e = db.prepare(`SELECT 1 FROM evaluations WHERE id = ? AND urgent = 1`).get(evaluationId);
      if (!e) return false;
      db.prepare('INSERT INTO handling (evaluation_id, step, at, by, note) VALUES (?, ?, ?, ?, ?)').run(evaluationId, step, at, by, note);
      audit(db, by ?? 'dashboard', 'handling', { evaluationId, step });
      return true;
    });
    if (!found) return undefined;
    this.platform?.notify();
    this.broker.publish(`hall/${this.config.hallId}/dashboard/handling`, { evaluationId, step, at, by }, false);
    return { at };
  }

  /** A 差评's handling deadline (the dashboard shows it the moment the rating arrives). */
  private deadlineOf(e: Evaluation): { complex?: boolean; dueAt?: string } {
    if (e.level < 1 || e.level > 2) return {};
    const complex = !!(e.matterCode && this.hallConfig?.matters.find((m) => m.code === e.matterCode)?.complex);
    const days = this.hallConfig?.handlingDays ?? { normal: 2, complex: 10 };
    return { complex, dueAt: dueAt(e.receivedAt, complex ? days.complex : days.normal, this.hallConfig?.calendar ?? { holidays: [], workdays: [] }) };
  }

  /** The hall's 差评 with their handling steps and deadlines, newest first. */
  dissatisfied(since: string) {
    const matters = new Map((this.hallConfig?.matters ?? []).map((m) => [m.code, m]));
    const days = this.hallConfig?.handlingDays ?? { normal: 2, complex: 10 };
    const calendar = this.hallConfig?.calendar ?? { holidays: [], workdays: [] };
    return this.store.read((db) => {
      // every 差评 received since `since`, and every one not yet resolved however old
      const rows = db
        .prepare(
          `SELECT * FROM evaluations e WHERE urgent = 1 AND (received_at >= ? OR NOT EXISTS (SELECT 1 FROM handling h WHERE h.evaluation_id = e.id AND h.step = 'resolved'))
           ORDER BY received_at DESC LIMIT 5000`,
        )
        .all(since) as Parameters<typeof rowToEvaluation>[0][];
      const steps = db.prepare('SELECT step, at, by, note FROM handling WHERE evaluation_id = ? ORDER BY id');
      return rows.map((row) => {
        const e = { ...rowToEvaluation(row, this.hallIdentity()), contact: maskContact(row.contact) };
        const complex = !!(e.matterCode && matters.get(e.matterCode)?.complex);
        const handling = steps.all(e.id) as { step: string; at: string; by: string | null; note: string | null }[];
        return { evaluation: e, complex, dueAt: dueAt(e.receivedAt, complex ? days.complex : days.normal, calendar), handling, resolved: handling.some((h) => h.step === 'resolved') };
      });
    });
  }

  suggestions(limit: number) {
    return this.store.read((db) => (db.prepare('SELECT tablet_id AS tabletId, text, at FROM suggestions ORDER BY id DESC LIMIT ?').all(limit) as unknown[]));
  }

  /** What the dashboard and technician pages need to know about the hall. */
  publicInfo() {
    return {
      hallId: this.config.hallId,
      hallName: this.hallConfig?.hallName ?? this.config.hallName,
      windows: [...this.registry.windows.values()],
      staff: this.hallConfig?.staff ?? [],
      handlingDays: this.hallConfig?.handlingDays ?? { normal: 2, complex: 10 },
      calendar: this.hallConfig?.calendar ?? { holidays: [], workdays: [] },
      complaintPhone: this.hallConfig?.complaintPhone ?? this.config.complaintPhone,
    };
  }

  // ---- reads ----
  health() {
    const sync = this.sync();
    const devices = this.devices();
    return {
      ok: true,
      hallId: this.config.hallId,
      version: HUB_VERSION,
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      backlog: sync.backlog.pending + sync.backlog.sent,
      platformConnected: this.platform?.state.connected ?? false,
      devices: { online: devices.filter((d) => d.online).length, total: devices.filter((d) => d.paired).length },
    };
  }

  devices() {
    return this.registry.all().map((d) => {
      const link = [...this.links].find((l) => l.deviceId === d.deviceId);
      const online = d.kind === 'tablet' ? this.tabletsOnline.has(d.deviceId) : !!link?.isOnline;
      const s = link?.stats;
      const linkErrors = s ? Object.entries(s.drops).reduce((n, [reason, count]) => (reason === 'resync' ? n : n + count), 0) + s.refused : 0;
      return {
        deviceId: d.deviceId,
        kind: d.kind,
        paired: d.paired,
        windowId: d.windowId,
        online,
        model: d.model,
        fwVersion: d.fwVersion,
        state: d.state,
        queued: d.queued,
        lastSeenAt: d.lastSeenAt,
        linkErrors,
        ...(d.kind === 'evaluator' ? { settings: d.settings } : {}),
        ...(s ? { link: { framesIn: s.framesIn, framesOut: s.framesOut, drops: s.drops, refused: s.refused, retransmits: s.retransmits } } : {}),
      };
    });
  }

  evaluations(options: { since?: string; limit: number }) {
    return this.store.read((db) => listEvaluations(db, this.hallIdentity(), options));
  }

  stats(options: { from: string; to: string; by: StatGroup; includeMisuse: boolean }) {
    return this.store.read((db) => stats(db, options));
  }

  sync() {
    const s = this.store.read(syncSummary);
    const state = this.platform?.state;
    return {
      backlog: { pending: s.pending, sent: s.sent, confirmed: s.confirmed, rejected: s.rejected, notSynced: s.local },
      oldestUnsyncedAt: s.oldestUnsyncedAt,
      lastPubackAt: state?.lastPubackAt ?? null,
      lastReceiptAt: state?.lastReceiptAt ?? null,
      platformConnected: state?.connected ?? false,
      platform: this.config.platform.url ?? null,
      refusal: state?.refusal ?? null,
      config: { version: state?.configVersion ?? null, error: state?.configError ?? null },
      storageLow: this.storageLow,
      progress: this.platform?.progress() ?? { backlog: s.pending + s.sent, ratePerS: 0, etaS: null, words: 'no platform configured: evaluations stay in the local store' },
    };
  }

  export(options: { format: ExportFormat; from: string; to: string }): string {
    return this.store.read((db) => exportEvaluations(db, this.hallIdentity(), options));
  }

  audit(limit: number) {
    return this.store.read((db) => (db.prepare('SELECT at, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?').all(limit) as { at: string; actor: string; action: string; detail: string }[]).map((r) => ({ ...r, detail: JSON.parse(r.detail) as unknown })));
  }
}

