import { describe, expect, it } from 'vitest';
import {
  AckReason,
  AckStatus,
  DEFAULT_SETTINGS,
  Duty,
  EventCode,
  FrameDecoder,
  NackReason,
  ServiceEvent,
  SettingsFlag,
  encodeMessage,
  type Frame,
  type Message,
  type Settings,
} from '../protocol/index.js';
import { EvaluatorCore, type BootState, type Command, type CoreOptions, type QueuedItem } from './core.js';

const T0 = 1_000_000;
const HUB_TIME = 1_795_751_400_000;

function frameOf(message: Message, seq = 0): Frame {
  const out = new FrameDecoder({ synced: true }).push(encodeMessage(message, seq));
  if (out[0]?.kind !== 'frame') throw new Error('test frame did not encode');
  return out[0].frame;
}

/** A core under fake time, with the shell's job done by hand: ticking timers, keeping commands. */
function harness(options: Partial<CoreOptions> = {}, boot: Partial<BootState> = {}) {
  const core = new EvaluatorCore(
    { deviceId: 'HCP5-TEST', ...options },
    { bootCount: 1, nextCounter: 1, nextQid: 1, queued: [], settings: { ...DEFAULT_SETTINGS }, resetReason: 0, ...boot },
  );
  let now = T0;
  const log: Command[] = [];
  let hubSeq = 0;
  const record = (commands: Command[]) => {
    log.push(...commands);
    return commands;
  };
  const h = {
    core,
    log,
    /** Whether a hub is on the line answering PINGs (keeping the link up while time passes). */
    hubAlive: true,
    get now() {
      return now;
    },
    start: () => record(core.start(now)),
    /** Advances the clock, firing every wake-up on the way, as the shell's timer would. */
    advance(ms: number): Command[] {
      const end = now + ms;
      const out: Command[] = [];
      for (let wake = core.nextWakeAt(); wake !== undefined && wake <= end; wake = core.nextWakeAt()) {
        now = Math.max(now, wake);
        const ticked = record(core.tick(now));
        out.push(...ticked);
        if (h.hubAlive && core.linkUp) {
          for (const p of sentOf(ticked, 'PING')) out.push(...h.hub({ type: 'PONG', echoedTime: p.message.senderTime, senderTime: p.message.senderTime }));
        }
      }
      now = end;
      return out;
    },
    hub: (message: Message, seq = 0) => record(core.handle({ kind: 'frame', frame: frameOf(message, seq) }, now)),
    /** A reliable hub message with the hub's next seq. */
    hubReliable: (message: Message) => h.hub(message, ++hubSeq),
    press: (button: 1 | 2 | 3 | 4 | 5 | 'invite') => [...record(core.handle({ kind: 'button', button, down: true }, now)), ...record(core.handle({ kind: 'button', button, down: false }, now))],
    down: (button: 1 | 2 | 3 | 4 | 5 | 'invite') => record(core.handle({ kind: 'button', button, down: true }, now)),
    up: (button: 1 | 2 | 3 | 4 | 5 | 'invite') => record(core.handle({ kind: 'button', button, down: false }, now)),
    welcome: (settings: Settings = DEFAULT_SETTINGS) => h.hub({ type: 'WELCOME', hubTime: HUB_TIME, windowId: 'A01', windowName: 'A01 综合受理', settings }),
    onDuty: () => h.hubReliable({ type: 'STAFF', duty: Duty.ON_DUTY, staffId: 'S007', staffName: '李明', staffTitle: '' }),
    serviceDone: (txnId = 'T-1') => h.hubReliable({ type: 'SERVICE', event: ServiceEvent.DONE, txnId, matterCode: 'M1', matterName: '居民身份证换领' }),
    ack: (seq: number, status: AckStatus = AckStatus.OK, reason: AckReason = AckReason.NONE) => h.hub({ type: 'ACK', status, reason }, seq),
  };
  return h;
}

const sent = (commands: Command[]) => commands.flatMap((c) => (c.kind === 'send' ? [c.packet] : []));
const sentOf = <T extends Message['type']>(commands: Command[], type: T) =>
  sent(commands).filter((p): p is { seq: number; message: Extract<Message, { type: T }> } => p.message.type === type);
