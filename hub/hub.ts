/**
 * The hall hub's composition root (DESIGN "Hub"): builds each module with what it may use and
 * wires their callbacks. No module builds another or reaches into its parts; the real edges
 * (ports, clock, logger) are passed in, so tests swap any of them.
 *
 *   links ──EVAL──▶ ingest ──commit──▶ store ◀── outbox ◀── sync ──▶ platform
 *   broker (tablets) ──▶ ingest         hall (pushed config, deadlines)      views ──▶ http
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_SETTINGS, DUTY_CODES, HubStateFlag, hallTopics, isDissatisfied, type DeviceKind, type Evaluation, type HandlingStepName, type Settings } from '../protocol/index.js';
import { HallBroker } from './broker.js';
import { isoNow, systemClock, Timers, type Clock } from './clock.js';
import type { HubConfig } from './config.js';
import { findTransaction, maskContact, type HallIdentity } from './evaluations.js';
import { Hall } from './hall.js';
import { Handling, type HandlingOutcome, type ReRatingOutcome, type StepRecord } from './handling.js';
import { createApi, type HubApi } from './http.js';
import { evaluationFromEval, evaluationFromTablet, Ingest } from './ingest.js';
import { Links } from './links.js';
import { Sms } from './sms.js';
import { Users } from './users.js';
import { PublicBoard } from './public.js';
import { Retention } from './retention.js';
import { Reports } from './reports.js';
import { PhoneFollowUp } from './phone.js';
import { hubBaseUrl, QrChannel } from './qr.js';
import { Windows, type ServiceRequest } from './windows.js';
import { silentLog, type Logger } from './log.js';
import { Outbox } from './outbox.js';
import { servePage } from './pages.js';
import { machinePorts, type PortOpener } from './ports.js';
import { pairDevice, Registry, unpairDevice, type StaffOnDuty } from './registry.js';
import { audit, lockDataDir, Store } from './store.js';
import type { PlatformSync, SyncOptions } from './sync.js'; // loaded in start(), only with a platform: mqtt.js is ~8 MiB
import { HUB_VERSION, Views } from './views.js';

export { HUB_VERSION } from './views.js';
export type { LogEntry, Logger } from './log.js';

/**
 * Slow or half-open clients cannot lock others out: headers within 10 s, a request within
 * 30 s, idle keep-alive 5 s, at most 1,000 connections (the systemd unit raises the file
 * limit above it); a malformed request is answered 400 and counted in one log line a minute.
 */
