/**
 * The MQTT session to the city platform (PROTOCOL 3, DESIGN "Sync"): connect with backoff,
 * pump the outbox (`outbox.ts` holds every SQL statement), apply receipts and pushed config,
 * publish status. `pending` evaluations go out in batches (差评 first) with QoS 1, become
 * `sent` on PUBACK and `confirmed` when a receipt lists them; sent ones without a receipt go
 * back to pending after a timeout. 差评 are also published on `alerts` at once, with their
 * deadline. [r2] 差评 handling steps go out in batches on `handling`, one batch at a time, the
 * next only once a receipt has confirmed the last, so the platform gets each step first in the
 * order it was recorded. mqtt.js keeps no state that matters: every connection is a new
 * client, and a lost one loses nothing.
 */
import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { MAX_BATCH_ITEMS, PayloadError, platformTopics, type DeviceStatus, type HallConfig, type HallStatus } from '../protocol/index.js';
import { parseJson } from '../protocol/schemas.js';
import { isoNow, systemClock, Timers, type Clock, type TimerHandle } from './clock.js';
import type { HallIdentity } from './evaluations.js';
import type { Logger, LogLevel } from './log.js';
import type { Outbox } from './outbox.js';
import { batchPayload, batchPayloadInto } from './outbox-json.js';

/** A batch payload buffer: PROTOCOL 3's 256 KiB and room for the one item that may pass it. */
const PAYLOAD_BUFFER_BYTES = 288 * 1024;

export interface SyncOptions {
  hall: HallIdentity;
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://`. */
  url: string;
  username?: string | null;
  password?: string | null;
  /** PEM file of the CA that signed the broker's certificate (mqtts, wss). */
  caFile?: string | null;
  version: string;
  /** Items per batch, at most 500 (PROTOCOL 3). Default 500. */
  batchItems?: number;
  /** Batches awaiting PUBACK at once. Default 4. */
  maxInFlight?: number;
  /** A sent batch without a receipt is published again after this, ms. Default 60,000. */
  republishAfterMs?: number;
  /** Reconnect backoff: first wait and cap, ms, with ±50% jitter. Defaults 1000 and 60,000. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Status and device topics are published at most this often, ms. Default 1000. */
  statusIntervalMs?: number;
  /** Called for a valid config pushed by the platform: applies and stores it, or throws to refuse it. */
  onConfig?: (config: HallConfig) => Promise<void>;
  /** The version of the pushed config in effect (an older or equal push is ignored). */
  configVersion?: () => number | null;
  /** Devices for the per-device topics. */
  devices?: () => { deviceId: string; status: DeviceStatus }[];
  /**
   * [r2] A QR rating the platform collected (PROTOCOL 3 `channel-ratings`, the raw payload):
   * resolves after the commit with the answer published on `channel-acks`, or undefined for
   * none (it could not be stored now; the platform sends it again). Absent: not subscribed.
   */
  onChannelRating?: (payload: Buffer) => Promise<{ id: string; status: 'ok' | 'duplicate' | 'rejected'; reason?: string } | undefined>;
  log?: Logger;
  /** Default: the system clock. */
  clock?: Clock;
}

const DEFAULTS = {
  batchItems: MAX_BATCH_ITEMS,
  maxInFlight: 4,
  republishAfterMs: 60_000,
  reconnectMinMs: 1000,
  reconnectMaxMs: 60_000,
  statusIntervalMs: 1000,
};

export interface SyncEvents {
  connected: [];
  disconnected: [];
  /** Evaluations confirmed by a receipt. */
  confirmed: [count: number];
  /** [r2] A handling batch was PUBACKed and its steps marked `sent` (they await a receipt). */
  stepsSent: [batchId: string];
  /** [r2] Handling steps confirmed by a receipt. */
  stepsConfirmed: [count: number];
  /** The connection failed or closed: the next attempt is in `waitMs`. */
  reconnecting: [waitMs: number];
}

