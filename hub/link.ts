/**
 * One evaluator link on the hub: the hub side of PROTOCOL 1.4 over one byte transport. Each
 * link is isolated: garbage, a flood or a vanished device affects only its own link, and
 * every drop is counted in its statistics.
 */
import { EventEmitter } from 'node:events';
import {
  AckReason,
  AckStatus,
  type Duty,
  DuplicateFilter,
  FrameDecoder,
  FrameError,
  LINK,
  MessageType,
  NackReason,
  ReliableSender,
  decodeMessage,
  encodeMessage,
  type DropReason,
  type Eval,
  type Event,
  type Frame,
  type Hello,
  type Message,
  type Settings,
} from '../protocol/index.js';
import type { ByteTransport } from '../protocol/index.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import type { LogEntry } from './log.js';

export interface LinkStats {
  framesIn: number;
  framesOut: number;
  drops: Record<DropReason, number>;
  /** Frames that were sound but whose message was refused with NACK. */
  refused: number;
  retransmits: number;
  /** Bytes received since the port opened: a flood shows here. */
  bytesIn: number;
}

/** What the hub answers a reliable message from a device. */
export interface AckDecision {
  status: AckStatus;
  reason: AckReason;
}

export interface LinkDeps {
  /** The window a device is paired to, or undefined if it is pending pairing. */
  pairing(deviceId: string): { windowId: string; windowName: string; settings: Settings } | undefined;
  /** Current duty at a window, sent as STAFF after WELCOME. */
  staff(windowId: string): { duty: Duty; staffId: string; staffName: string; staffTitle: string };
  /** Commits an EVAL; resolves to the ACK to send only after the commit (PROTOCOL 1.3). */
  evaluation(deviceId: string, message: Eval, clock: { offsetMs: number | undefined; receivedAt: number }): Promise<AckDecision>;
  event(deviceId: string, message: Event): Promise<void>;
  now(): number;
  /** Timers (the 100 ms link tick). Default: the system clock. */
  clock?: Clock;
  /**
   * PROTOCOL 1.3 [r2]: may this port welcome `deviceId`? A description of the conflict (the
   * device is already online on another port) when not; the device then gets no WELCOME.
   */
  conflict?(deviceId: string): string | undefined;
  /** PROTOCOL 1.3 [r2] HUB_STATE flags now (`HubStateFlag`). Default 0. */
  hubState?(): number;
}

export interface LinkEvents {
  hello: [hello: Hello];
  online: [deviceId: string];
  offline: [deviceId: string];
  state: [deviceId: string, state: number, queued: number];
  log: [entry: LogEntry];
  closed: [error?: Error];
}

/** EVAL answers a link remembers: four times the device's window (PROTOCOL 1.3: 8 in flight). */
const REMEMBERED_ANSWERS = 32;

/** An answer the store gave for good: counted, a repeat, or refused under 一事一评. */
function isFinal(ack: AckDecision): boolean {
  return ack.status === AckStatus.OK || ack.status === AckStatus.DUPLICATE || (ack.status === AckStatus.REJECTED && ack.reason === AckReason.ALREADY_EVALUATED);
}

export class DeviceLink extends EventEmitter<LinkEvents> {
  readonly stats: LinkStats;
  private readonly decoder = new FrameDecoder();
  private readonly filter = new DuplicateFilter();
  private readonly sender = new ReliableSender<Message>();
  private session: Hello | undefined;
  private welcomed = false;
  private online = false;
  private timer: TimerHandle | undefined;
  private readonly clock: Clock;
  private lastRx = 0;
  private pingDue = 0;
  /** device clock - hub clock, from PING/PONG; undefined until measured. */
  private offsetMs: number | undefined;
  /** The latest write (the transport keeps them in order): `close` waits for it. */
  private writes: Promise<void> = Promise.resolve();
  private closed = false;
  /** Start the next frame with a lone 0x00: the device's decoder is waiting to resynchronise. */
  private resync = true;
  /** The port where this link's device id is already online, if its HELLO was refused for that. */
  conflictWith: string | undefined;
  /** Counts HELLOs: an answer computed for an older session is not sent in a newer one. */
  private sessionNo = 0;
  /**
   * The answers to this link's latest EVALs, by evaluation id, pending or settled: a
   * retransmission waits for the same commit or gets the same answer (at most
   * `REMEMBERED_ANSWERS`, oldest forgotten first; a forgotten one goes to the store again).
   */
  private readonly answers = new Map<string, Promise<AckDecision>>();