const states = (commands: Command[]) => commands.flatMap((c) => (c.kind === 'state' ? [c.state] : []));
const appended = (commands: Command[]) => commands.flatMap((c) => (c.kind === 'append' ? [c.item] : []));

/** Booted, welcomed, on duty, with the boot EVENT acknowledged. */
function ready(options: Partial<CoreOptions> = {}, settings: Settings = DEFAULT_SETTINGS) {
  const h = harness(options);
  h.start();
  const welcome = h.welcome(settings);
  for (const p of sentOf(welcome, 'EVENT')) h.ack(p.seq);
  h.onDuty();
  return h;
}

describe('boot and link (PROTOCOL 1.4)', () => {
  it('sends HELLO at boot and every 2 s until WELCOME, signed out meanwhile', () => {
    const h = harness({}, { nextCounter: 42, bootCount: 3 });
    const boot = h.start();
    expect(sentOf(boot, 'HELLO')[0]?.message).toMatchObject({ deviceId: 'HCP5-TEST', protoVersion: 1, bootCount: 3, nextCounter: 42, queued: 1 });
    expect(h.core.state).toBe('signed-out');
    expect(sentOf(boot, 'EVENT')).toEqual([]); // nothing reliable before a session
    expect(sentOf(h.advance(1999), 'HELLO')).toHaveLength(0);
    expect(sentOf(h.advance(1), 'HELLO')).toHaveLength(1);
    expect(sentOf(h.advance(4000), 'HELLO')).toHaveLength(2);
    const welcome = h.welcome();
    expect(h.core.linkUp).toBe(true);
    expect(sentOf(welcome, 'STATE')[0]?.message).toMatchObject({ state: 7, queued: 1 });
    expect(sentOf(welcome, 'EVENT')[0]).toMatchObject({ seq: 1, message: { code: EventCode.BOOT } });
    expect(sentOf(h.advance(10_000), 'HELLO')).toHaveLength(0);
  });

  it('pings after 1 s of silence, drops the link after 3 s and says HELLO again', () => {
    const h = ready();
    h.hubAlive = false;
    expect(sentOf(h.advance(1000), 'PING')).toHaveLength(1);
    const after = h.advance(2000);
    expect(h.core.linkUp).toBe(false);
    expect(after).toContainEqual({ kind: 'link', up: false });
    expect(sentOf(after, 'HELLO')).toHaveLength(1);
  });

  it('answers a hub PING with PONG carrying the hub-set clock', () => {
    const h = ready();
    const [pong] = sentOf(h.hub({ type: 'PING', senderTime: 77 }), 'PONG');
    expect(pong?.message.echoedTime).toBe(77);
    expect(pong?.message.senderTime).toBe(HUB_TIME);
  });

  it('NACKs a reliable message outside a session with reason 4', () => {
    const h = harness();
    h.start();
    const [nack] = sentOf(h.hub({ type: 'SERVICE', event: 2, txnId: 'T', matterCode: '', matterName: '' }, 5), 'NACK');
    expect(nack?.message).toEqual({ type: 'NACK', reason: NackReason.NO_SESSION, offendingType: 0x10, offendingSeq: 5 });
  });

  it('NACKs an unknown type (1) and a bad payload (2), and keeps working', () => {
    const h = ready();
    const unknown = h.core.handle({ kind: 'frame', frame: { type: 0x7e, seq: 0, payload: new Uint8Array() } }, h.now);
    expect(sentOf(unknown, 'NACK')[0]?.message.reason).toBe(NackReason.UNKNOWN_TYPE);
    const bad = h.core.handle({ kind: 'frame', frame: { type: 0x10, seq: 9, payload: new Uint8Array([9]) } }, h.now);
    expect(sentOf(bad, 'NACK')[0]?.message).toMatchObject({ reason: NackReason.BAD_PAYLOAD, offendingType: 0x10, offendingSeq: 9 });
    expect(h.core.state).toBe('idle');
  });

  it('a NACK "no session" from a restarted hub starts a new session, keeping the queue', () => {
    const h = ready();
    h.serviceDone();
    const press = h.press(5);
    const [evalPacket] = sentOf(press, 'EVAL');
    const nack = h.hub({ type: 'NACK', reason: NackReason.NO_SESSION, offendingType: 0x20, offendingSeq: evalPacket!.seq });
    expect(sentOf(nack, 'HELLO')).toHaveLength(1);
    expect(h.core.queueDepth).toBe(1);
    const again = h.welcome();
    const resent = sentOf(again, 'EVAL')[0];
    expect(resent?.message).toEqual(evalPacket!.message);
    expect(resent?.seq).not.toBe(evalPacket!.seq); // seqs keep counting: a late ACK of the old one matches nothing
  });
});