export interface SyncState {
  connected: boolean;
  lastConnectedAt: string | null;
  lastPubackAt: string | null;
  lastReceiptAt: string | null;
  /** Why the platform refused us, if it did (bad credentials, an ACL). */
  refusal: string | null;
  /** A pushed config that was refused, with the reason. */
  configError: string | null;
  configVersion: number | null;
  /** Confirmations per second over the last 10 s. */
  ratePerS: number;
}

export class PlatformSync extends EventEmitter<SyncEvents> {
  private readonly options: SyncOptions & typeof DEFAULTS;
  private client: MqttClient | undefined;
  private stopped = false;
  private attempt = 0;
  private reconnectTimer: TimerHandle | undefined;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private inFlight = 0;
  private pumping = false;
  private batchSeq = 0;
  private readonly bootId: string;
  private protocolVersion: 4 | 5 = 5;
  private ackedThisSession = false;
  /** Alerts handed to the client and not yet PUBACKed, and PUBACKed ones awaiting one commit. */
  private alertsInFlight = 0;
  private alertsAcked: string[] = [];
  /** A handling batch handed to the client and not yet PUBACKed. */
  private handlingInFlight = false;
  private refusedSessions = 0;
  private readonly startedAt: string;
  private lastStatus = '';
  private readonly lastDevice = new Map<string, string>();
  /** Batch payload buffers free for the next batch (at most `maxInFlight`, reused). */
  private readonly payloadBuffers: Buffer[] = [];
  private confirmations: { at: number; n: number }[] = [];
  readonly state: SyncState = {
    connected: false,
    lastConnectedAt: null,
    lastPubackAt: null,
    lastReceiptAt: null,
    refusal: null,
    configError: null,
    configVersion: null,
    ratePerS: 0,
  };

  constructor(
    private readonly outbox: Outbox,
    options: SyncOptions,
  ) {
    super();
    this.options = { ...DEFAULTS, ...options };
    if (this.options.batchItems < 1 || this.options.batchItems > MAX_BATCH_ITEMS) throw new TypeError(`options.batchItems must be 1..${MAX_BATCH_ITEMS}`);
    this.clock = options.clock ?? systemClock;
    this.timers = new Timers(this.clock);
    this.bootId = this.clock.now().toString(36);
    this.startedAt = isoNow(this.clock);
  }

  start(): void {
    // Batches and alerts in flight when the hub stopped were never PUBACKed: back to the outbox.
    this.outbox.releaseClaims();
    this.state.configVersion = this.options.configVersion?.() ?? null;
    this.connect();
    this.timers.every(Math.min(this.options.republishAfterMs, 5000), () => this.housekeeping());
    this.timers.every(this.options.statusIntervalMs, () => this.publishStatus(false));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.clearAll();
    const client = this.client;
    this.client = undefined;
    if (client) await client.endAsync(true).catch(() => {});
    try {
      this.outbox.flushSent(); // what was PUBACKed is sent (unwritten, it is only published again)
    } catch (error) {
      this.log('error', 'cannot mark PUBACKed batches sent; they are published again', { error: (error as Error).message });
    }
  }


