/**
 * The hall's embedded MQTT broker (PROTOCOL 2), aedes over WebSocket at `/mqtt` on the hub's
 * HTTP server. Tablets log in with their id and token; each may publish and subscribe only
 * under its own root (and subscribe to `public`). Decision hooks deny by default. A tablet's
 * evaluation is committed inside `authorizePublish`, so its PUBACK follows the commit.
 */
import type { IncomingMessage, Server } from 'node:http';
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Duplex } from 'node:stream';
import { systemClock, type Clock } from './clock.js';
import type { Logger } from './log.js';
import { requestUrl } from './http.js';
import { PayloadError, withoutPhoneNumbers, dashboardMaySubscribe, hallTopics, parseHallTopic, tabletMayPublish, tabletMaySubscribe, type TabletAck, type TabletEvaluation } from '../protocol/index.js';
import { parseJson } from '../protocol/schemas.js';
import { createRequire } from 'node:module';

// aedes's packet encoder (mqtt-packet) builds a Buffer for every one of the 65,536 two-byte
// numbers on its first packet: 6 MiB of the idle hub's heap, to save writing two bytes. Off,
// as mqtt-packet offers; the copy aedes itself loads (the platform sync's mqtt.js shares it).
const fromAedes = createRequire(createRequire(import.meta.url).resolve('aedes'));
(fromAedes('mqtt-packet') as { writeToStream: { cacheNumbers: boolean } }).writeToStream.cacheNumbers = false;

export interface BrokerDeps {
  hallId: string;
  /** The dashboard logs in as `dashboard` with the admin token and may only subscribe. */
  checkDashboard(password: string): boolean;
  /** A suggestion (意见建议) from a tablet; phone numbers are taken out before it reaches here. */
  suggestion(tabletId: string, text: string): Promise<void>;
  checkTablet(tabletId: string, token: string): boolean;
  /** Commits a tablet's evaluation; resolves after the commit with the ack to publish. */
  tabletEvaluation(tabletId: string, evaluation: TabletEvaluation): Promise<TabletAck>;
  /** Keeps a refused payload with its reason, for audit (PROTOCOL 1.3). */
  rejected(tabletId: string, payload: string, reason: string): Promise<void>;
  /**
   * A tablet was heard from: it connected, disconnected, or published or pinged (`active`, at
   * most once per `PRESENCE_EVERY_MS` per tablet). Default: nothing.
   */
  presence?(tabletId: string, what: TabletPresence): void;
  /** Default: the system clock. */
  clock?: Clock;
  log: Logger;
}

export type TabletPresence = 'connected' | 'disconnected' | 'active';

/** A connected tablet's publishes and pings are reported at most this often, ms (each report is a write). */
export const PRESENCE_EVERY_MS = 10_000;

/** The embedded broker's limits (Mosquitto's max_connections, message_size_limit). */
export const BROKER_LIMITS = {
  /** Open MQTT connections in all. */
  connections: 200,
  /** From one address (a hall's tablets each have their own). */
  connectionsPerAddress: 32,
  /** Bytes of one WebSocket message (an MQTT packet). */
  messageBytes: 64 * 1024,
};