describe('rating a transaction', () => {
  it('SERVICE done prompts; a press lights its button first, then persists, then sends EVAL', () => {
    const h = ready();
    const service = h.serviceDone('T-9');
    expect(sentOf(service, 'ACK')[0]?.message.status).toBe(AckStatus.OK);
    expect(h.core.state).toBe('prompt');
    expect(service).toContainEqual({ kind: 'led', led: 3, mode: 'blink' });
    h.advance(1200);
    const press = h.press(4);
    const kinds = press.map((c) => (c.kind === 'led' && c.led === 4 ? 'led4' : c.kind));
    expect(kinds.indexOf('led4')).toBeLessThan(kinds.indexOf('append'));
    expect(kinds.indexOf('append')).toBeLessThan(kinds.findIndex((k, i) => k === 'send' && (press[i] as { packet: { message: Message } }).packet.message.type === 'EVAL'));
    expect(press).toContainEqual({ kind: 'led', led: 4, mode: 'on' });
    expect(press).toContainEqual({ kind: 'led', led: 5, mode: 'off' });
    const [evalPacket] = sentOf(press, 'EVAL');
    expect(evalPacket?.message).toEqual({ type: 'EVAL', counter: 1, level: 4, origin: 1, txnId: 'T-9', deviceTime: HUB_TIME + 1200, promptMs: 1200 });
    expect(h.core.state).toBe('thanks');
  });

  it('ignores a second press during thanks, then returns to idle', () => {
    const h = ready();
    h.serviceDone();
    h.press(5);
    expect(sentOf(h.press(1), 'EVAL')).toHaveLength(0);
    expect(appended(h.press(2))).toHaveLength(0);
    h.advance(DEFAULT_SETTINGS.thanksS * 1000);
    expect(h.core.state).toBe('idle');
  });

  it('a prompt that times out sends level 0 (not evaluated), never a rating', () => {
    const h = ready({}, { ...DEFAULT_SETTINGS, promptTimeoutS: 20 });
    h.serviceDone('T-5');
    const out = h.advance(20_000);
    const [evalPacket] = sentOf(out, 'EVAL');
    expect(evalPacket?.message).toMatchObject({ level: 0, origin: 1, txnId: 'T-5', promptMs: 20_000 });
    expect(h.core.state).toBe('idle');
  });

  it('SERVICE cancelled ends the prompt without an evaluation', () => {
    const h = ready();
    h.serviceDone('T-7');
    const out = h.hubReliable({ type: 'SERVICE', event: ServiceEvent.CANCELLED, txnId: 'T-7', matterCode: '', matterName: '' });
    expect(appended(out)).toHaveLength(0);
    expect(h.core.state).toBe('idle');
    expect(sentOf(h.advance(60_000), 'EVAL')).toHaveLength(0);
  });

  it('a new SERVICE done during a prompt closes the old one unrated and prompts again', () => {
    const h = ready();
    h.serviceDone('T-1');
    const out = h.serviceDone('T-2');
    expect(sentOf(out, 'EVAL').map((p) => [p.message.txnId, p.message.level])).toEqual([['T-1', 0]]);
    expect(h.core.state).toBe('prompt');
    expect(sentOf(h.press(3), 'EVAL')[0]?.message).toMatchObject({ txnId: 'T-2', level: 3 });
  });

  it('a retransmitted SERVICE is ACKed as a duplicate and prompts once', () => {
    const h = ready();
    const message: Message = { type: 'SERVICE', event: ServiceEvent.DONE, txnId: 'T-1', matterCode: '', matterName: '' };
    h.hub(message, 50);
    h.press(5);
    const again = h.hub(message, 50);
    expect(sentOf(again, 'ACK')[0]?.message.status).toBe(AckStatus.DUPLICATE);
    expect(h.core.state).toBe('thanks');
  });

  it('the invite key prompts with origin 2 and raises EVENT 7', () => {
    const h = ready();
    const out = h.press('invite');
    expect(h.core.state).toBe('prompt');
    expect(sentOf(out, 'EVENT')[0]?.message.code).toBe(EventCode.INVITE_PRESSED);
    expect(sentOf(h.press(2), 'EVAL')[0]?.message).toMatchObject({ origin: 2, txnId: '', level: 2 });
  });

  it('paused and signed-out refuse prompts and say so', () => {
    for (const duty of [Duty.PAUSED, Duty.SIGNED_OUT]) {
      const h = ready();
      h.hubReliable({ type: 'STAFF', duty, staffId: '', staffName: '', staffTitle: '' });
      const out = h.serviceDone();
      expect(h.core.state).toBe(duty === Duty.PAUSED ? 'paused' : 'signed-out');
      expect(out).toContainEqual({ kind: 'beep', pattern: 'refuse' });
      const shown = out.filter((c) => c.kind === 'display').map((c) => (c as { lines: string[] }).lines[0]);
      expect(shown).toContain(duty === Duty.PAUSED ? '暂停服务' : '窗口未开放');
      expect(appended(h.press('invite')).filter((i) => i.message.type === 'EVAL')).toHaveLength(0);
    }
  });

  it('a pause during a prompt lets the citizen finish, then pauses', () => {
    const h = ready();
    h.serviceDone();
    h.hubReliable({ type: 'STAFF', duty: Duty.PAUSED, staffId: '', staffName: '', staffTitle: '' });
    expect(h.core.state).toBe('prompt');
    h.press(5);
    h.advance(10_000);
    expect(h.core.state).toBe('paused');
  });

  it('unsolicited presses in idle count only when the setting allows', () => {
    const h = ready();
    expect(appended(h.press(1))).toHaveLength(0);
    h.hubReliable({ type: 'SETTINGS', settings: { ...DEFAULT_SETTINGS, flags: SettingsFlag.ACCEPT_UNSOLICITED } });
    expect(sentOf(h.press(3), 'EVAL')[0]?.message).toMatchObject({ level: 3, origin: 3, promptMs: 0, txnId: '' });
    expect(h.core.state).toBe('thanks');
    h.advance(DEFAULT_SETTINGS.thanksS * 1000);
    // 1 and 5 are also the technician chord: their press counts once the other key did not follow
    h.press(1);
    expect(sentOf(h.advance(300), 'EVAL')[0]?.message).toMatchObject({ level: 1, origin: 3 });
  });

  it('with unsolicited presses on, the technician chord records no rating', () => {
    const h = ready();
    h.hubReliable({ type: 'SETTINGS', settings: { ...DEFAULT_SETTINGS, flags: SettingsFlag.ACCEPT_UNSOLICITED } });
    h.down(1);
    h.advance(100);
    h.down(5);
    h.advance(5000);
    expect(h.core.state).toBe('config');
    expect(appended(h.log).filter((i) => i.message.type === 'EVAL')).toEqual([]);
  });

  it('a chord held when a prompt starts does not swallow it: the prompt still ends in level 0', () => {
    const h = ready({}, { ...DEFAULT_SETTINGS, promptTimeoutS: 10 });
    h.down(5);
    h.down(1);
    h.advance(2000);
    h.serviceDone('T-C');
    h.advance(3000); // the chord's 5 s pass during the prompt
    expect(h.core.state).toBe('prompt');
    const out = h.advance(10_000);
    expect(sentOf(out, 'EVAL')[0]?.message).toMatchObject({ txnId: 'T-C', level: 0 });
  });

  it('a WELCOME with an absurd hub time leaves the clock unset instead of crashing', () => {
    const h = harness();
    h.start();
    h.hub({ type: 'WELCOME', hubTime: Number.MAX_SAFE_INTEGER - 100, windowId: 'A01', windowName: '', settings: DEFAULT_SETTINGS });
    h.onDuty();
    h.serviceDone();
    expect(sentOf(h.press(4), 'EVAL')[0]?.message.deviceTime).toBe(0);
    expect(sentOf(h.advance(1000), 'PING')[0]?.message.senderTime).toBe(0);
  });

  it('an ACK "not paired" inside a session makes the device say HELLO again, keeping the press', () => {
    const h = ready();
    h.serviceDone();
    const [evalPacket] = sentOf(h.press(5), 'EVAL');
    const out = h.ack(evalPacket!.seq, AckStatus.REJECTED, AckReason.NOT_PAIRED);
    expect(sentOf(out, 'HELLO')).toHaveLength(1);
    expect(h.core.linkUp).toBe(false);
    expect(h.core.queueDepth).toBe(1);
  });

  it('an append that fails is not sent, its counter is taken back, and the device shows a fault', () => {
    const h = ready();
    h.serviceDone();
    const press = h.core.handle({ kind: 'button', button: 4, down: true }, h.now);
    const item = appended(press).find((i) => i.message.type === 'EVAL')!;
    const after = h.core.appendFailed(item, 'disk error', h.now);
    expect(h.core.state).toBe('fault');
    expect(sentOf(after, 'EVAL')).toEqual([]);
    expect(sentOf(h.advance(5000), 'EVAL')).toEqual([]);
    expect(h.core.queueDepth).toBe(0);
  });

  it('new settings are saved, and the prompt time follows them', () => {
    const h = ready();
    const out = h.hubReliable({ type: 'SETTINGS', settings: { ...DEFAULT_SETTINGS, promptTimeoutS: 5 } });
    expect(out).toContainEqual({ kind: 'save-settings', settings: { ...DEFAULT_SETTINGS, promptTimeoutS: 5 } });
    h.serviceDone();
    expect(sentOf(h.advance(5000), 'EVAL')[0]?.message.level).toBe(0);
  });
});

