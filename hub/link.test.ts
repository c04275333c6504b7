/**
 * `DeviceLink`, the hub side of PROTOCOL 1.4, in memory: a device played frame by frame over
 * the memory byte pipe (which cuts the bytes at arbitrary places, as a serial port does).
 * The real hub process over socat ptys is in tests/hub-link.test.ts.
 *
 * The hub's clock is a variable: without fake timers the link's keepalive timer finds no time
 * passing and does nothing; the keepalive and retransmission tests move vitest's fake clock.
 * Waits are on frames arriving, with a deadline on the real clock.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AckReason,
  AckStatus,
  DEFAULT_SETTINGS,
  FrameDecoder,
  LINK,
  MessageType,
  NackReason,
  cobsEncode,
  decodeMessage,
  encodeMessage,
  type ByteTransport,
  type Eval,
  type Event,
  type Message,
  type Packet,
} from '../protocol/index.js';
import { bytePipePair } from '../simulators/memory-link.js';
import { cleanupsAfterEach } from '../tests/support/cleanup.js';
import { DeviceLink, type AckDecision, type LinkDeps } from './link.js';

const cleanups = cleanupsAfterEach();
afterEach(() => {
  vi.useRealTimers();
});

/** Deadlines run on the real clock, also while a test fakes timers. */
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const DEADLINE_MS = 2000;
const T0 = Date.parse('2026-12-01T02:00:00Z');
const PAIRED = 'HCP5-LINK1';

/** An evaluator at the frame level: it sends what the test says and answers nothing by itself. */
class Device {
  readonly received: Packet[] = [];
  private readonly decoder = new FrameDecoder();
  private readonly waiters = new Set<() => void>();
  private seq = 0;

  constructor(readonly transport: ByteTransport) {
    transport.on('data', (chunk) => {
      for (const out of this.decoder.push(chunk)) {
        if (out.kind !== 'frame') continue;
        this.received.push(decodeMessage(out.frame));
        for (const w of [...this.waiters]) w();
      }
    });
  }

  send(message: Message, seq = 0): Promise<void> {
    return this.transport.write(encodeMessage(message, seq));
  }

  raw(bytes: Uint8Array): Promise<void> {
    return this.transport.write(bytes);
  }

  nextSeq(): number {
    return (this.seq = this.seq + 1);
  }

  /** A resync 0x00 (PROTOCOL 1.1), then HELLO. */
  async hello(deviceId = PAIRED): Promise<void> {
    await this.raw(Uint8Array.of(0));
    await this.send({ type: 'HELLO', deviceId, model: 'TEST', fwVersion: '1.0.0', protoVersion: 1, capabilities: 0x27, bootCount: 1, nextCounter: 1, queued: 0 });
  }

