/**
 * The hall's embedded MQTT broker (PROTOCOL 2), aedes over WebSocket at `/mqtt` on the hub's
 * HTTP server. Tablets log in with their id and token; each may publish and subscribe only
 * under its own root (and subscribe to `public`). Decision hooks deny by default. A tablet's
 * evaluation is committed inside `authorizePublish`, so its PUBACK follows the commit.
 */
import type { IncomingMessage, Server } from 'node:http';
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from './log.js';
import { PayloadError, dashboardMaySubscribe, hallTopics, parseHallTopic, tabletMayPublish, tabletMaySubscribe, type TabletAck, type TabletEvaluation } from '../protocol/index.js';
import { parseJson } from '../protocol/schemas.js';

export interface BrokerDeps {
  hallId: string;
  /** The dashboard logs in as `dashboard` with the admin token and may only subscribe. */
  checkDashboard(password: string): boolean;
  /** A suggestion (意见建议) from a tablet. */
  suggestion(tabletId: string, text: string, contact: string | null): Promise<void>;
  checkTablet(tabletId: string, token: string): boolean;
  /** Commits a tablet's evaluation; resolves after the commit with the ack to publish. */
  tabletEvaluation(tabletId: string, evaluation: TabletEvaluation): Promise<TabletAck>;
  /** Keeps a refused payload with its reason, for audit (PROTOCOL 1.3). */
  rejected(tabletId: string, payload: string, reason: string): Promise<void>;
  log: Logger;
}

function authError(returnCode: 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

export class HallBroker {
  readonly aedes: Aedes;
  private readonly wss: WebSocketServer;
  /** Refusals by kind, for `/api/health` and tests. */
  readonly refusals = { login: 0, publish: 0, subscribe: 0, payload: 0 };
  private readonly online = new Set<string>();

  static async create(server: Server, deps: BrokerDeps): Promise<HallBroker> {
    const aedes = await Aedes.createBroker({ heartbeatInterval: 30_000 });
    return new HallBroker(aedes, server, deps);
  }

  private constructor(aedes: Aedes, server: Server, deps: BrokerDeps) {
    this.aedes = aedes;
    const { hallId } = deps;
    aedes.on('clientReady', (client) => {
      const id = (client as Client & { tabletId?: string }).tabletId;
      if (id) this.online.add(id);
    });
    aedes.on('clientDisconnect', (client) => {
      const id = (client as Client & { tabletId?: string }).tabletId;
      if (id) this.online.delete(id);
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
      if (!tabletId || !tabletMayPublish(hallId, tabletId, packet.topic)) {
        this.refusals.publish++;
        deps.log({ level: 'warn', msg: 'publish refused', tabletId, topic: packet.topic });
        done(new Error(`not allowed to publish to ${packet.topic}`));
        return;
      }
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
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024 });
    server.on('upgrade', (req: IncomingMessage, socket, head) => {
      if (new URL(req.url ?? '/', 'http://hub').pathname !== '/mqtt') {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', () => {});
        aedes.handle(stream as never, req);
      });
    });
  }

  private onEvaluation(tabletId: string, packet: PublishPacket, deps: BrokerDeps, done: (error?: Error | null) => void): void {
    const ackTopic = hallTopics.tablet(deps.hallId, tabletId, 'acks');
    let evaluation: TabletEvaluation;
    try {
      evaluation = parseJson('tablet-evaluation', packet.payload as Buffer);
      if (!evaluation.id.startsWith(`${tabletId}-`)) throw new PayloadError('tablet-evaluation', 'id', `tablet-evaluation.id: must start with "${tabletId}-"`);
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      this.refusals.payload++;
      deps.log({ level: 'warn', msg: 'tablet evaluation refused', tabletId, error: error.message });
      const id = idOf(packet.payload);
      void deps.rejected(tabletId, packet.payload.toString().slice(0, 4096), error.message).catch(() => {});
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
    let contact: string | null = null;
    try {
      const value = JSON.parse(packet.payload.toString()) as { text?: unknown; contact?: unknown };
      if (typeof value.text === 'string') text = [...value.text].slice(0, 500).join('').trim();
      if (typeof value.contact === 'string' && /^1[3-9][0-9]{9}$/.test(value.contact)) contact = value.contact;
    } catch {
      /* malformed: refused below */
    }
    if (!text) {
      this.refusals.payload++;
      done(null);
      return;
    }
    deps.suggestion(tabletId, text, contact).then(
      () => done(null),
      (error: Error) => done(error),
    );
  }

  /** Tablets connected now. */
  tabletsOnline(): ReadonlySet<string> {
    return this.online;
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