describe('buttons', () => {
  it('a button held 10 s raises EVENT stuck once, and is ignored until released', () => {
    const h = ready({}, { ...DEFAULT_SETTINGS, flags: SettingsFlag.ACCEPT_UNSOLICITED });
    h.down(3); // counts as one unsolicited press
    h.advance(10_000);
    const stuck = h.log.filter((c) => c.kind === 'append' && c.item.message.type === 'EVENT' && c.item.message.code === EventCode.BUTTON_STUCK);
    expect(stuck).toHaveLength(1);
    expect((stuck[0] as { item: QueuedItem }).item.message).toMatchObject({ arg: 3 });
    h.advance(20_000);
    expect(h.log.filter((c) => c.kind === 'append' && c.item.message.type === 'EVENT' && c.item.message.code === EventCode.BUTTON_STUCK)).toHaveLength(1);
    h.up(3);
    h.serviceDone();
    expect(sentOf(h.press(3), 'EVAL')[0]?.message.level).toBe(3);
  });

  it('holding 非常满意 and 非常不满意 5 s enters technician mode; a press runs the self-test; again leaves', () => {
    const h = ready();
    h.down(5);
    h.down(1);
    const enter = h.advance(5000);
    expect(h.core.state).toBe('config');
    expect(appended(enter).map((i) => i.message.type === 'EVENT' && i.message.code)).toContain(EventCode.CONFIG_ENTERED);
    const shown = enter.filter((c) => c.kind === 'display').map((c) => (c as { lines: string[] }).lines.join(' '));
    expect(shown.at(-1)).toMatch(/HCP5-TEST/);
    expect(shown.at(-1)).toMatch(/已连接/);
    h.up(5);
    h.up(1);
    expect(h.press(3)).toContainEqual({ kind: 'self-test' });
    const result = h.core.handle({ kind: 'self-test-result', failed: 0b100 }, h.now);
    expect(sentOf(result, 'EVENT')[0]?.message).toMatchObject({ code: EventCode.SELF_TEST, arg: 4 });
    h.down(5);
    h.down(1);
    const leave = h.advance(5000);
    expect(appended(leave).map((i) => i.message.type === 'EVENT' && i.message.code)).toContain(EventCode.CONFIG_LEFT);
    expect(h.core.state).toBe('idle');
  });

  it('a short 5+1 chord does not enter technician mode', () => {
    const h = ready();
    h.down(5);
    h.down(1);
    h.advance(4000);
    h.up(1);
    h.advance(5000);
    expect(h.core.state).toBe('idle');
  });
});

