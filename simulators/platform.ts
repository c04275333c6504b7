/**
 * The city platform, simulated: an ingest that subscribes to every hall's evaluations (a
 * shared subscription where the broker supports it), validates each item, stores it keyed on
 * `id` (a repeat is a no-op) and publishes receipts; it also records alerts, status, devices
 * and handling steps (stored once by `stepId` and acknowledged with receipts like
 * evaluations), and can push a hall configuration. The same ingest runs against the
 * embedded aedes broker (`startEmbeddedBroker`) or any external broker (Mosquitto in tests).
 */
import Database from 'better-sqlite3';
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { PayloadError, STEP_ID, parsePlatformTopic, platformTopics, type HallConfig, type Receipt } from '../protocol/index.js';
import { parsePayload } from '../protocol/schemas.js';

export interface PlatformOptions {
  /** Broker the ingest connects to, e.g. `mqtt://127.0.0.1:1883`. */
  brokerUrl: string;
  /** SQLite file of the platform's database. */
  dbFile: string;
  /** Subscribe through `$share/ingest/...` so several ingests split the load. Default false. */
  shared?: boolean;
  username?: string;
  password?: string;
  ca?: Buffer;
  /** Drop the receipt of this batch (tests of lost receipts). */
  dropReceipt?: (batchId: string) => boolean;
  log?: (line: string) => void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS evaluations (id TEXT PRIMARY KEY, hall_id TEXT NOT NULL, level INTEGER NOT NULL, payload TEXT NOT NULL, received_at TEXT NOT NULL, repeats INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS alerts (id TEXT NOT NULL, hall_id TEXT NOT NULL, payload TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS statuses (hall_id TEXT PRIMARY KEY, payload TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (hall_id TEXT NOT NULL, device_id TEXT NOT NULL, payload TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (hall_id, device_id));
CREATE TABLE IF NOT EXISTS handling (hall_id TEXT NOT NULL, payload TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (step_id TEXT PRIMARY KEY, hall_id TEXT NOT NULL, evaluation_id TEXT NOT NULL, step TEXT NOT NULL, payload TEXT NOT NULL, received_at TEXT NOT NULL, repeats INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS rejected (id TEXT, hall_id TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL);
`;

export class PlatformIngest {
  readonly db: Database.Database;
  private client: MqttClient | undefined;
  /** Counters since start. */
  readonly counts = { batches: 0, items: 0, stored: 0, repeats: 0, rejected: 0, alerts: 0, receiptsDropped: 0, malformed: 0, steps: 0, stepRepeats: 0 };
  private readonly listeners = new Set<() => void>();

  private constructor(private readonly options: PlatformOptions) {
    this.db = new Database(options.dbFile);
    this.db.pragma('journal_mode = WAL');
    this.db.exec(SCHEMA);
    this.counts.stored = this.stored();
  }

  static async start(options: PlatformOptions): Promise<PlatformIngest> {
    const ingest = new PlatformIngest(options);
    await ingest.connect();
    return ingest;
  }

  private async connect(): Promise<void> {
    const opts: IClientOptions = { clientId: `platform-ingest-${process.pid}-${Math.random().toString(16).slice(2, 8)}`, protocolVersion: this.options.shared ? 5 : 4, reconnectPeriod: 500, connectTimeout: 5000 };
    if (this.options.username) opts.username = this.options.username;
    if (this.options.password) opts.password = this.options.password;
    if (this.options.ca) opts.ca = this.options.ca;
    const client = await mqtt.connectAsync(this.options.brokerUrl, opts);
    this.client = client;
    const evaluations = this.options.shared ? platformTopics.shared('ingest', platformTopics.allHalls('evaluations')) : platformTopics.allHalls('evaluations');
    const topics = [evaluations, platformTopics.allHalls('alerts'), platformTopics.allHalls('status'), platformTopics.allHalls('devices/+'), platformTopics.allHalls('handling')];
    client.on('connect', () => void client.subscribeAsync(topics, { qos: 1 }).catch(() => {}));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', () => {});
    await client.subscribeAsync(topics, { qos: 1 });
  }

  /** Resolves when `predicate` holds, checked after every message (tests wait on this). */
  until(predicate: () => boolean, ms: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${what} (platform counts ${JSON.stringify(this.counts)})`));
      }, ms);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      this.listeners.add(check);
    });
  }

  /** Distinct evaluations stored for a hall. */
  stored(hallId?: string): number {
    const row = (hallId ? this.db.prepare('SELECT COUNT(*) AS n FROM evaluations WHERE hall_id = ?').get(hallId) : this.db.prepare('SELECT COUNT(*) AS n FROM evaluations').get()) as { n: number };
    return row.n;
  }

  /** Publishes a hall configuration, retained (PROTOCOL 3 `config`). */
  async pushConfig(hallId: string, config: HallConfig | unknown): Promise<void> {
    await this.client!.publishAsync(platformTopics.config(hallId), JSON.stringify(config), { qos: 1, retain: true });
  }

  async close(): Promise<void> {
    await this.client?.endAsync(true).catch(() => {});
    this.db.close();
  }

  private onMessage(topic: string, payload: Buffer): void {
    const parsed = parsePlatformTopic(topic.replace(/^\$share\/[^/]+\//, ''));
    if (!parsed) return;
    const now = new Date().toISOString();
    try {
      switch (parsed.leaf) {
        case 'evaluations':
          this.onBatch(parsed.hallId, payload, now);
          break;
        case 'alerts': {
          const e = parsePayload('alert', JSON.parse(payload.toString()));
          this.db.prepare('INSERT INTO alerts (id, hall_id, payload, at) VALUES (?, ?, ?, ?)').run(e.id, parsed.hallId, payload.toString(), now);
          this.counts.alerts++;
          break;
        }
        case 'status':
          if (payload.length > 0) this.db.prepare('INSERT OR REPLACE INTO statuses (hall_id, payload, at) VALUES (?, ?, ?)').run(parsed.hallId, payload.toString(), now);
          break;
        case 'devices':
          if (payload.length > 0) this.db.prepare('INSERT OR REPLACE INTO devices (hall_id, device_id, payload, at) VALUES (?, ?, ?, ?)').run(parsed.hallId, parsed.deviceId, payload.toString(), now);
          break;
        case 'handling':
          this.db.prepare('INSERT INTO handling (hall_id, payload, at) VALUES (?, ?, ?)').run(parsed.hallId, payload.toString(), now);
          this.onHandlingBatch(parsed.hallId, payload, now);
          break;
        default:
          break;
      }
    } catch (error) {
      this.counts.malformed++;
      this.options.log?.(`refused a message on ${topic}: ${(error as Error).message}`);
    }
    for (const l of [...this.listeners]) l();
  }

  /**
   * [r2] A batch of 差评 handling steps: each stored once by `stepId` (a repeat is counted, not
   * stored), and a receipt listing the step ids, as for evaluations.
   */
  private onHandlingBatch(hallId: string, payload: Buffer, now: string): void {
    const batch = JSON.parse(payload.toString()) as { batchId?: unknown; items?: unknown };
    if (typeof batch.batchId !== 'string' || !Array.isArray(batch.items)) throw new PayloadError('handling-batch', '', 'handling batch: batchId and items are required');
    const receipt: Receipt = { batchId: batch.batchId, accepted: [], rejected: [] };
    const insert = this.db.prepare('INSERT OR IGNORE INTO steps (step_id, hall_id, evaluation_id, step, payload, received_at) VALUES (?, ?, ?, ?, ?, ?)');
    const repeat = this.db.prepare('UPDATE steps SET repeats = repeats + 1 WHERE step_id = ?');
    this.db.transaction(() => {
      for (const item of batch.items as unknown[]) {
        try {
          const s = parsePayload('handling-step', item);
          if (insert.run(s.stepId, hallId, s.evaluationId, s.step, JSON.stringify(s), now).changes === 1) this.counts.steps++;
          else {
            repeat.run(s.stepId);
            this.counts.stepRepeats++;
          }
          receipt.accepted.push(s.stepId);
        } catch (error) {
          const id = typeof (item as { stepId?: unknown })?.stepId === 'string' ? (item as { stepId: string }).stepId : '';
          if (STEP_ID.test(id)) receipt.rejected.push({ id, reason: (error as Error).message.slice(0, 200) });
          this.counts.rejected++;
        }
      }
    })();
    if (this.options.dropReceipt?.(batch.batchId)) {
      this.counts.receiptsDropped++;
      return;
    }
    this.client?.publish(platformTopics.receipts(hallId), JSON.stringify(receipt), { qos: 1 });
  }

  /** Validates every item on its own: a bad item is rejected in the receipt, the rest stored. */
  private onBatch(hallId: string, payload: Buffer, now: string): void {
    const batch = JSON.parse(payload.toString()) as { batchId?: unknown; hallId?: unknown; items?: unknown };
    if (typeof batch.batchId !== 'string' || !Array.isArray(batch.items)) throw new PayloadError('batch', '', 'batch: batchId and items are required');
    this.counts.batches++;
    const receipt: Receipt = { batchId: batch.batchId, accepted: [], rejected: [] };
    const insert = this.db.prepare('INSERT OR IGNORE INTO evaluations (id, hall_id, level, payload, received_at) VALUES (?, ?, ?, ?, ?)');
    const repeat = this.db.prepare('UPDATE evaluations SET repeats = repeats + 1 WHERE id = ?');
    this.db.transaction(() => {
      for (const item of batch.items as unknown[]) {
        this.counts.items++;
        try {
          const e = parsePayload('evaluation', item);
          if (e.hallId !== hallId) throw new PayloadError('evaluation', 'hallId', `evaluation.hallId ${e.hallId} does not match the topic's hall ${hallId}`);
          // PROTOCOL 3: the platform deduplicates on id; a repeat is accepted again, stored once
          if (insert.run(e.id, hallId, e.level, JSON.stringify(e), now).changes === 1) this.counts.stored++;
          else {
            repeat.run(e.id);
            this.counts.repeats++;
          }
          receipt.accepted.push(e.id);
        } catch (error) {
          const id = typeof (item as { id?: unknown })?.id === 'string' ? (item as { id: string }).id : '';
          receipt.rejected.push({ id: id || 'unknown-1', reason: (error as Error).message.slice(0, 200) });
          this.db.prepare('INSERT INTO rejected (id, hall_id, reason, at) VALUES (?, ?, ?, ?)').run(id, hallId, (error as Error).message, now);
          this.counts.rejected++;
        }
      }
    })();
    if (this.options.dropReceipt?.(batch.batchId)) {
      this.counts.receiptsDropped++;
      return;
    }
    this.client?.publish(platformTopics.receipts(hallId), JSON.stringify(receipt), { qos: 1 });
  }
}

export interface EmbeddedBrokerOptions {
  /**
   * The platform's intake, evaluations a second: each batch a hall publishes on `evaluations`
   * is acknowledged (PUBACK) and passed on only when the ones before it and its own items have
   * had their time, as a platform busy ingesting would. Default: no limit.
   */
  evaluationsPerS?: number;
}

/** The demo's broker: aedes on a TCP port (MQTT 3.1.1 and 5). */
export async function startEmbeddedBroker(port: number, host = '127.0.0.1', options: EmbeddedBrokerOptions = {}): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const aedes = await Aedes.createBroker();
  const rate = options.evaluationsPerS;
  if (rate !== undefined && !(rate > 0)) throw new TypeError('options.evaluationsPerS must be above 0');
  if (rate !== undefined) {
    let busyUntil = 0;
    aedes.authorizePublish = (_client, packet, done) => {
      if (parsePlatformTopic(packet.topic)?.leaf !== 'evaluations') return done(null);
      let items = 1;
      try {
        items = Math.max(1, (JSON.parse(packet.payload.toString()) as { items?: unknown[] }).items?.length ?? 1);
      } catch {
        /* not a batch: the ingest refuses it */
      }
      busyUntil = Math.max(Date.now(), busyUntil) + (items * 1000) / rate;
      setTimeout(() => done(null), busyUntil - Date.now());
    };
  }
  const server = createServer((socket) => aedes.handle(socket as never));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as { port: number }).port;
  return {
    server,
    port: actual,
    close: () =>
      new Promise((resolve) => {
        aedes.close(() => server.close(() => resolve()));
      }),
  };
}