  constructor(
    readonly transport: ByteTransport,
    private readonly deps: LinkDeps,
  ) {
    super();
    this.clock = deps.clock ?? systemClock;
    this.stats = { framesIn: 0, framesOut: 0, drops: this.decoder.stats.drops, refused: 0, retransmits: 0, bytesIn: 0 };
    transport.on('data', (chunk) => this.onData(chunk));
    transport.on('close', (error) => {
      this.closed = true;
      this.clock.clear(this.timer);
      if (this.online && this.session) this.emit('offline', this.session.deviceId);
      this.online = false;
      this.emit('closed', error);
    });
  }

  get deviceId(): string | undefined {
    return this.session?.deviceId;
  }
  get hello(): Hello | undefined {
    return this.session;
  }
  get isOnline(): boolean {
    return this.online;
  }
  get isWelcomed(): boolean {
    return this.welcomed;
  }
  get clockOffsetMs(): number | undefined {
    return this.offsetMs;
  }

  async open(): Promise<void> {
    await this.transport.open();
    this.schedule();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clock.clear(this.timer);
    await this.writes.catch(() => {});
    await this.transport.close();
  }

  /** Sends a reliable message (SERVICE, STAFF, SETTINGS) when the device is welcomed. */
  sendReliable(message: Message): boolean {
    if (!this.welcomed) return false;
    this.sender.enqueue(message);
    this.pump();
    return true;
  }

  /** The hub's state changed: a welcomed device is told (HUB_STATE is unreliable; it is sent again on every change). */
  sendHubState(flags: number): void {
    if (this.welcomed) this.send({ type: 'HUB_STATE', flags });
  }

  /** Pairing changed: welcome a waiting device, or forget the session of an unpaired one. */
  recheckPairing(): void {
    if (!this.session) return;
    const pairing = this.deps.pairing(this.session.deviceId);
    if (pairing && !this.welcomed) this.welcome(this.session);
    if (!pairing && this.welcomed) this.welcomed = false;
  }

  private onData(chunk: Uint8Array): void {
    this.stats.bytesIn += chunk.length;
    for (const out of this.decoder.push(chunk)) {
      if (out.kind === 'drop') {
        if (out.reason !== 'resync') this.emit('log', { level: 'debug', msg: 'frame dropped', port: this.transport.name, reason: out.reason, bytes: out.bytes });
        continue;
      }
      this.stats.framesIn++;
      this.onFrame(out.frame);
    }
  }

  private onFrame(frame: Frame): void {
    this.lastRx = this.deps.now();
    if (!this.online && this.session) {
      this.online = true;
      this.emit('online', this.session.deviceId);
    }
    let message: Message;
    let seq: number;
    try {
      ({ seq, message } = decodeMessage(frame));
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.stats.refused++;
      this.emit('log', { level: 'warn', msg: 'frame refused', port: this.transport.name, deviceId: this.session?.deviceId, code: error.code, error: error.message });
      this.send({ type: 'NACK', reason: error.code === 'unknown-type' ? NackReason.UNKNOWN_TYPE : NackReason.BAD_PAYLOAD, offendingType: frame.type, offendingSeq: frame.seq });
      return;
    }
    if (message.type === 'HELLO') {
      this.onHello(message);
      return;
    }
    if (!this.session) {
      // PROTOCOL 1.4: no session on this port (the hub restarted, say): ask for HELLO.
      this.send({ type: 'NACK', reason: NackReason.NO_SESSION, offendingType: frame.type, offendingSeq: frame.seq });
      return;
    }
    const deviceId = this.session.deviceId;
    switch (message.type) {
      case 'EVAL':
      case 'EVENT':
        this.onReliable(deviceId, seq, message);
        break;
      case 'STATE':
        this.emit('state', deviceId, message.state, message.queued);
        break;
      case 'PING':
        this.send({ type: 'PONG', echoedTime: message.senderTime, senderTime: this.deps.now() });
        break;
      case 'PONG': {
        const now = this.deps.now();
        const rtt = now - message.echoedTime;
        if (message.echoedTime > 0 && rtt >= 0 && rtt < 2000 && message.senderTime > 0) this.offsetMs = message.senderTime - (message.echoedTime + rtt / 2);
        break;
      }
      case 'ACK':
        this.sender.ack(seq);
        this.pump();
        break;
      case 'NACK':
        if (message.reason === NackReason.NO_SESSION) {
          // The device will say HELLO (it does until welcomed); a NACK of an older session's
          // frame must not unwelcome the current one.
          this.emit('log', { level: 'info', msg: 'device has no session; waiting for its HELLO', deviceId });
        } else {
          this.emit('log', { level: 'warn', msg: 'device refused a frame', deviceId, reason: message.reason, offendingType: message.offendingType });
        }
        break;
      case 'WELCOME':
      case 'SERVICE':
      case 'STAFF':
      case 'SETTINGS':
      case 'SELF_TEST':
      case 'HUB_STATE':
        this.stats.refused++;
        this.emit('log', { level: 'warn', msg: 'hub-to-device message received from a device', deviceId, type: message.type });
        break;
      default:
        message satisfies never;
    }
  }