function limitConnections(server: Server, log: Logger): void {
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = 1_000;
  server.maxHeadersCount = 100;
  let refused = 0;
  let loggedAt = 0;
  server.on('clientError', (error: Error & { code?: string }, socket) => {
    refused++;
    if (Date.now() - loggedAt > 60_000) {
      loggedAt = Date.now();
      log({ level: 'warn', msg: 'malformed HTTP requests refused', count: refused, error: error.code ?? error.message });
    }
    if (socket.writable && error.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
}

export interface HubOptions {
  config: HubConfig;
  log?: Logger;
  /** The machine's ports; tests pass their own. Default: serialport and node-hid. */
  ports?: PortOpener;
  /** Default: the system clock. */
  clock?: Clock;
  /** Discovery poll interval, ms. Default 2000. */
  discoveryIntervalMs?: number;
  /** Platform sync timing the hall configuration does not set (the demo reconnects quickly). Default: the sync's own. */
  syncTiming?: Pick<SyncOptions, 'reconnectMinMs' | 'reconnectMaxMs'>;
}

export class Hub implements HubApi {
  readonly store: Store;
  readonly registry: Registry;
  readonly server: Server;
  readonly log: Logger;
  readonly views: Views;
  broker!: HallBroker;
  platform: PlatformSync | undefined;
  private readonly config: HubConfig;
  private readonly clock: Clock;
  private readonly identity: HallIdentity;
  private readonly hall: Hall;
  /** [r2] The 差评 loop: steps in order, 督办, the feedback and the second rating (PROTOCOL 3 `handling`, 5). */
  private readonly handling: Handling;
  private readonly ingest: Ingest;
  private readonly links: Links;
  private readonly windows: Windows;
  readonly users: Users;
  /** [r2] The SMS follow-up (PROTOCOL 7); undefined when `sms` is not configured. Other modules text citizens through `sms.queueMessage`. */
  readonly sms: Sms | undefined;
  private readonly qr: QrChannel;
  private readonly phone: PhoneFollowUp;
  private readonly timers: Timers;
  /** Forgets what is past `storage.retentionDays`, in small transactions (hub/retention.ts). */
  readonly retention: Retention;
  private dataVersion = 0;
  private readonly lock: { release(): void };
  private readonly syncTiming: HubOptions['syncTiming'];

  constructor(options: HubOptions) {
    const config = (this.config = options.config);
    const clock = (this.clock = options.clock ?? systemClock);
    const log = (this.log = options.log ?? silentLog);
    this.syncTiming = options.syncTiming;
    this.timers = new Timers(clock);
    this.identity = { hallId: config.hallId, areaCode: config.areaCode, deptCode: config.deptCode };
    this.lock = lockDataDir(config.dataDir); // two hubs on one data directory would each believe they own it
    this.store = new Store({ dataDir: config.dataDir });
    this.retention = new Retention({ store: this.store, clock, log }, { retentionDays: config.storage.retentionDays });
    const registry = (this.registry = new Registry(this.store, config, clock));
    this.hall = new Hall({ store: this.store, config, clock, setWindows: (w) => registry.setWindows(w), publishPublicConfig: (c) => this.broker?.publish(hallTopics.publicConfig(config.hallId), c, true) });
    this.handling = new Handling({
      store: this.store,
      hall: this.hall,
      identity: this.identity,
      clock,
      log,
      recorded: (step) => this.stepRecorded(step),
      committed: (record) => this.committed(record),
      // [r2] the outcome texted when the modem is configured (PROTOCOL 7); without it staff call back
      notifier: () => (this.sms ? { queue: (db, contact, text) => void this.sms!.enqueue(db, contact, text, 'feedback'), wake: () => this.sms!.sendQueued() } : undefined),
      signature: config.sms?.signature ?? '【政务服务】',
    });
    this.ingest = new Ingest({
      store: this.store,
      clock,
      log,
      dataDir: config.dataDir,
      minFreeMiB: config.storage.minFreeMiB,
      misuseWindowMs: config.evaluation.misuseWindowS * 1000,
      attachWithinMs: (deviceId) => ((registry.pairing(deviceId)?.settings.promptTimeoutS ?? 30) + 10) * 1000,
      committed: (record) => this.committed(record),
    });
    this.links = new Links({
      opener: options.ports ?? machinePorts(config),
      clock,
      log,
      ...(options.discoveryIntervalMs ? { discoveryIntervalMs: options.discoveryIntervalMs } : {}),
      hubState: () => this.hubStateFlags(),
      pairing: (id) => registry.pairing(id),
      staff: (windowId) => {
        const s = registry.staffAt(windowId);
        return { duty: DUTY_CODES[s.duty], staffId: s.staffId, staffName: s.staffName, staffTitle: s.staffTitle };
      },
      evaluation: (link, deviceId, message, linkClock) => {
        const windowId = registry.pairing(deviceId)?.windowId ?? null;
        const staff = windowId ? registry.staffAt(windowId) : undefined;
        const build = () => evaluationFromEval({ hall: this.identity, deviceId, fwVersion: link.hello?.fwVersion ?? '', message, windowId, staff, clock: linkClock });
        return this.ingest.fromDevice(build, deviceId, message);
      },
      event: (deviceId, message) => this.ingest.deviceEvent(deviceId, message),
      hello: (link, hello) => {
        void registry
          .recordHello(hello)
          .then(() => link.recheckPairing())
          .catch((error: Error) => log({ level: 'error', msg: 'cannot record device', error: error.message }));
      },
      status: (deviceId, fields) => void registry.updateStatus(deviceId, fields).catch(() => {}),
    });
    this.windows = new Windows({
      hallId: config.hallId,
      store: this.store,
      registry,
      clock,
      log,
      sendToDevice: (deviceId, message) => this.links.send(deviceId, message),
      offer: (topic, session) => this.broker?.publish(topic, session, true),
      rateUrl: (windowId, txnId) => this.qr?.rateUrl(windowId, txnId),
    });
    this.views = new Views({
      store: this.store,
      registry,
      links: this.links,
      hall: this.hall,
      clock,
      identity: this.identity,
      platformUrl: config.platform.url ?? null,
      startedAt: clock.now(),
      tabletsOnline: () => this.broker?.tabletsOnline() ?? new Set(),
      storageLow: () => this.ingest.storageLow,
      platform: () => this.platform,
      selfTest: (deviceId) => this.ingest.selfTest(deviceId),
      sms: () => this.sms?.status(),
    });
    this.users = new Users(this.store, config.adminToken, clock);
    // [r2] the QR channel (PROTOCOL 8) and the telephone follow-up: ratings through ingest like any other
    const commit = (record: Evaluation) => this.ingest.commit(record);
    const storageLow = () => this.ingest.storageLow;
    this.qr = new QrChannel({
      hall: this.identity,
      qr: config.qr,
      ownBaseUrl: () => hubBaseUrl(config.http.host, this.port),
      store: this.store,
      clock,
      log,
      commit,
      storageLow,
      reasons: () => this.hall.publicConfig().reasons,
      hallName: () => this.hall.hallName(),
      windowName: (windowId) => registry.windows.get(windowId)?.name,
    });
    this.phone = new PhoneFollowUp({ hall: this.identity, store: this.store, clock, log, commit, storageLow });
    // [r2] the SMS follow-up (PROTOCOL 7) through a GSM modem on a serial port
    const sms = config.sms;
    const ports = options.ports ?? machinePorts(config);
    this.sms = sms ? new Sms({ config: sms, store: this.store, clock, log, hall: this.identity, connect: () => ports.serial(sms.modem.path, sms.modem.baudRate), commit, storageLow, retentionDays: config.storage.retentionDays, secondRating: (number, level, comment) => this.handling.smsReply(number, level, comment) }) : undefined;
    const api = createApi(this, { authenticate: (token) => this.users.authenticate(token), clock, routes: [...this.users.routes(), ...this.qr.routes(), ...this.phone.routes(), ...(this.sms?.routes() ?? []), ...new Reports({ store: this.store, hall: this.hall, identity: this.identity, clock }).routes(), ...new PublicBoard({ store: this.store, hall: this.hall, registry, clock }).routes()] });
    this.server = createServer((req, res) => {
      api(req, res)
        .then(async (handled) => handled || (await servePage(req, res, log)))
        .then((handled) => {
          if (handled) return;
          res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify({ error: { code: 'not-found', message: 'nothing at this path' } }));
        })
        .catch((error: Error) => {
          log({ level: 'error', msg: 'request failed', error: error.message });
          if (res.headersSent) res.destroy();
          else {
            res.writeHead(500, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
            res.end(JSON.stringify({ error: { code: 'internal', message: 'the hub could not complete this request; see its log' } }));
          }
        });
    });
    limitConnections(this.server, log);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Free space fell below `storage.minFreeMiB`: new ratings are refused, devices keep them. */
  get storageLow(): boolean {
    return this.ingest.storageLow;
  }

  async start(): Promise<void> {
    const { config, registry, log } = this;
    await registry.applyConfigPairings();
    this.broker = await HallBroker.create(this.server, {
      hallId: config.hallId,
      checkTablet: (id, token) => registry.tabletToken(id, token),
      tabletEvaluation: (tabletId, message) =>
        this.ingest.fromTablet(tabletId, message, () => {
          const windowId = registry.tabletWindow(tabletId);
          const transaction = message.txnId ? this.store.read((db) => findTransaction(db, message.txnId!)) : undefined;
          return evaluationFromTablet({ hall: this.identity, tabletId, message, windowId, staff: windowId ? registry.staffAt(windowId) : undefined, transaction, receivedAt: isoNow(this.clock) });
        }),
      checkDashboard: (password) => {
        const person = this.users.authenticate(password);
        return !!person && person.role !== 'queue';
      },
      suggestion: async (tabletId, text) => {
        const at = isoNow(this.clock);
        await this.store.submit((db) => db.prepare('INSERT INTO suggestions (tablet_id, text, at) VALUES (?, ?, ?)').run(tabletId, text, at));
        log({ level: 'info', msg: 'suggestion received', tabletId });
        this.broker.publish(hallTopics.dashboard(config.hallId, 'suggestion'), { tabletId, text, at }, false);
      },
      rejected: (id, payload, reason) => this.ingest.reject(id, payload, reason),
      presence: (tabletId) => void registry.updateStatus(tabletId, {}).catch(() => {}),
      clock: this.clock,
      log,
    });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(config.http.port, config.http.host, () => resolve());
    });
    this.broker.publish(hallTopics.publicConfig(config.hallId), this.hall.publicConfig(), true);
    this.ingest.checkStorage();
    this.timers.every(10_000, () => {
      this.ingest.checkStorage();
      this.announceHubState();
    });
    this.prune();
    this.timers.every(3_600_000, () => this.prune());
    try {
      this.hall.applyStored();
    } catch (error) {
      log({ level: 'error', msg: 'stored platform config could not be applied', error: (error as Error).message });
    }
    this.handling.start(); // on the hall's calendar: a deadline passed while the hub was down is escalated now
    if (config.platform.url) {
      const { PlatformSync } = await import('./sync.js');
      this.platform = new PlatformSync(new Outbox(this.store, this.identity, (e) => this.handling.deadlineOf(e)), {
        hall: this.identity,
        url: config.platform.url,
        username: config.platform.username,
        password: config.platform.password,
        caFile: config.platform.caFile,
        version: HUB_VERSION,
        batchItems: config.sync.batchItems,
        republishAfterMs: config.sync.republishAfterS * 1000,
        onConfig: (c) => this.applyPushedConfig(c),
        configVersion: () => this.hall.configVersion(),
        ...(config.qr ? { onChannelRating: (payload: Buffer) => this.qr.fromPlatform(payload) } : {}),
        devices: () => this.views.devices().map((d) => ({ deviceId: d.deviceId, status: { online: d.online, kind: d.kind, model: d.model, fwVersion: d.fwVersion, windowId: d.windowId, state: d.state, lastSeenAt: d.lastSeenAt, linkErrors: d.linkErrors } })),
        log,
        clock: this.clock,
        ...this.syncTiming,
      });
      this.platform.on('connected', () => this.announceHubState());
      this.platform.on('disconnected', () => this.announceHubState());
      this.platform.start();
    }
    for (const { path, baudRate } of config.devices.serial) this.links.keepOpen(path, baudRate);
    this.dataVersion = this.store.read((db) => db.pragma('data_version', { simple: true }) as number);
    this.timers.every(1000, () => this.watchExternalChanges());
    this.links.discover(config.devices.discover);
    this.sms?.start();
    log({ level: 'info', msg: 'hub started', hallId: config.hallId, http: `http://${config.http.host}:${this.port}`, dataDir: config.dataDir, version: HUB_VERSION });
  }

  async stop(): Promise<void> {
    this.timers.clearAll();
    this.retention.stop();
    this.handling.stop();
    await this.sms?.stop();
    await this.platform?.stop();
    await this.links.close();
    await this.broker?.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.store.close();
    this.lock.release();
    this.log({ level: 'info', msg: 'hub stopped' });
  }

  /** Runs a link over a transport (a pty or memory pipe in tests) until it closes. */
  attach(...args: Parameters<Links['attach']>) {
    return this.links.attach(...args);
  }

  // ---- what the HTTP API and the CLI may do ----
  service(windowId: string, body: ServiceRequest, actor: string): Promise<void> {
    return this.windows.service(windowId, body, actor);
  }

  rateUrl(windowId: string, txnId: string): string | undefined {
    return this.qr.rateUrl(windowId, txnId);
  }

  setStaff(windowId: string, staff: StaffOnDuty, actor: string): Promise<void> {
    return this.windows.setStaff(windowId, staff, actor);
  }

  async pair(deviceId: string, windowId: string, actor: string, kind?: DeviceKind): Promise<{ kind: DeviceKind; token?: string }> {
    const result = await this.store.submit((db) => pairDevice(db, deviceId, windowId, actor, kind));
    this.afterPairingChange();
    // a tablet paired again gets a new token: the session of the old one ends now
    if (result.kind === 'tablet') this.broker.disconnectTablet(deviceId);
    this.log({ level: 'info', msg: 'paired', actor, deviceId, windowId, kind: result.kind });
    return result;
  }

  async unpair(deviceId: string, actor: string): Promise<boolean> {
    const changed = await this.store.submit((db) => unpairDevice(db, deviceId, actor));
    this.afterPairingChange();
    if (changed) this.broker.disconnectTablet(deviceId);
    return changed;
  }

  async setDeviceSettings(deviceId: string, settings: Settings, actor: string): Promise<boolean> {
    await this.registry.setDeviceSettings(deviceId, settings, actor);
    return this.links.send(deviceId, { type: 'SETTINGS', settings });
  }

  async selfTest(deviceId: string, actor: string): Promise<boolean> {
    await this.store.submit((db) => audit(db, actor, 'self-test', { deviceId }, isoNow(this.clock)));
    return this.links.send(deviceId, { type: 'SELF_TEST' });
  }

  /** A person's step in handling a 差评 (PROTOCOL 5 [r2]), in the order the loop allows; stored and synced. */
  recordHandling(evaluationId: string, request: { step: HandlingStepName; note: string | null; complex: boolean }, by: string): Promise<HandlingOutcome> {
    return this.handling.record(evaluationId, request, by);
  }

  /** The citizen's second rating (评价次数 2) as a handler heard it on the phone. */
  reRate(evaluationId: string, request: { level: number; reasons: string[]; comment: string }, by: string): Promise<ReRatingOutcome> {
    return this.handling.reRate(evaluationId, { ...request, channel: 'phone', by });
  }

  // ---- wiring ----
  /** A new evaluation is on disk: tell the platform sync, the dashboards and the window's tablets. */
  private committed(record: Evaluation): void {
    this.platform?.pump();
    const loop = isDissatisfied(record.level) && record.ratingNo !== 2; // a second rating closes a loop, it opens none
    this.broker?.publish(hallTopics.dashboard(this.config.hallId, 'evaluation'), { ...record, contact: maskContact(record.contact), ...(loop ? this.handling.deadlineOf(record) : {}) }, false);
    if (record.txnId && record.level > 0 && record.windowId && record.ratingNo !== 2) this.windows.rated(record.windowId, record.txnId, record.channel);
  }

  /** A 差评 handling step is on disk (a person's or the hub's): to the platform and the dashboards. */
  private stepRecorded(step: StepRecord): void {
    this.platform?.pump();
    const { evaluationId, stepId, at, by, note, deadlineAt } = step;
    this.broker?.publish(hallTopics.dashboard(this.config.hallId, 'handling'), { evaluationId, stepId, step: step.step, at, by, note, deadlineAt }, false);
  }

  private async applyPushedConfig(config: Parameters<Hall['applyPushed']>[0]): Promise<void> {
    await this.hall.applyPushed(config);
    const settings = this.hall.pushedSettings();
    if (!settings) return;
    for (const d of this.registry.all()) {
      if (d.kind !== 'evaluator' || !d.paired || d.settings) continue; // a technician's own settings win
      this.links.send(d.deviceId, { type: 'SETTINGS', settings: { ...DEFAULT_SETTINGS, ...settings } });
    }
  }

  /** PROTOCOL 1.3 [r2] HUB_STATE: bit 0 the disk is below its floor, bit 1 a configured platform is not connected. */
  private hubStateFlags(): number {
    const platformDown = !!this.config.platform.url && !this.platform?.state.connected;
    return (this.ingest.storageLow ? HubStateFlag.STORAGE_UNAVAILABLE : 0) | (platformDown ? HubStateFlag.PLATFORM_UNREACHABLE : 0);
  }

  private lastHubState = -1;
  /** Tells the evaluators when the hub's state changed. */
  private announceHubState(): void {
    const flags = this.hubStateFlags();
    if (flags === this.lastHubState) return;
    this.lastHubState = flags;
    this.links.broadcastHubState(flags);
  }

  /** A pairing changed in the store (API, CLI): reload, and welcome or release devices. */
  private afterPairingChange(): void {
    this.registry.reload();
    this.links.recheckPairings();
  }

  private watchExternalChanges(): void {
    const version = this.store.read((db) => db.pragma('data_version', { simple: true }) as number);
    if (version === this.dataVersion) return;
    this.dataVersion = version;
    this.afterPairingChange();
  }

  /**
   * Retention (hub/retention.ts: what is kept and why), in batches that let ratings commit
   * between them; evaluators that said HELLO but were never paired, after a day unseen.
   */
  private prune(): void {
    const now = this.clock.now();
    void this.retention.run();
    void this.registry
      .expirePending(new Date(now - 86_400_000).toISOString())
      .then((n) => n > 0 && this.log({ level: 'info', msg: 'forgot pending devices unseen for a day', count: n }))
      .catch(() => {});
  }

}