  /** The first packet at index `since` or later that matches; waits for it. */
  next(predicate: (p: Packet) => boolean, what: string, since = 0): Promise<Packet> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.received.slice(since).find(predicate);
        if (!found) return;
        this.waiters.delete(check);
        realClearTimeout(timer);
        resolve(found);
      };
      const timer = realSetTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no ${what} within ${DEADLINE_MS} ms; received ${this.received.map((p) => p.message.type).join(', ') || 'nothing'}`));
      }, DEADLINE_MS);
      this.waiters.add(check);
      check();
    });
  }

  /** The answer to the reliable message with `seq`, received at index `since` or later. */
  ack(seq: number, since = 0): Promise<Packet> {
    return this.next((p) => p.message.type === 'ACK' && p.seq === seq, `ACK of seq ${seq}`, since);
  }

  types(): string[] {
    return this.received.map((p) => p.message.type);
  }
}

interface Options {
  /** Resolves to the ACK an EVAL gets: the hub's commit. */
  evaluation?: LinkDeps['evaluation'];
  event?: LinkDeps['event'];
  now?: () => number;
  hubState?: () => number;
}

/** A link on one end of a memory pipe, opened, with a device on the other. */
async function linked(options: Options = {}) {
  const pipe = bytePipePair('link');
  let now = T0;
  const evaluation = vi.fn<LinkDeps['evaluation']>(options.evaluation ?? (async () => ({ status: AckStatus.OK, reason: AckReason.NONE })));
  const event = vi.fn<LinkDeps['event']>(options.event ?? (async () => {}));
  const deps: LinkDeps = {
    pairing: (deviceId) => (deviceId === PAIRED ? { windowId: 'A01', windowName: 'A01 综合受理', settings: DEFAULT_SETTINGS } : undefined),
    staff: () => ({ duty: 1, staffId: 'S007', staffName: '李明', staffTitle: '综合受理员' }),
    evaluation,
    event,
    now: options.now ?? (() => now),
    ...(options.hubState ? { hubState: options.hubState } : {}),
  };
  const link = new DeviceLink(pipe.b, deps);
  const device = new Device(pipe.a);
  const events: string[] = [];
  link.on('hello', (h) => events.push(`hello ${h.deviceId}`));
  link.on('online', (id) => events.push(`online ${id}`));
  link.on('offline', (id) => events.push(`offline ${id}`));
  await Promise.all([link.open(), pipe.a.open()]);
  cleanups.push(() => link.close());
  return { link, device, evaluation, event, events, advance: (ms: number) => (now += ms) };
}

/** A paired device welcomed, its STAFF acknowledged: a session at rest. */
async function welcomed(options: Options = {}) {
  const l = await linked(options);
  await l.device.hello();
  await l.device.next((p) => p.message.type === 'WELCOME', 'WELCOME');
  const staff = await l.device.next((p) => p.message.type === 'STAFF', 'STAFF');
  await l.device.send({ type: 'ACK', status: AckStatus.OK, reason: AckReason.NONE }, staff.seq);
  return l;
}

const evalMessage = (counter: number, txnId = ''): Eval => ({ type: 'EVAL', counter, level: 2, origin: 1, txnId, deviceTime: T0, promptMs: 1200 });

describe('DeviceLink session (PROTOCOL 1.4)', () => {
  it('answers a paired device’s HELLO with WELCOME (window, settings, hub time), then STAFF', async () => {
    const { device, link, events } = await linked();
    await device.hello();
    const welcome = await device.next((p) => p.message.type === 'WELCOME', 'WELCOME');
    expect(welcome.message).toEqual({ type: 'WELCOME', hubTime: T0, windowId: 'A01', windowName: 'A01 综合受理', settings: DEFAULT_SETTINGS });
    const staff = await device.next((p) => p.message.type === 'STAFF', 'STAFF');
    expect(staff.message).toEqual({ type: 'STAFF', duty: 1, staffId: 'S007', staffName: '李明', staffTitle: '综合受理员' });
    expect(staff.seq).toBeGreaterThan(0);
    expect(device.types().indexOf('WELCOME')).toBeLessThan(device.types().indexOf('STAFF'));
    expect(link.isWelcomed).toBe(true);
    expect(link.deviceId).toBe(PAIRED);
    expect(events).toEqual([`online ${PAIRED}`, `hello ${PAIRED}`]);
  });

  it('tells a welcomed device the hub\'s state (HUB_STATE, PROTOCOL 1.3 [r2]) after WELCOME and on change, never an unwelcomed one', async () => {
    let flags = 2;
    const { device, link } = await linked({ hubState: () => flags });
    link.sendHubState(1); // not welcomed yet: nothing is sent
    await device.hello();
    const state = await device.next((p) => p.message.type === 'HUB_STATE', 'HUB_STATE');
    expect(state).toEqual({ seq: 0, message: { type: 'HUB_STATE', flags: 2 } });
    expect(device.types().indexOf('WELCOME')).toBeLessThan(device.types().indexOf('HUB_STATE'));
    flags = 0;
    const since = device.received.length;
    link.sendHubState(0);
    expect((await device.next((p) => p.message.type === 'HUB_STATE', 'the second HUB_STATE', since)).message).toEqual({ type: 'HUB_STATE', flags: 0 });
    expect(device.received.filter((p) => p.message.type === 'HUB_STATE')).toHaveLength(2);
  });

  it('gives an unpaired device no WELCOME and answers its reliable messages ACK 2/3, storing nothing', async () => {
    const { device, link, evaluation, event, events } = await linked();
    await device.hello('HCP5-NEW01');
    const evalSeq = device.nextSeq();
    await device.send(evalMessage(1), evalSeq);
    expect((await device.ack(evalSeq)).message).toEqual({ type: 'ACK', status: AckStatus.REJECTED, reason: AckReason.NOT_PAIRED });
    const eventSeq = device.nextSeq();
    await device.send({ type: 'EVENT', code: 7, arg: 0, text: '' }, eventSeq);
    expect((await device.ack(eventSeq)).message).toEqual({ type: 'ACK', status: AckStatus.REJECTED, reason: AckReason.NOT_PAIRED });
    // the link answers in order: a WELCOME would have come before these ACKs
    expect(device.types()).toEqual(['ACK', 'ACK']);
    expect(evaluation).not.toHaveBeenCalled();
    expect(event).not.toHaveBeenCalled();
    expect(link.isWelcomed).toBe(false);
    expect(events).toContain('hello HCP5-NEW01');
  });

  it('answers any frame before HELLO with NACK 4 (no session), naming the frame', async () => {
    const { device, evaluation } = await linked();
    await device.raw(Uint8Array.of(0));
    await device.send(evalMessage(1), 41);
    const nack = await device.next((p) => p.message.type === 'NACK', 'NACK');
    expect(nack.message).toEqual({ type: 'NACK', reason: NackReason.NO_SESSION, offendingType: MessageType.EVAL, offendingSeq: 41 });
    expect(evaluation).not.toHaveBeenCalled();
    // and HELLO still starts a session
    await device.hello();
    await device.next((p) => p.message.type === 'WELCOME', 'WELCOME after the NACK');
  });

  it('answers PING with PONG echoing the device’s time and giving the hub’s', async () => {
    const { device } = await welcomed();
    await device.send({ type: 'PING', senderTime: 123_456 });
    const pong = await device.next((p) => p.message.type === 'PONG' && (p.message as { echoedTime: number }).echoedTime === 123_456, 'PONG');
    expect(pong).toEqual({ seq: 0, message: { type: 'PONG', echoedTime: 123_456, senderTime: T0 } });
  });
});

describe('DeviceLink evaluations', () => {
  it('passes an EVAL to the evaluation callback and ACKs with its decision only once it resolves', async () => {
    let commit!: (ack: AckDecision) => void;
    const { device, evaluation } = await welcomed({ evaluation: () => new Promise((resolve) => (commit = resolve)) });
    // the device clock runs an hour ahead: the hub learns the offset from its PING
    const ping = await device.next((p) => p.message.type === 'PING', 'PING after WELCOME');
    await device.send({ type: 'PONG', echoedTime: (ping.message as { senderTime: number }).senderTime, senderTime: T0 + 3_600_000 });
    const seq = device.nextSeq();
    await device.send(evalMessage(7, 'T-7'), seq);
    // a PONG to a later PING shows the link has read the EVAL: still no ACK, the commit is pending
    await device.send({ type: 'PING', senderTime: 1 });
    await device.next((p) => p.message.type === 'PONG' && (p.message as { echoedTime: number }).echoedTime === 1, 'PONG');
    expect(evaluation).toHaveBeenCalledTimes(1);
    expect(evaluation).toHaveBeenCalledWith(PAIRED, evalMessage(7, 'T-7'), { offsetMs: 3_600_000, receivedAt: T0 });
    expect(device.received.filter((p) => p.message.type === 'ACK')).toEqual([]);
    commit({ status: AckStatus.REJECTED, reason: AckReason.ALREADY_EVALUATED });
    expect((await device.ack(seq)).message).toEqual({ type: 'ACK', status: AckStatus.REJECTED, reason: AckReason.ALREADY_EVALUATED });
  });

  it('a failed commit is ACK 2/4 (storage unavailable): the device keeps the press', async () => {
    const { device } = await welcomed({ evaluation: async () => Promise.reject(new Error('disk full')) });
    const seq = device.nextSeq();
    await device.send(evalMessage(1), seq);
    expect((await device.ack(seq)).message).toEqual({ type: 'ACK', status: AckStatus.REJECTED, reason: AckReason.STORAGE_UNAVAILABLE });
  });

  it('a retransmitted EVAL (same seq) after its ACK gets the answer again (DUPLICATE) without a second callback', async () => {
    const { device, evaluation } = await welcomed();
    const seq = device.nextSeq();
    await device.send(evalMessage(3), seq);
    expect((await device.ack(seq)).message).toMatchObject({ status: AckStatus.OK });
    const since = device.received.length;
    await device.send(evalMessage(3), seq);
    expect((await device.ack(seq, since)).message).toMatchObject({ status: AckStatus.DUPLICATE });
    expect(evaluation.mock.calls.map(([, m]) => m.counter)).toEqual([3]);
  });

  it('a refused EVAL is answered refused again from memory; one the hub could not store goes to the callback again', async () => {
    const answers: Record<number, AckDecision> = { 1: { status: AckStatus.REJECTED, reason: AckReason.ALREADY_EVALUATED }, 2: { status: AckStatus.REJECTED, reason: AckReason.STORAGE_UNAVAILABLE } };
    const { device, evaluation } = await welcomed({ evaluation: async (_id, m) => answers[m.counter]! });
    for (const counter of [1, 2]) {
      const seq = device.nextSeq();
      for (let time = 0; time < 2; time++) {
        const since = device.received.length;
        await device.send(evalMessage(counter), seq);
        expect((await device.ack(seq, since)).message).toMatchObject(answers[counter]!);
      }
    }
    expect(evaluation.mock.calls.map(([, m]) => m.counter)).toEqual([1, 2, 2]);
  });

  it('remembers the answers of the latest 32 EVALs only: an older repeat goes to the callback (the store deduplicates it)', async () => {
    const { device, evaluation } = await welcomed();
    for (let counter = 1; counter <= 33; counter++) {
      const seq = device.nextSeq();
      await device.send(evalMessage(counter), seq);
      await device.ack(seq);
    }
    for (const counter of [33, 2, 1]) {
      const seq = device.nextSeq();
      const since = device.received.length;
      await device.send(evalMessage(counter), seq);
      await device.ack(seq, since);
    }
    expect(evaluation.mock.calls.map(([, m]) => m.counter)).toEqual([...Array.from({ length: 33 }, (_, i) => i + 1), 1]);
  });

  it('an EVAL retransmitted while its commit is pending waits for that commit: one callback, ACK 0 then ACK 1, both after it', async () => {
    let commit!: (ack: AckDecision) => void;
    const { device, evaluation } = await welcomed({ evaluation: () => new Promise((resolve) => (commit = resolve)) });
    const seq = device.nextSeq();
    await device.send(evalMessage(4), seq);
    await device.send(evalMessage(4), seq); // the device's 250 ms retransmission
    // a PONG to a later PING shows the link has read both: no ACK yet, one commit pending
    await device.send({ type: 'PING', senderTime: 1 });
    await device.next((p) => p.message.type === 'PONG' && (p.message as { echoedTime: number }).echoedTime === 1, 'PONG');
    expect(evaluation).toHaveBeenCalledTimes(1);
    expect(device.received.filter((p) => p.message.type === 'ACK')).toEqual([]);
    commit({ status: AckStatus.OK, reason: AckReason.NONE });
    const first = await device.ack(seq);
    expect(first.message).toMatchObject({ status: AckStatus.OK });
    expect((await device.ack(seq, device.received.indexOf(first) + 1)).message).toMatchObject({ status: AckStatus.DUPLICATE });
    expect(evaluation).toHaveBeenCalledTimes(1);
  });

  it('an EVAL retransmitted while its commit fails gets the failure too: both ACK 2/4', async () => {
    let fail!: (error: Error) => void;
    const { device, evaluation } = await welcomed({ evaluation: () => new Promise((_, reject) => (fail = reject)) });
    const seq = device.nextSeq();
    await device.send(evalMessage(5), seq);
    await device.send(evalMessage(5), seq);
    await device.send({ type: 'PING', senderTime: 1 });
    await device.next((p) => p.message.type === 'PONG' && (p.message as { echoedTime: number }).echoedTime === 1, 'PONG');
    fail(new Error('disk full'));
    const first = await device.ack(seq);
    const second = await device.ack(seq, device.received.indexOf(first) + 1);
    for (const a of [first, second]) expect(a.message).toEqual({ type: 'ACK', status: AckStatus.REJECTED, reason: AckReason.STORAGE_UNAVAILABLE });
    expect(evaluation).toHaveBeenCalledTimes(1);
  });

  it('a retransmitted EVENT (same seq) is answered DUPLICATE without a second callback', async () => {
    const { device, event } = await welcomed();
    const message: Event = { type: 'EVENT', code: 1, arg: 3, text: 'stuck' };
    const seq = device.nextSeq();
    await device.send(message, seq);
    expect((await device.ack(seq)).message).toMatchObject({ status: AckStatus.OK });
    const since = device.received.length;
    await device.send(message, seq);
    expect((await device.ack(seq, since)).message).toMatchObject({ status: AckStatus.DUPLICATE });
    expect(event).toHaveBeenCalledTimes(1);
    expect(event).toHaveBeenCalledWith(PAIRED, message);
  });
});

describe('DeviceLink writes', () => {
  it('hands every frame to the transport at once, in order, without waiting for the previous write', async () => {
    // A transport whose writes never complete (a port the OS is slow to drain): the transport
    // keeps writes in order, so the link must not hold the next frame back for it.
    const pipe = bytePipePair('slow');
    const written: Uint8Array[] = [];
    const slow: ByteTransport = { name: 'slow', open: () => pipe.b.open(), close: () => pipe.b.close(), on: (event, listener) => pipe.b.on(event, listener), write: (bytes) => (written.push(bytes), new Promise(() => {})) };
    const link = new DeviceLink(slow, {
      pairing: () => ({ windowId: 'A01', windowName: 'A01 综合受理', settings: DEFAULT_SETTINGS }),
      staff: () => ({ duty: 1, staffId: 'S007', staffName: '李明', staffTitle: '综合受理员' }),
      evaluation: async () => ({ status: AckStatus.OK, reason: AckReason.NONE }),
      event: async () => {},
      now: () => T0,
    });
    await Promise.all([link.open(), pipe.a.open()]);
    const device = new Device(pipe.a);
    await device.hello();
    await vi.waitFor(() => expect(written.length).toBe(4), { timeout: 5000 });
    const decoder = new FrameDecoder();
    const types = written.flatMap((bytes) => decoder.push(bytes).flatMap((out) => (out.kind === 'frame' ? [decodeMessage(out.frame).message.type] : [])));
    expect(types).toEqual(['WELCOME', 'PING', 'STAFF', 'HUB_STATE']);
  });
});

describe('DeviceLink under corrupt bytes (PROTOCOL 1.1)', () => {
  it('counts garbage, a short frame and a bad CRC, answers none of them, and still works', async () => {
    const { device, link } = await linked();
    const badCrc = cobsEncode(Uint8Array.of(1, MessageType.PING, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0xde, 0xad));
    const garbage = Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff || 1);
    await device.raw(Uint8Array.of(0, ...garbage, 0, 0x02, 0x05, 0, ...badCrc, 0));
    await device.hello();
    await device.next((p) => p.message.type === 'WELCOME', 'WELCOME after the garbage');
    expect(device.types()[0], 'nothing answers a corrupt frame').toBe('WELCOME');
    expect(link.stats.drops.crc).toBe(1);
    expect(link.stats.drops.short).toBe(1);
    expect(link.stats.drops.long + link.stats.drops.cobs + link.stats.drops.version, 'the 300 garbage bytes').toBeGreaterThanOrEqual(1);
    expect(link.stats.framesIn).toBe(1);
    const seq = device.nextSeq();
    await device.send(evalMessage(1), seq);
    expect((await device.ack(seq)).message).toMatchObject({ status: AckStatus.OK });
  });
});

describe('DeviceLink timers (fake clock)', () => {
  /** The link's 100 ms timer and its clock both on vitest's fake clock; the pipe stays real. */
  async function onFakeClock() {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: T0 });
    return welcomed({ now: () => Date.now() });
  }

  it('sends PING after 1 s of silence, calls the device offline after 3 s, and online again on its next frame', async () => {
    const { device, link, events } = await onFakeClock();
    const pings = () => device.received.filter((p) => p.message.type === 'PING').length;
    // a PONG shows the link has read everything sent so far, including the STAFF ACK
    await device.send({ type: 'PING', senderTime: 1 });
    await device.next((p) => p.message.type === 'PONG', 'PONG');
    const framesOut = link.stats.framesOut;
    const pingsBefore = pings();

    await vi.advanceTimersByTimeAsync(LINK.pingAfterSilenceMs - 100);
    expect(link.stats.framesOut, 'nothing to send yet').toBe(framesOut);
    const since = device.received.length;
    await vi.advanceTimersByTimeAsync(200);
    const keepalive = await device.next((p) => p.message.type === 'PING', 'keepalive PING', since);
    expect((keepalive.message as { senderTime: number }).senderTime).toBeGreaterThanOrEqual(T0 + LINK.pingAfterSilenceMs);
    expect(pings()).toBe(pingsBefore + 1);
    expect(link.isOnline).toBe(true);

    await vi.advanceTimersByTimeAsync(LINK.downAfterSilenceMs - LINK.pingAfterSilenceMs);
    expect(link.isOnline).toBe(false);
    expect(events.at(-1)).toBe(`offline ${PAIRED}`);

    await device.send({ type: 'STATE', state: 1, queued: 0 });
    await device.send({ type: 'PING', senderTime: 2 });
    await device.next((p) => p.message.type === 'PONG' && (p.message as { echoedTime: number }).echoedTime === 2, 'PONG');
    expect(link.isOnline).toBe(true);
    expect(events.at(-1)).toBe(`online ${PAIRED}`);
  });

  it('retransmits an unacknowledged STAFF after 250 ms with the same seq', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: T0 });
    const { device, link } = await linked({ now: () => Date.now() });
    await device.hello();
    const staff = await device.next((p) => p.message.type === 'STAFF', 'STAFF');
    const since = device.received.length;
    await vi.advanceTimersByTimeAsync(LINK.retransmitInitialMs + 100);
    const again = await device.next((p) => p.message.type === 'STAFF', 'STAFF again', since);
    expect(again).toEqual(staff);
    expect(link.stats.retransmits).toBe(1);
  });
});