function authError(returnCode: 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

export class HallBroker {
  readonly aedes: Aedes;
  private readonly wss: WebSocketServer;
  /** Refusals by kind, for `/api/health` and tests. */
  readonly refusals = { login: 0, publish: 0, subscribe: 0, payload: 0, upgrade: 0, connections: 0 };
  private connectionCount = 0;
  private readonly connections = new Map<string, number>();
  /** Connected tablets' clients by tablet id. */
  private readonly sessions = new Map<string, Set<Client>>();
  /** When each connected tablet was last reported, ms (`active` reports are spaced by `PRESENCE_EVERY_MS`). */
  private readonly heardAt = new Map<string, number>();

  static async create(server: Server, deps: BrokerDeps): Promise<HallBroker> {
    // limits as Mosquitto's max_inflight_messages, max_queued_messages and friends set them
    const aedes = await Aedes.createBroker({
      heartbeatInterval: 30_000,
      connectTimeout: 10_000,
      keepaliveLimit: 300,
      queueLimit: 100,
      maxInflightInbound: 20,
      maxClientsIdLength: 64,
      maxTopicLevels: 8,
    });
    return new HallBroker(aedes, server, deps);
  }

  private constructor(aedes: Aedes, server: Server, deps: BrokerDeps) {
    this.aedes = aedes;
    const { hallId } = deps;
    const clock = deps.clock ?? systemClock;
    const presence = (id: string, what: TabletPresence) => {
      const now = clock.now();
      if (what === 'active' && now - (this.heardAt.get(id) ?? -Infinity) < PRESENCE_EVERY_MS) return;
      if (what === 'disconnected') this.heardAt.delete(id);
      else this.heardAt.set(id, now);
      deps.presence?.(id, what);
    };
    aedes.on('clientReady', (client) => {
      const id = (client as Client & { tabletId?: string }).tabletId;
      if (!id) return;
      let set = this.sessions.get(id);
      if (!set) this.sessions.set(id, (set = new Set()));
      set.add(client);
      presence(id, 'connected');
    });
    aedes.on('clientDisconnect', (client) => {
      const id = (client as Client & { tabletId?: string }).tabletId;
      const set = id ? this.sessions.get(id) : undefined;
      // a session cut by unpairing is already gone from `sessions`: still a last sighting
      if (id) presence(id, 'disconnected');
      if (!set) return;
      set.delete(client);
      if (set.size === 0) this.sessions.delete(id!);
    });
    aedes.on('ping', (_packet, client) => {
      const id = (client as (Client & { tabletId?: string }) | null)?.tabletId;
      if (id) presence(id, 'active');
    });
    aedes.authenticate = (client, username, password, done) => {
      if (username === 'dashboard' && password && deps.checkDashboard(password.toString('utf8'))) {
        (client as Client & { dashboard?: boolean }).dashboard = true;
        done(null, true);
        return;
      }
      const tabletId = username ?? '';
      if (tabletId && password && deps.checkTablet(tabletId, password.toString('utf8'))) {
        (client as Client & { tabletId?: string }).tabletId = tabletId;
        done(null, true);
        return;
      }
      this.refusals.login++;
      deps.log({ level: 'warn', msg: 'tablet login refused', tabletId, clientId: client.id });
      done(authError(4, 'bad tablet id or token'), false);
    };
    aedes.authorizeSubscribe = (client, subscription, done) => {
      const tabletId = (client as Client & { tabletId?: string }).tabletId;
      const dashboard = (client as Client & { dashboard?: boolean }).dashboard;
      const topic = subscription.topic;
      if (dashboard && dashboardMaySubscribe(hallId, topic)) {
        done(null, subscription);
        return;
      }
      if (tabletId && tabletMaySubscribe(hallId, tabletId, subscription.topic)) {
        done(null, subscription);
        return;
      }
      this.refusals.subscribe++;
      deps.log({ level: 'warn', msg: 'subscription refused', tabletId, topic: subscription.topic });
      done(null, null); // negated: SUBACK 128 (MQTT 3.1.1, 3.9.3)
    };
    aedes.authorizePublish = (client, packet, done) => {
      if (!client) {
        done(null); // the hub's own publishes
        return;
      }
      const tabletId = (client as Client & { tabletId?: string }).tabletId;
      if (tabletId && packet.retain) {
        // retain_available false for tablets: nothing a tablet says needs keeping on the broker
        this.refusals.publish++;
        deps.log({ level: 'warn', msg: 'retained publish refused', tabletId, topic: packet.topic });
        done(new Error('tablets may not publish retained messages'));
        return;
      }
      if (!tabletId || !tabletMayPublish(hallId, tabletId, packet.topic)) {
        this.refusals.publish++;
        deps.log({ level: 'warn', msg: 'publish refused', tabletId, topic: packet.topic });
        done(new Error(`not allowed to publish to ${packet.topic}`));
        return;
      }
      presence(tabletId, 'active');
      const parsed = parseHallTopic(packet.topic);
      if (parsed?.kind === 'tablet' && parsed.leaf === 'evaluations') {
        this.onEvaluation(tabletId, packet, deps, done);
        return;
      }
      if (packet.topic === `hall/${hallId}/tablets/${tabletId}/suggestions`) {
        this.onSuggestion(tabletId, packet, deps, done);
        return;
      }
      done(null);
    };
    // message_size_limit: a tablet's evaluation is a few KB; nothing a tablet sends needs more
    this.wss = new WebSocketServer({ noServer: true, maxPayload: BROKER_LIMITS.messageBytes });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Nothing a client sends may end the process: one line in the log, that connection closed.
      socket.on('error', () => {});
      try {
        if (requestUrl(req)?.pathname !== '/mqtt') {
          this.refusals.upgrade++;
          socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
          return;
        }
        // max_connections, per address and in all: a flood of sockets cannot lock out the hall's tablets
        const address = req.socket.remoteAddress ?? '?';
        const fromAddress = this.connections.get(address) ?? 0;
        if (this.connectionCount >= BROKER_LIMITS.connections || fromAddress >= BROKER_LIMITS.connectionsPerAddress) {
          this.refusals.connections++;
          if (this.refusals.connections % 100 === 1) deps.log({ level: 'warn', msg: 'MQTT connection refused: too many', address, fromAddress, total: this.connectionCount });
          socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
          return;
        }
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          this.connectionCount++;
          this.connections.set(address, (this.connections.get(address) ?? 0) + 1);
          ws.once('close', () => {
            this.connectionCount--;
            const left = (this.connections.get(address) ?? 1) - 1;
            if (left > 0) this.connections.set(address, left);
            else this.connections.delete(address);
          });
          const stream = createWebSocketStream(ws);
          stream.on('error', () => {});
          aedes.handle(stream as never, req);
        });
      } catch (error) {
        this.refusals.upgrade++;
        deps.log({ level: 'warn', msg: 'WebSocket upgrade refused', error: (error as Error).message });
        socket.destroy();
      }
    });
  }

  private onEvaluation(tabletId: string, packet: PublishPacket, deps: BrokerDeps, done: (error?: Error | null) => void): void {
    const ackTopic = hallTopics.tablet(deps.hallId, tabletId, 'acks');
    let evaluation: TabletEvaluation;
    try {
      evaluation = parseJson('tablet-evaluation', packet.payload as Buffer);
      // exactly {tabletId}-{positive integer}: a prefix would let TAB-01 claim TAB-01-2's ids
      if (!isTabletEvaluationId(tabletId, evaluation.id)) throw new PayloadError('tablet-evaluation', 'id', `tablet-evaluation.id: must be "${tabletId}-" and a positive integer`);
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      this.refusals.payload++;
      deps.log({ level: 'warn', msg: 'tablet evaluation refused', tabletId, error: error.message });
      const id = idOf(packet.payload);
      // kept for audit, but never a phone number (the citizen's consent was not given for this)
      void deps.rejected(tabletId, withoutPhoneNumbers(packet.payload.toString().slice(0, 4096)), error.message).catch(() => {});
      // Acknowledge the publish (resending it cannot help) and say why on the acks topic.
      this.publish(ackTopic, { id, status: 'rejected', reason: error.message }, false);
      done(null);
      return;
    }
    deps.tabletEvaluation(tabletId, evaluation).then(
      (ack) => {
        this.publish(ackTopic, ack, false);
        done(null); // PUBACK only now: the evaluation is on disk
      },
      (error: Error) => {
        deps.log({ level: 'error', msg: 'tablet evaluation not stored', tabletId, error: error.message });
        done(error); // no PUBACK: the tablet keeps it and resends
      },
    );
  }

  private onSuggestion(tabletId: string, packet: PublishPacket, deps: BrokerDeps, done: (error?: Error | null) => void): void {
    let text = '';
    try {
      const value = JSON.parse(packet.payload.toString()) as { text?: unknown };
      // a suggestion is anonymous: a number typed into it is not kept (no consent was asked)
      if (typeof value.text === 'string') text = withoutPhoneNumbers([...value.text].slice(0, 500).join('').trim());
    } catch {
      /* malformed: refused below */
    }
    if (!text) {
      this.refusals.payload++;
      done(null);
      return;
    }
    deps.suggestion(tabletId, text).then(
      () => done(null),
      (error: Error) => done(error),
    );
  }

  /** Cuts a tablet's MQTT session (it was unpaired or paired again with a new token). */
  disconnectTablet(tabletId: string): number {
    const clients = [...(this.sessions.get(tabletId) ?? [])];
    this.sessions.delete(tabletId);
    for (const client of clients) client.close();
    return clients.length;
  }

  /** Tablets connected now. */
  tabletsOnline(): ReadonlySet<string> {
    return new Set(this.sessions.keys());
  }

  publish(topic: string, payload: unknown, retain: boolean): void {
    this.aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(JSON.stringify(payload)), qos: 1, retain, dup: false } as never, () => {});
  }

  close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    return new Promise((resolve) => this.aedes.close(() => resolve()));
  }
}

function idOf(payload: Buffer | string): string {
  try {
    const value = JSON.parse(payload.toString()) as { id?: unknown };
    return typeof value.id === 'string' ? value.id.slice(0, 64) : '';
  } catch {
    return '';
  }
}

/** `{tabletId}-{counter}` with a counter from 1, and nothing else (PROTOCOL 2). */
export function isTabletEvaluationId(tabletId: string, id: string): boolean {
  return id.startsWith(`${tabletId}-`) && /^[1-9][0-9]{0,9}$/.test(id.slice(tabletId.length + 1));
}