describe('the queue', () => {
  it('keeps on ACK reason 3 or 4 and retries later; drops on status 0, 1 and reasons 1, 2', () => {
    const h = ready({ keepRetryMs: 5000 });
    h.serviceDone('T-1');
    const [first] = sentOf(h.press(5), 'EVAL');
    h.ack(first!.seq, AckStatus.REJECTED, AckReason.STORAGE_UNAVAILABLE);
    expect(h.core.queueDepth).toBe(1);
    expect(sentOf(h.advance(4000), 'EVAL')).toHaveLength(0);
    const [retry] = sentOf(h.advance(1500), 'EVAL');
    expect(retry?.message).toEqual(first!.message);
    const removed = h.ack(retry!.seq, AckStatus.REJECTED, AckReason.ALREADY_EVALUATED);
    expect(removed.filter((c) => c.kind === 'remove')).toHaveLength(1);
    expect(h.core.queueDepth).toBe(0);
  });

  it('reconnecting with a backlog sends it oldest first, at most 8 unacknowledged', () => {
    const h = ready();
    h.hubAlive = false;
    h.advance(3000); // link down
    expect(h.core.linkUp).toBe(false);
    for (let i = 0; i < 20; i++) {
      h.press('invite');
      h.press(((i % 5) + 1) as 1 | 2 | 3 | 4 | 5);
      h.advance(5000);
    }
    const queuedEvals = h.log.filter((c) => c.kind === 'append' && c.item.message.type === 'EVAL').length;
    expect(queuedEvals).toBe(20);
    h.hubAlive = true;
    const welcome = h.welcome();
    const first = sent(welcome).filter((p) => p.seq > 0);
    expect(first).toHaveLength(8);
    const counters: number[] = [];
    let inFlight = first;
    for (let round = 0; round < 20 && inFlight.length > 0; round++) {
      const next = [];
      for (const p of inFlight) {
        if (p.message.type === 'EVAL') counters.push(p.message.counter);
        next.push(...sent(h.ack(p.seq)).filter((q) => q.seq > 0 && q.message.type !== 'ACK'));
      }
      inFlight = next;
    }
    expect(counters).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(h.core.queueDepth).toBe(0);
  });

  it('near full raises EVENT 5; full refuses prompts with a visible fault and overwrites nothing', () => {
    const h = ready({ queueCapacity: 20 });
    h.hubAlive = false;
    h.advance(3000); // offline: nothing is acknowledged
    const offlineFrom = h.log.length;
    const levels: number[] = [];
    for (let i = 0; i < 12; i++) {
      h.press('invite'); // offline, the staff key still prompts
      const out = h.press(4);
      levels.push(...appended(out).filter((x) => x.message.type === 'EVAL').map(() => 4));
      h.advance(5000);
    }
    const events = h.log.flatMap((c) => (c.kind === 'append' && c.item.message.type === 'EVENT' ? [c.item.message.code] : []));
    expect(events).toContain(EventCode.QUEUE_NEAR_FULL);
    expect(h.core.queueDepth).toBeLessThanOrEqual(20);
    expect(h.core.state).toBe('fault');
    const shown = h.log.filter((c) => c.kind === 'display').map((c) => (c as { lines: string[] }).lines[0]);
    expect(shown).toContain('存储已满 请联系管理员');
    expect(h.log.slice(offlineFrom).filter((c) => c.kind === 'remove')).toHaveLength(0);
    expect(appended(h.log.slice(offlineFrom)).length).toBe(h.core.queueDepth);
    // the link returns: everything is sent, ACKed, and the fault clears
    h.hubAlive = true;
    let inFlight = sent(h.welcome()).filter((p) => p.seq > 0);
    while (inFlight.length > 0) inFlight = inFlight.flatMap((p) => sent(h.ack(p.seq)).filter((q) => q.seq > 0 && q.message.type !== 'ACK'));
    expect(h.core.queueDepth).toBe(0);
    expect(h.core.state).toBe('idle');
    expect(levels.length).toBeGreaterThan(0);
    expect(levels.length).toBeLessThan(12); // some prompts were refused, none overwrote
  });

  it('EVAL counters continue from the recovered counter', () => {
    const h = harness({}, { nextCounter: 500 });
    h.start();
    h.welcome();
    h.onDuty();
    h.serviceDone();
    expect(sentOf(h.press(5), 'EVAL')[0]?.message.counter).toBe(500);
  });
});
