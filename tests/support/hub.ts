/**
 * A real hub process (`npm run hub -- --config FILE`) and a protocol-level evaluator peer for
 * cross-component tests. The peer speaks PROTOCOL 1 frame by frame so a test controls every
 * byte and every ACK it waits for.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import { FrameDecoder, FrameError, decodeMessage, encodeMessage, type Level, type Message, type Origin, type Packet } from '../../protocol/index.js';
import { serialTransport, type ByteTransport } from '../../device/transport.js';
import { runTs, waitFor, type RunningProcess } from './processes.js';

export const ADMIN_TOKEN = 'test-admin-token';

export interface HubProcess {
  proc: RunningProcess;
  port: number;
  url: string;
  /** JSON log lines on stdout. */
  logs(): Record<string, unknown>[];
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
}

/** Writes the config and starts the hub; resolves when it logs "hub started". */
export async function startHub(dir: string, config: Record<string, unknown>): Promise<HubProcess> {
  const file = join(dir, 'hall.json');
  writeFileSync(file, JSON.stringify({ adminToken: ADMIN_TOKEN, http: { host: '127.0.0.1', port: 0 }, devices: { discover: { serial: false, hid: false } }, dataDir: join(dir, 'data'), ...config }, null, 2));
  const proc = runTs('hub/cli.ts', ['--config', file]);
  const parsed = () => proc.stdout.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
  const started = await Promise.race([
    proc.waitStdout((l) => l.includes('"hub started"'), 30_000, 'the hub to start'),
    proc.exited(30_000).then((code) => {
      throw new Error(`hub exited with ${code}: ${proc.logs.map((e) => e['msg']).join(' | ')}`);
    }),
  ]);
  const url = (JSON.parse(started) as { http: string }).http;
  const port = Number(new URL(url).port);
  return {
    proc,
    port,
    url,
    logs: parsed,
    api: (method, path, body) => apiCall(url, method, path, body, `Bearer ${ADMIN_TOKEN}`),
  };
}

/**
 * One JSON API call: `body` sent as JSON (a string as it is, for a malformed one), `auth` the
 * Authorization header (none when null). The answer's JSON, or its text when it is not JSON
 * (CSV and other text bodies).
 */
export async function apiCall(base: string, method: string, path: string, body?: unknown, auth: string | null = `Bearer ${ADMIN_TOKEN}`): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth) headers['authorization'] = auth;
  const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
  const text = await res.text();
  try {
    return { status: res.status, json: JSON.parse(text) };
  } catch {
    return { status: res.status, json: text };
  }
}

export interface PeerEvents {
  packet: [packet: Packet];
}

/** An evaluator at the frame level: the test decides what it sends and when. */
export class DevicePeer extends EventEmitter<PeerEvents> {
  readonly received: Packet[] = [];
  readonly decoder = new FrameDecoder();
  /** How far this device's clock is ahead of the true time, ms. */
  clockSkewMs = 0;
  private seq = 0;

  constructor(
    readonly transport: ByteTransport,
    readonly deviceId: string,
  ) {
    super();
    transport.on('data', (chunk) => {
      for (const out of this.decoder.push(chunk)) {
        if (out.kind !== 'frame') continue;
        try {
          const packet = decodeMessage(out.frame);
          this.received.push(packet);
          this.emit('packet', packet);
          // a device answers the hub's keepalive and ACKs its reliable messages
          // answers a closing link may not deliver: their failure is the link's end, not an error of the test
          if (packet.message.type === 'PING') void this.send({ type: 'PONG', echoedTime: packet.message.senderTime, senderTime: Date.now() + this.clockSkewMs }).catch(() => {});
          if (packet.message.type === 'SERVICE' || packet.message.type === 'STAFF' || packet.message.type === 'SETTINGS') void this.send({ type: 'ACK', status: 0, reason: 0 }, packet.seq).catch(() => {});
        } catch (error) {
          if (!(error instanceof FrameError)) throw error;
        }
      }
    });
  }

  static async open(path: string, deviceId: string): Promise<DevicePeer> {
    const peer = new DevicePeer(serialTransport(path), deviceId);
    await peer.transport.open();
    return peer;
  }

  send(message: Message, seq = 0): Promise<void> {
    return this.transport.write(encodeMessage(message, seq));
  }

  raw(bytes: Uint8Array): Promise<void> {
    return this.transport.write(bytes);
  }

  nextSeq(): number {
    this.seq = this.seq >= 65535 ? 1 : this.seq + 1;
    return this.seq;
  }

  /** HELLO (after a resync 0x00) until WELCOME; resolves with the WELCOME. */
  async hello(nextCounter = 1, ms = 15_000): Promise<Packet> {
    const welcome = this.next((p) => p.message.type === 'WELCOME', ms, `WELCOME for ${this.deviceId}`);
    const sendHello = () =>
      void this.raw(Uint8Array.of(0)).then(() =>
        this.send({ type: 'HELLO', deviceId: this.deviceId, model: 'TEST', fwVersion: '9.9.9', protoVersion: 1, capabilities: 0x27, bootCount: 1, nextCounter, queued: 0 }),
      );
    sendHello();
    const timer = setInterval(sendHello, 2000);
    try {
      return await welcome;
    } finally {
      clearInterval(timer);
    }
  }

  /** Sends an EVAL and resolves with its ACK. */
  async evaluate(fields: { counter: number; level: number; txnId?: string; origin?: number; deviceTime?: number }, ms = 10_000): Promise<{ status: number; reason: number; seq: number }> {
    const seq = this.nextSeq();
    const ack = this.next((p) => p.message.type === 'ACK' && p.seq === seq, ms, `ACK of EVAL ${fields.counter}`);
    await this.send({ type: 'EVAL', counter: fields.counter, level: fields.level as Level, origin: (fields.origin ?? 1) as Origin, txnId: fields.txnId ?? '', deviceTime: fields.deviceTime ?? Date.now() + this.clockSkewMs, promptMs: 1500 }, seq);
    const packet = await ack;
    const m = packet.message as { status: number; reason: number };
    return { status: m.status, reason: m.reason, seq };
  }

  next(predicate: (p: Packet) => boolean, ms: number, what: string): Promise<Packet> {
    return waitFor<Packet>((l) => (this.on('packet', l), () => this.off('packet', l)), predicate, ms, what);
  }


  close(): Promise<void> {
    return this.transport.close();
  }
}