  private onHello(hello: Hello): void {
    if (hello.protoVersion !== 1) {
      this.send({ type: 'NACK', reason: NackReason.UNSUPPORTED_VERSION, offendingType: MessageType.HELLO, offendingSeq: 0 });
      return;
    }
    this.sessionNo++;
    // PROTOCOL 1.4: each HELLO starts a new session on this port. The device has (re)opened
    // its port and discards everything up to its first 0x00: our next frame starts with one.
    this.resync = true;
    const previous = this.session?.deviceId;
    this.session = hello;
    this.filter.reset();
    this.sender.clear();
    this.welcomed = false;
    if (previous !== hello.deviceId) {
      if (previous && this.online) this.emit('offline', previous);
      this.online = true;
      this.emit('online', hello.deviceId);
    }
    this.emit('hello', hello);
    if (this.deps.pairing(hello.deviceId)) this.welcome(hello);
  }

  private welcome(hello: Hello): void {
    const pairing = this.deps.pairing(hello.deviceId);
    if (!pairing) return;
    const conflict = this.deps.conflict?.(hello.deviceId);
    if (conflict) {
      // Never take over the first device's session or counters: no WELCOME, and its reliable
      // messages get ACK 2/3, so it keeps every press until the conflict is resolved.
      if (this.conflictWith !== conflict) this.emit('log', { level: 'error', msg: 'device id already online on another port: refused', deviceId: hello.deviceId, port: this.transport.name, other: conflict });
      this.conflictWith = conflict;
      return;
    }
    this.conflictWith = undefined;
    this.welcomed = true;
    this.send({ type: 'WELCOME', hubTime: this.deps.now(), windowId: pairing.windowId, windowName: pairing.windowName, settings: pairing.settings });
    this.send({ type: 'PING', senderTime: this.deps.now() }); // measure the clock offset early
    this.sendReliable({ type: 'STAFF', ...this.deps.staff(pairing.windowId) });
    this.send({ type: 'HUB_STATE', flags: this.deps.hubState?.() ?? 0 }); // PROTOCOL 1.3 [r2]: after WELCOME
  }