  private connect(): void {
    if (this.stopped) return;
    const { hall, url } = this.options;
    const opts: IClientOptions = {
      clientId: hall.hallId,
      // MQTT 5 where the broker offers it: a refused publish then comes back as an error
      // (reason 135) instead of vanishing; 3.1.1 otherwise (PROTOCOL 3).
      protocolVersion: this.protocolVersion,
      clean: true,
      reconnectPeriod: 0, // reconnects are ours: capped exponential backoff with jitter
      connectTimeout: 10_000,
      keepalive: 30,
      will: { topic: platformTopics.status(hall.hallId), payload: Buffer.from(JSON.stringify({ online: false })), qos: 1, retain: true },
    };
    if (this.options.username) opts.username = this.options.username;
    if (this.options.password) opts.password = this.options.password;
    if (this.options.caFile) opts.ca = readFileSync(this.options.caFile);
    const client = mqtt.connect(url, opts);
    this.client = client;
    client.on('connect', () => void this.onConnect(client));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', (error: Error & { code?: number }) => {
      if (this.protocolVersion === 5 && (error.code === 1 || error.code === 132 || /protocol version/i.test(error.message))) {
        this.protocolVersion = 4; // the broker speaks 3.1.1 only
        this.log('info', 'platform broker does not offer MQTT 5: using 3.1.1');
        return;
      }
      const refused = typeof error.code === 'number' && error.code > 0;
      if (refused) this.state.refusal = `the platform broker refused the connection: ${error.message}`;
      this.log('warn', refused ? 'platform refused the connection' : 'platform connection error', { error: error.message });
    });
    client.on('close', () => {
      if (this.client !== client) return;
      this.client = undefined;
      client.end(true);
      const was = this.state.connected;
      this.state.connected = false;
      this.inFlight = 0;
      this.alertsInFlight = 0;
      this.handlingInFlight = false;
      // What was published but not PUBACKed stays pending; let it be selected again.
      try {
        this.outbox.releaseClaims();
      } catch (error) {
        this.log('error', 'cannot release claims now; they are released at the next start', { error: (error as Error).message });
      }
      if (was) {
        this.log('warn', 'platform disconnected');
        this.emit('disconnected');
        // A broker that closes the connection each time we publish, before acknowledging
        // anything, is refusing this hall's topics (Mosquitto does this for an ACL deny).
        if (this.ackedThisSession) this.refusedSessions = 0;
        else if (++this.refusedSessions >= 3 && !this.state.refusal) {
          this.state.refusal = `the platform broker closes the connection whenever this hub publishes to hcp/v1/${this.options.hall.hallId}/: its credentials probably do not cover this hall`;
          this.log('error', 'platform keeps refusing our publishes', { hallId: this.options.hall.hallId });
        }
      }
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const base = Math.min(this.options.reconnectMaxMs, this.options.reconnectMinMs * 2 ** this.attempt);
    const wait = Math.round(base * (0.5 + Math.random()));
    this.attempt++;
    this.reconnectTimer = this.timers.after(wait, () => this.connect());
    this.emit('reconnecting', wait);
  }

  private async onConnect(client: MqttClient): Promise<void> {
    const { hallId } = this.options.hall;
    try {
      const channelRatings = this.options.onChannelRating ? [platformTopics.channelRatings(hallId)] : [];
      const granted = await client.subscribeAsync([platformTopics.receipts(hallId), platformTopics.config(hallId), ...channelRatings], { qos: 1 });
      const denied = granted.filter((g) => g.qos === 128).map((g) => g.topic);
      if (denied.length > 0) {
        // An ACL that does not cover this hall's root: publishing would vanish silently.
        this.state.refusal = `the platform broker refused ${denied.join(', ')}: its credentials do not cover hcp/v1/${hallId}/`;
        this.log('error', 'platform refused our topics', { denied, hallId });
        await client.endAsync(true).catch(() => {});
        return;
      }
    } catch (error) {
      // mqtt.js reports a refused subscription (SUBACK 0x80/0x87) as an error
      this.state.refusal = `the platform broker refused hcp/v1/${hallId}/: ${(error as Error).message}; its credentials do not cover this hall`;
      this.log('error', 'platform refused our topics', { hallId, error: (error as Error).message });
      await client.endAsync(true).catch(() => {});
      return;
    }
    if (this.refusedSessions === 0) this.attempt = 0; // a broker refusing us gets the growing backoff
    this.state.connected = true;
    this.ackedThisSession = false;
    if (this.refusedSessions === 0) this.state.refusal = null;
    this.state.lastConnectedAt = isoNow(this.clock);
    this.log('info', 'platform connected', { url: this.options.url });
    this.emit('connected');
    this.lastStatus = '';
    this.lastDevice.clear();
    this.publishStatus(true);
    this.pump();
  }

  /** New ratings or steps were committed: publish alerts at once, then batches while the window allows. */
  pump(): void {
    if (this.pumping || !this.client || !this.state.connected) return;
    this.pumping = true;
    try {
      this.publishAlerts();
      this.publishHandling();
      while (this.client && this.state.connected && this.inFlight < this.options.maxInFlight) {
        if (!this.publishBatch()) break;
      }
    } catch (error) {
      // a claim could not be written (the disk is full, say): nothing was handed to the client;
      // the next pump, when space is back, takes it again. Never a crash of the hub.
      this.log('error', 'cannot claim from the outbox; will retry', { error: (error as Error).message });
    } finally {
      this.pumping = false;
    }
  }

  private publishAlerts(): void {
    const client = this.client!;
    const topic = platformTopics.alerts(this.options.hall.hallId);
    for (let page = 0; page < 10 && this.alertsInFlight < 200; page++) {
      const alerts = this.outbox.claimAlerts(100);
      if (alerts.length === 0) return;
      for (const e of alerts) {
        this.alertsInFlight++;
        client.publish(topic, JSON.stringify(e), { qos: 1 }, (error) => {
          if (this.client !== client) return; // that connection is gone: the claim was released
          this.alertsInFlight--;
          if (error) return; // the claim is released when the connection closes
          // PUBACKed alerts are marked in one commit per turn, not one each
          if (this.alertsAcked.push(e.id) === 1) {
            setImmediate(() => {
              const ids = this.alertsAcked;
              this.alertsAcked = [];
              void this.outbox
                .markAlerted(ids, isoNow(this.clock))
                .then(() => this.pump())
                .catch(() => {});
            });
          }
        });
      }
    }
  }

  /**
   * 差评 handling steps recorded at the hall (PROTOCOL 3 `handling` [r2]): a batch, when the
   * previous one is confirmed. Waiting for the receipt, not only the PUBACK, keeps the order: a
   * broker lost after its PUBACK loses the batch, and the steps after it must not overtake it.
   */
  private publishHandling(): void {
    if (this.handlingInFlight || this.outbox.stepsUnconfirmed()) return;
    const { hall, batchItems } = this.options;
    const batchId = `${hall.hallId}-${this.bootId}-h${this.batchSeq + 1}`;
    const items = this.outbox.claimStepBatch(batchId, batchItems);
    if (items.length === 0) return;
    this.batchSeq++;
    this.handlingInFlight = true;
    const client = this.client!;
    client.publish(platformTopics.handling(hall.hallId), JSON.stringify({ batchId, hallId: hall.hallId, sentAt: isoNow(this.clock), items }), { qos: 1 }, (error) => {
      if (this.client !== client) return; // that connection is gone; its claims were released
      this.handlingInFlight = false;
      if (error) {
        this.log('warn', 'handling batch not acknowledged', { batchId, error: error.message });
        return; // the claim is released when the connection closes
      }
      void this.outbox
        .markStepBatchSent(batchId, isoNow(this.clock))
        .then(() => this.emit('stepsSent', batchId))
        .catch((e: Error) => this.log('error', 'cannot mark a handling batch sent', { batchId, error: e.message }));
    });
  }

  /** Claims the next page for a batch and publishes it. False when nothing is pending. */
  private publishBatch(): boolean {
    const { hall, batchItems } = this.options;
    const batchId = `${hall.hallId}-${this.bootId}-${this.batchSeq + 1}`;
    const items = this.outbox.claimBatch(batchId, batchItems);
    if (items.length === 0) return false;
    this.batchSeq++;
    const sentAt = isoNow(this.clock);
    const buffer = this.payloadBuffers.pop() ?? Buffer.allocUnsafeSlow(PAYLOAD_BUFFER_BYTES);
    const payload = batchPayloadInto(buffer, batchId, hall.hallId, sentAt, items) ?? Buffer.from(batchPayload(batchId, hall.hallId, sentAt, items));
    this.inFlight++;
    const client = this.client!;
    client.publish(platformTopics.evaluations(hall.hallId), payload, { qos: 1 }, (error) => {
      if (this.client !== client) return; // that connection is gone; its claims were released
      this.inFlight--;
      // PUBACKed: the client is done with the bytes (only then: a refused publish may still be queued)
      if (!error && this.payloadBuffers.length < this.options.maxInFlight) this.payloadBuffers.push(buffer);
      if (error) {
        const code = (error as Error & { code?: number }).code;
        if (code === 135 || code === 128) {
          // MQTT 5: the broker refused the publish (an ACL for another hall)
          this.state.refusal = `the platform broker refused publishing to hcp/v1/${hall.hallId}/evaluations (reason ${code}): its credentials do not cover this hall`;
          this.log('error', 'platform refused our evaluations', { batchId, code });
          void client.endAsync(true).catch(() => {});
        } else this.log('warn', 'batch not acknowledged', { batchId, error: error.message });
        return;
      }
      const now = isoNow(this.clock);
      this.state.lastPubackAt = now;
      this.ackedThisSession = true;
      this.refusedSessions = 0;
      this.state.refusal = null;
      void this.outbox
        .markBatchSent(batchId, now)
        .then(() => this.pump())
        .catch((e: Error) => this.log('error', 'cannot mark a batch sent', { batchId, error: e.message }));
    });
    return true;
  }

  private onMessage(topic: string, payload: Buffer): void {
    const { hallId } = this.options.hall;
    if (topic === platformTopics.receipts(hallId)) void this.onReceipt(payload);
    else if (topic === platformTopics.config(hallId)) void this.onConfig(payload);
    else if (topic === platformTopics.channelRatings(hallId)) void this.onChannelRating(payload);
  }

  /** PROTOCOL 3 [r2]: a QR rating is answered on `channel-acks` only after its commit. */
  private async onChannelRating(payload: Buffer): Promise<void> {
    let ack;
    try {
      ack = await this.options.onChannelRating?.(payload);
    } catch (error) {
      this.log('error', 'platform channel rating not handled: no ack, the platform sends it again', { error: (error as Error).message });
      return;
    }
    if (ack) this.client?.publish(platformTopics.channelAcks(this.options.hall.hallId), JSON.stringify(ack), { qos: 1 });
  }

  private async onReceipt(payload: Buffer): Promise<void> {
    let receipt;
    try {
      receipt = parseJson('receipt', payload);
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      this.log('warn', 'platform sent a malformed receipt', { error: error.message });
      return;
    }
    const now = isoNow(this.clock);
    this.state.lastReceiptAt = now;
    const { evaluations: confirmed, steps } = await this.outbox.applyReceipt(receipt, now);
    if (receipt.rejected.length > 0) this.log('warn', 'platform rejected evaluations', { batchId: receipt.batchId, rejected: receipt.rejected.slice(0, 10) });
    this.confirmations.push({ at: this.clock.now(), n: confirmed });
    this.emit('confirmed', confirmed);
    if (steps > 0) this.emit('stepsConfirmed', steps);
    if (steps > 0 || receipt.rejected.length > 0) this.pump(); // the next handling batch may go now
  }

  private async onConfig(payload: Buffer): Promise<void> {
    if (payload.length === 0) return; // a cleared retained config
    let config: HallConfig;
    try {
      config = parseJson('hall-config', payload);
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      this.state.configError = `refused config: ${error.message}`;
      this.log('error', 'platform config refused, the previous one is kept', { error: error.message });
      this.publishStatus(true);
      return;
    }
    if (this.state.configVersion !== null && config.version <= this.state.configVersion) return;
    try {
      await this.options.onConfig?.(config);
      this.state.configVersion = config.version;
      this.state.configError = null;
      this.log('info', 'platform config applied', { version: config.version });
    } catch (error) {
      this.state.configError = `refused config ${config.version}: ${(error as Error).message}`;
      this.log('error', 'platform config refused, the previous one is kept', { error: (error as Error).message });
    }
    this.publishStatus(true);
  }

  /** Republishes what waited too long for a receipt, and measures the catch-up rate. */
  private housekeeping(): void {
    const now = this.clock.now();
    const cutoff = new Date(now - this.options.republishAfterMs).toISOString();
    let moved = 0;
    let steps = 0;
    try {
      this.outbox.flushSent(); // PUBACKed batches still without a receipt are sent, and wait for it
      moved = this.outbox.requeueUnconfirmed(cutoff);
      steps = this.outbox.requeueUnconfirmedSteps(cutoff);
    } catch (error) {
      this.log('error', 'cannot requeue unconfirmed items now', { error: (error as Error).message });
    }
    if (moved > 0 || steps > 0) this.log('info', 'no receipt in time: publishing again', { evaluations: moved, steps });
    this.updateRate();
    this.pump();
  }

  /** Retained status and device topics, on change and at most once per interval. */
  publishStatus(force: boolean): void {
    const client = this.client;
    if (!client || !this.state.connected) return;
    const { hallId } = this.options.hall;
    const backlog = this.outbox.backlog();
    const devices = this.options.devices?.() ?? [];
    const status: HallStatus = {
      online: true,
      version: this.options.version,
      startedAt: this.startedAt,
      backlog: backlog.n,
      oldestUnsyncedAt: backlog.oldest,
      devices: { online: devices.filter((d) => d.status.online).length, total: devices.length },
      lastSyncAt: this.state.lastReceiptAt,
    };
    const text = JSON.stringify(status);
    if (force || text !== this.lastStatus) {
      this.lastStatus = text;
      client.publish(platformTopics.status(hallId), text, { qos: 1, retain: true });
    }
    for (const d of devices) {
      const t = JSON.stringify(d.status);
      if (!force && this.lastDevice.get(d.deviceId) === t) continue;
      this.lastDevice.set(d.deviceId, t);
      try {
        client.publish(platformTopics.device(hallId, d.deviceId), t, { qos: 1, retain: true });
      } catch {
        /* a device id that cannot be a topic segment: not published */
      }
    }
  }

  /** Catch-up progress in a technician's words. */
  /** Confirmations per second over the last 10 s: up to date when asked, 0 soon after a drain ends. */
  private updateRate(): void {
    const now = this.clock.now();
    this.confirmations = this.confirmations.filter((c) => c.at >= now - 10_000);
    const n = this.confirmations.reduce((sum, c) => sum + c.n, 0);
    const span = this.confirmations.length > 0 ? Math.max(1, (now - this.confirmations[0]!.at) / 1000) : 1;
    this.state.ratePerS = Number((n / span).toFixed(1));
  }

  progress(): { backlog: number; ratePerS: number; etaS: number | null; words: string } {
    this.updateRate();
    const backlog = this.outbox.backlog().n;
    const rate = this.state.ratePerS;
    const etaS = backlog === 0 ? 0 : rate > 0 ? Math.ceil(backlog / rate) : null;
    let words: string;
    if (backlog === 0) words = 'in sync: nothing waiting for the platform';
    else if (!this.state.connected) words = `${backlog} evaluations waiting; the platform is not reachable${this.state.refusal ? ` (${this.state.refusal})` : ''}, they are safe on this hub`;
    else if (etaS === null) words = `${backlog} evaluations waiting; catching up has just started`;
    else words = `${backlog} evaluations waiting, ${rate} confirmed a second: about ${formatDuration(etaS)} to go`;
    return { backlog, ratePerS: rate, etaS, words };
  }

  private log(level: LogLevel, msg: string, data: Record<string, unknown> = {}): void {
    this.options.log?.({ ...data, level, msg });
  }
}

export function formatDuration(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} days`;
}
