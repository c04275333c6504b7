/**
 * A minimal hub peer for one evaluator link: answers HELLO with WELCOME and a STAFF on duty,
 * PING with PONG, and ACKs every reliable message (with `DuplicateFilter` telling
 * retransmissions apart). Tests use it to drive a real evaluator process over a pty; a person
 * uses it through `npm run hub-peer` to rate transactions by hand. Not the hub: it keeps
 * nothing on disk.
 */
import { EventEmitter } from 'node:events';
import {
  AckStatus,
  DEFAULT_SETTINGS,
  DuplicateFilter,
  Duty,
  FrameDecoder,
  FrameError,
  RELIABLE,
  ServiceEvent,
  decodeMessage,
  encodeMessage,
  nextSeq,
  type Message,
  type Packet,
  type Settings,
} from '../protocol/index.js';
import type { ByteTransport } from '../protocol/index.js';
import { waitFor } from './pty.js';

export interface HubPeerOptions {
  windowId?: string;
  windowName?: string;
  settings?: Settings;
  /** Answer HELLO with WELCOME and STAFF on duty. Default true. */
  autoWelcome?: boolean;
  /** Decide whether to ACK a reliable message; false "loses" the ACK. Default: always. */
  shouldAck?: (packet: Packet, duplicate: boolean) => boolean;
}

export interface ReceivedPacket extends Packet {
  /** A retransmission of a seq already seen in this session. */
  duplicate: boolean;
  at: number;
}

export interface HubPeerEvents {
  packet: [packet: ReceivedPacket];
}

export class HubPeer extends EventEmitter<HubPeerEvents> {
  readonly received: ReceivedPacket[] = [];
  /** When true the peer is deaf and mute: a cable pulled, or the hub down. */
  silent = false;
  readonly decoder = new FrameDecoder();
  private readonly filter = new DuplicateFilter();
  private seq = 0;
  private readonly options: Required<HubPeerOptions>;

  constructor(
    private readonly transport: ByteTransport,
    options: HubPeerOptions = {},
  ) {
    super();
    this.options = {
      windowId: 'A01',
      windowName: 'A01 综合受理',
      settings: DEFAULT_SETTINGS,
      autoWelcome: true,
      shouldAck: () => true,
      ...options,
    };
    transport.on('data', (chunk) => {
      if (this.silent) return;
      for (const out of this.decoder.push(chunk)) {
        if (out.kind !== 'frame') continue;
        try {
          this.onPacket(decodeMessage(out.frame));
        } catch (error) {
          if (!(error instanceof FrameError)) throw error;
        }
      }
    });
  }

  open(): Promise<void> {
    return this.transport.open();
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  /** Sends a message; reliable ones get the peer's next seq, which is returned. */
  send(message: Message, seq?: number): number {
    const s = seq ?? (RELIABLE.has(message.type) ? (this.seq = nextSeq(this.seq)) : 0);
    void this.transport.write(encodeMessage(message, s)).catch(() => {});
    return s;
  }

  welcome(): void {
    this.filter.reset();
    void this.transport.write(Uint8Array.of(0)).catch(() => {}); // resynchronise the device's decoder first
    this.send({ type: 'WELCOME', hubTime: Date.now(), windowId: this.options.windowId, windowName: this.options.windowName, settings: this.options.settings });
    this.send({ type: 'STAFF', duty: Duty.ON_DUTY, staffId: 'S001', staffName: '王芳', staffTitle: '' });
  }

  service(txnId: string, matterName = '居民身份证换领', event: ServiceEvent = ServiceEvent.DONE): number {
    return this.send({ type: 'SERVICE', event, txnId, matterCode: '000105001000', matterName });
  }

  /** Resolves with the first packet from now on that matches, or rejects after `ms`. */
  next(predicate: (p: ReceivedPacket) => boolean, ms: number, what: string): Promise<ReceivedPacket> {
    return waitFor<ReceivedPacket>((l) => (this.on('packet', l), () => this.off('packet', l)), predicate, ms, what);
  }


  private onPacket(packet: Packet): void {
    const { seq, message } = packet;
    const reliable = RELIABLE.has(message.type);
    const duplicate = reliable && this.filter.accept(seq) === 'duplicate';
    const received: ReceivedPacket = { ...packet, duplicate, at: Date.now() };
    this.received.push(received);
    this.emit('packet', received);
    if (message.type === 'HELLO' && this.options.autoWelcome) this.welcome();
    else if (message.type === 'PING') this.send({ type: 'PONG', echoedTime: message.senderTime, senderTime: Date.now() });
    else if (reliable && this.options.shouldAck(packet, duplicate)) {
      this.send({ type: 'ACK', status: duplicate ? AckStatus.DUPLICATE : AckStatus.OK, reason: 0 }, seq);
    }
  }
}