  private onReliable(deviceId: string, seq: number, message: Eval | Event): void {
    if (!this.welcomed) {
      // PROTOCOL 1.4: an unpaired device's messages get ACK 2/3: it keeps them and retries.
      this.send({ type: 'ACK', status: AckStatus.REJECTED, reason: AckReason.NOT_PAIRED }, seq);
      return;
    }
    if (message.type === 'EVAL') {
      // Idempotent by evaluation id (the store's), and remembered here: a retransmission of an
      // EVAL being committed waits for that commit, and one of an EVAL answered lately gets the
      // answer again, instead of queueing a second write. A hub slower than the device's 250 ms
      // retransmission would otherwise spend its commits on repeats (and fall further behind).
      // A repeat is answered as the store answers one: DUPLICATE for a counted rating.
      const id = `${deviceId}-${message.counter}`;
      const session = this.sessionNo;
      let answer = this.answers.get(id);
      const repeat = answer !== undefined;
      if (!answer) {
        const pending = this.deps.evaluation(deviceId, message, { offsetMs: this.offsetMs, receivedAt: this.deps.now() }).catch((error: Error): AckDecision => {
          this.emit('log', { level: 'error', msg: 'evaluation not stored', deviceId, counter: message.counter, error: error.message });
          return { status: AckStatus.REJECTED, reason: AckReason.STORAGE_UNAVAILABLE };
        });
        this.answers.set(id, (answer = pending));
        if (this.answers.size > REMEMBERED_ANSWERS) this.answers.delete(this.answers.keys().next().value!);
        // only what the store decided for good is remembered: a refusal for now is tried again
        void pending.then((ack) => {
          if (!isFinal(ack) && this.answers.get(id) === pending) this.answers.delete(id);
        });
      }
      void answer.then((ack) => {
        // A new HELLO came while committing: the device renumbered; it will resend, and the
        // evaluation id makes the resend a duplicate. An old-session ACK could match another message.
        if (session !== this.sessionNo) return;
        if (repeat && ack.status === AckStatus.OK) this.send({ type: 'ACK', status: AckStatus.DUPLICATE, reason: AckReason.NONE }, seq);
        else this.send({ type: 'ACK', status: ack.status, reason: ack.reason }, seq);
      });
      return;
    }
    if (this.filter.accept(seq) === 'duplicate') {
      this.send({ type: 'ACK', status: AckStatus.DUPLICATE, reason: 0 }, seq);
      return;
    }
    const session = this.sessionNo;
    this.deps
      .event(deviceId, message)
      .then(() => {
        if (session === this.sessionNo) this.send({ type: 'ACK', status: AckStatus.OK, reason: 0 }, seq);
      })
      .catch((error: Error) => {
        this.filter.forget(seq);
        this.emit('log', { level: 'error', msg: 'event not stored', deviceId, error: error.message });
        this.send({ type: 'ACK', status: AckStatus.REJECTED, reason: AckReason.STORAGE_UNAVAILABLE }, seq);
      });
  }

  private send(message: Message, seq = 0): void {
    if (this.closed) return;
    this.stats.framesOut++;
    const frame = encodeMessage(message, seq);
    if (this.resync) {
      this.resync = false;
      const synced = new Uint8Array(frame.length + 1);
      synced.set(frame, 1);
      this.write(synced);
      return;
    }
    this.write(frame);
  }

  private write(bytes: Uint8Array): void {
    // The transport queues writes in order (ByteTransport), so each goes to it at once: waiting
    // for the previous one let out one frame per turn of the event loop, and under load each
    // turn holds a group commit's fsync, so a device's ACKs came out one fsync apart.
    this.writes = this.transport.write(bytes).catch((error: Error) => {
      this.emit('log', { level: 'warn', msg: 'write failed', port: this.transport.name, error: error.message });
    });
  }

  private pump(): void {
    for (const t of this.sender.poll(this.deps.now())) {
      if (t.retry) this.stats.retransmits++;
      this.send(t.item, t.seq);
    }
  }

  /** Keepalive and retransmission, on one timer (PROTOCOL 1.4: PING after 1 s, down after 3 s). */
  private schedule(): void {
    if (this.closed) return;
    this.clock.clear(this.timer);
    this.timer = this.clock.setTimeout(() => this.tick(), 100);
    this.timer.unref?.();
  }

  private tick(): void {
    const now = this.deps.now();
    if (this.session && this.online) {
      if (now - this.lastRx >= LINK.downAfterSilenceMs) {
        this.online = false;
        this.emit('offline', this.session.deviceId);
        this.emit('log', { level: 'warn', msg: 'device offline', deviceId: this.session.deviceId });
      } else if (now - this.lastRx >= LINK.pingAfterSilenceMs && now >= this.pingDue) {
        this.pingDue = now + LINK.pingAfterSilenceMs;
        this.send({ type: 'PING', senderTime: now });
      }
    }
    if (this.welcomed) this.pump();
    this.schedule();
  }
}
