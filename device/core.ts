/**
 * The evaluator's firmware core (DESIGN "Device firmware", PROTOCOL 1.3-1.4): a pure state
 * machine. It takes button edges, decoded frames and the time, and returns commands (light an
 * LED, beep, show text, persist a record, send a frame). It owns no timer and does no I/O: the
 * shell calls `tick(now)` at `nextWakeAt()` and carries out the commands in order, so a
 * pressed button lights before the record is written, and is written before it is sent.
 */
import {
  AckReason,
  HubStateFlag,
  AckStatus,
  Capability,
  DEFAULT_SETTINGS,
  DEVICE_STATE_CODES,
  DuplicateFilter,
  Duty,
  EventCode,
  FrameError,
  LINK,
  Level,
  MessageType,
  NackReason,
  Origin,
  ReliableSender,
  ServiceEvent,
  SettingsFlag,
  ackKeepsMessage,
  decodeMessage,
  encodeMessage,
  type DeviceStateName,
  type Eval,
  type Event,
  type Frame,
  type Message,
  type Packet,
  type Settings,
} from '../protocol/index.js';
import { text, type TextKey } from './texts.js';

/** The evaluator's states: those STATE reports (PROTOCOL 1.3), by name. */
export type StateName = DeviceStateName;

/** A level button 1..5 (5 = 非常满意) or the staff-facing invite key. */
export type ButtonId = 1 | 2 | 3 | 4 | 5 | 'invite';
export type LedId = 1 | 2 | 3 | 4 | 5 | 'status';
export type LedMode = 'off' | 'on' | 'blink' | 'blink-fast';
export type BeepPattern = 'press' | 'prompt' | 'refuse' | 'fault';

/** A message waiting in the non-volatile queue. `qid` orders the queue; it is not the EVAL counter. */
export interface QueuedItem {
  qid: number;
  message: Eval | Event;
}

/** What the shell recovered from non-volatile memory at boot. */
export interface BootState {
  bootCount: number;
  /** The next EVAL counter: never reused (PROTOCOL 1.3). */
  nextCounter: number;
  nextQid: number;
  /** Unacknowledged messages, oldest first. */
  queued: QueuedItem[];
  settings: Settings;
  /** EVENT 6 arg: 0 power on, 1 watchdog, 2 software, 3 brown-out. */
  resetReason: number;
}

export interface CoreOptions {
  deviceId: string;
  /** Model name in HELLO. Default `HCP-5`. */
  model?: string;
  fwVersion?: string;
  /** HELLO capabilities bitmap. Default: five buttons, LEDs, buzzer, display, invite key. */
  capabilities?: number;
  /** Unacknowledged messages kept at most. Default 10,000. */
  queueCapacity?: number;
  /** Fraction of capacity at which EVENT 5 (near full) is raised. Default 0.9. */
  nearFullRatio?: number;
  /** Hold of 非常满意 + 非常不满意 that enters technician mode, ms. Default 5000. */
  technicianHoldMs?: number;
  /** A button down this long is stuck, ms. Default 10,000. */
  stuckMs?: number;
  /** Technician mode ends after this long without a press, ms. Default 60,000. */
  technicianIdleMs?: number;
  /** Wait before retrying a message the hub said to keep (ACK reason 3 or 4), ms. Default 5000. */
  keepRetryMs?: number;
  /** An unsolicited press of 1 or 5 waits this long for the other chord key, ms. Default 300. */
  chordGraceMs?: number;
}

const DEFAULTS = {
  model: 'HCP-5',
  fwVersion: '0.1.0',
  capabilities: Capability.FIVE_BUTTONS | Capability.BUTTON_LEDS | Capability.BUZZER | Capability.DISPLAY | Capability.INVITE_KEY,
  queueCapacity: 10_000,
  nearFullRatio: 0.9,
  technicianHoldMs: 5000,
  stuckMs: 10_000,
  technicianIdleMs: 60_000,
  keepRetryMs: 5000,
  chordGraceMs: 300,
};

export type Input =
  | { kind: 'button'; button: ButtonId; down: boolean }
  | { kind: 'frame'; frame: Frame }
  | { kind: 'self-test-result'; failed: number }
  | { kind: 'storage-failed'; reason: string };

export type Command =
  | { kind: 'send'; bytes: Uint8Array; packet: Packet }
  /** Write a lone 0x00 (an empty frame, which receivers ignore) to resynchronise the peer. */
  | { kind: 'delimiter' }
  | { kind: 'led'; led: LedId; mode: LedMode }
  | { kind: 'beep'; pattern: BeepPattern }
  | { kind: 'display'; lines: [string, string] }
  | { kind: 'voice'; text: string }
  | { kind: 'append'; item: QueuedItem; nextCounter: number }
  | { kind: 'remove'; qid: number }
  | { kind: 'save-settings'; settings: Settings }
  | { kind: 'self-test' }
  | { kind: 'state'; state: StateName; previous: StateName }
  | { kind: 'link'; up: boolean }
  | { kind: 'log'; level: 'info' | 'warn' | 'error'; msg: string; data?: Record<string, unknown> };

type TimerName = 'hello' | 'ping' | 'link-down' | 'prompt' | 'thanks' | 'combo' | 'technician-idle' | 'unsolicited' | `stuck-${ButtonId}`;

interface Prompt {
  origin: Origin;
  txnId: string;
  startedAt: number;
}

const LEVELS = [1, 2, 3, 4, 5] as const;

/** A hub time the device will adopt: 2020..2200, so device times stay valid u64 values. */
function saneTime(ms: number): boolean {
  return ms >= 1_577_836_800_000 && ms <= 7_258_118_400_000;
}

export class EvaluatorCore {
  private readonly options: Required<CoreOptions>;
  private stateName: StateName = 'boot';
  private duty: number = Duty.SIGNED_OUT;
  private settings: Settings;
  private session = false;
  /** hub time - local time, once a WELCOME set the clock. */
  private clockOffset: number | undefined;
  /** The hub's last HUB_STATE flags (PROTOCOL 1.3 [r2]). */
  private hubFlags = 0;
  private windowName = '';
  private staffName = '';
  private serving: { txnId: string; matterName: string } | undefined;
  private prompt: Prompt | undefined;
  private readonly down = new Set<ButtonId>();
  private readonly stuck = new Set<ButtonId>();
  private readonly timers = new Map<TimerName, number>();
  private readonly sender = new ReliableSender<QueuedItem>();
  private readonly filter = new DuplicateFilter();
  private nextCounter: number;
  private nextQid: number;
  private queued: number;
  private nearFullRaised = false;
  private storageFailed = false;
  private holdNewUntil = 0;
  private pendingUnsolicited: 1 | 2 | 3 | 4 | 5 | undefined;
  private out: Command[] = [];

  constructor(
    options: CoreOptions,
    private readonly boot: BootState,
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.settings = boot.settings;
    this.nextCounter = boot.nextCounter;
    this.nextQid = boot.nextQid;
    this.queued = boot.queued.length;
    for (const item of boot.queued) this.sender.enqueue(item);
  }

  // ---- what the shell and the simulator show ----
  get state(): StateName {
    return this.stateName;
  }
  get linkUp(): boolean {
    return this.session;
  }
  get queueDepth(): number {
    return this.queued;
  }
  get currentSettings(): Settings {
    return { ...this.settings };
  }
  get window(): string {
    return this.windowName;
  }

  /** Boot: HELLO at once, EVENT 6 queued, signed out until the hub says who is on duty. */
  start(now: number): Command[] {
    this.out = [];
    this.queueEvent(EventCode.BOOT, this.boot.resetReason, `boot ${this.boot.bootCount}`);
    this.sendHello();
    this.arm('hello', now + LINK.helloIntervalMs);
    this.enter(this.stateForDuty(), now);
    this.emit({ kind: 'led', led: 'status', mode: 'blink' });
    return this.flush(now);
  }

  handle(input: Input, now: number): Command[] {
    this.out = [];
    switch (input.kind) {
      case 'button':
        if (input.down) this.onButtonDown(input.button, now);
        else this.onButtonUp(input.button);
        break;
      case 'frame':
        this.onFrame(input.frame, now);
        break;
      case 'self-test-result':
        this.queueEvent(EventCode.SELF_TEST, input.failed, input.failed ? 'self-test failed' : 'self-test ok');
        this.showTechnician();
        break;
      case 'storage-failed':
        this.storageFailed = true;
        this.log('error', 'non-volatile storage failed', { reason: input.reason });
        if (this.stateName !== 'prompt' && this.stateName !== 'thanks') this.enter('fault', now);
        break;
      default:
        input satisfies never;
    }
    return this.flush(now);
  }

  /**
   * The shell could not persist an appended item: it must not be sent (it would not survive
   * a reboot, and its counter could be reused). The item is forgotten, the counter taken back
   * if it was the last one allocated, and the device shows a storage fault.
   */
  appendFailed(item: QueuedItem, reason: string, now: number): Command[] {
    this.out = [];
    if (this.sender.remove(item)) this.queued--;
    if (item.message.type === 'EVAL' && item.message.counter === this.nextCounter - 1) this.nextCounter--;
    this.storageFailed = true;
    this.log('error', 'non-volatile storage failed: the press could not be kept', { reason, qid: item.qid });
    this.prompt = undefined;
    this.enter('fault', now);
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Fires every timer due at `now`, then sends what the window allows. */
  tick(now: number): Command[] {
    this.out = [];
    for (const [name, due] of [...this.timers].sort((a, b) => a[1] - b[1])) {
      if (due > now || this.timers.get(name) !== due) continue;
      this.timers.delete(name);
      this.onTimer(name, now);
    }
    return this.flush(now);
  }

  /** When `tick` next has work, or `undefined` if nothing is pending. */
  nextWakeAt(): number | undefined {
    let next: number | undefined;
    for (const due of this.timers.values()) if (next === undefined || due < next) next = due;
    const retransmit = this.session ? this.sender.nextDueAt() : undefined;
    if (retransmit !== undefined && (next === undefined || retransmit < next)) next = retransmit;
    if (this.session && this.holdNewUntil > 0 && this.sender.size > this.sender.inFlightCount) {
      if (next === undefined || this.holdNewUntil < next) next = this.holdNewUntil;
    }
    return next;
  }

  // ---- buttons ----
  private onButtonDown(button: ButtonId, now: number): void {
    this.down.add(button);
    this.arm(`stuck-${button}`, now + this.options.stuckMs);
    if (this.stuck.has(button)) return;
    if (button === 'invite') {
      this.onInvite(now);
      return;
    }
    if (this.down.has(5) && this.down.has(1) && !this.timers.has('combo') && this.stateName !== 'prompt' && this.stateName !== 'thanks') {
      this.arm('combo', now + this.options.technicianHoldMs);
    }
    switch (this.stateName) {
      case 'prompt':
        this.rate(button, now);
        break;
      case 'idle':
        if (!(this.settings.flags & SettingsFlag.ACCEPT_UNSOLICITED)) break;
        if (this.down.has(5) && this.down.has(1)) {
          // the technician chord, not a rating: forget the first key's pending press
          this.pendingUnsolicited = undefined;
          this.timers.delete('unsolicited');
        } else if (button === 5 || button === 1) {
          // 5 and 1 are also the chord: count the press only if the other key does not follow
          this.pendingUnsolicited = button;
          this.arm('unsolicited', now + this.options.chordGraceMs);
        } else this.unsolicited(button, now);
        break;
      case 'config':
        this.arm('technician-idle', now + this.options.technicianIdleMs);
        if (!(this.down.has(5) && this.down.has(1))) {
          this.show('selfTest', 'technician');
          this.emit({ kind: 'self-test' });
        }
        break;
      case 'thanks': // a second press in thanks is ignored (DESIGN)
      case 'boot':
      case 'paused':
      case 'signed-out':
      case 'fault':
        break;
      default:
        this.stateName satisfies never;
    }
  }

  private onButtonUp(button: ButtonId): void {
    this.down.delete(button);
    this.timers.delete(`stuck-${button}`);
    if (this.stuck.delete(button)) this.log('info', 'stuck button released', { button });
    if (button === 5 || button === 1) this.timers.delete('combo');
  }

  private onInvite(now: number): void {
    if (this.stateName === 'idle') this.startPrompt(Origin.INVITED, '', now);
    else if (this.stateName === 'paused' || this.stateName === 'signed-out' || this.stateName === 'fault') this.refuse(now);
    // after the prompt took its slot: when the queue is nearly full the event gives way
    this.queueEvent(EventCode.INVITE_PRESSED, 0, '');
  }

  /** A press during a prompt: light it at once, queue the EVAL, thank. */
  private rate(level: 1 | 2 | 3 | 4 | 5, now: number): void {
    const prompt = this.prompt;
    if (!prompt) return;
    this.prompt = undefined;
    this.timers.delete('prompt');
    for (const l of LEVELS) this.emit({ kind: 'led', led: l, mode: l === level ? 'on' : 'off' });
    this.emit({ kind: 'beep', pattern: 'press' });
    this.queueEval(level, prompt.origin, prompt.txnId, now, now - prompt.startedAt);
    this.enter('thanks', now);
  }

  private unsolicited(level: 1 | 2 | 3 | 4 | 5, now: number): void {
    if (!this.hasRoom(1)) {
      this.enter('fault', now);
      return;
    }
    for (const l of LEVELS) this.emit({ kind: 'led', led: l, mode: l === level ? 'on' : 'off' });
    this.emit({ kind: 'beep', pattern: 'press' });
    this.queueEval(level, Origin.UNSOLICITED, '', now, 0);
    this.enter('thanks', now);
  }

  private startPrompt(origin: Origin, txnId: string, now: number): void {
    if (!this.hasRoom(1) || this.storageFailed) {
      this.enter('fault', now);
      this.refuse(now);
      return;
    }
    this.prompt = { origin, txnId, startedAt: now };
    this.arm('prompt', now + this.settings.promptTimeoutS * 1000);
    this.enter('prompt', now);
  }

  /** The prompt ended without a press: "not evaluated", never a rating (PROTOCOL 1.3 level 0). */
  private promptTimedOut(now: number): void {
    const prompt = this.prompt;
    if (!prompt) return;
    this.prompt = undefined;
    this.queueEval(Level.NOT_EVALUATED, prompt.origin, prompt.txnId, now, now - prompt.startedAt);
    this.enter(this.stateForDuty(), now);
  }

  private refuse(now: number): void {
    this.emit({ kind: 'beep', pattern: 'refuse' });
    this.renderState(now);
  }

  // ---- the queue ----
  /** Room for `n` more messages, keeping one slot for a prompt in progress. */
  private hasRoom(n: number): boolean {
    return this.queued + n + (this.prompt ? 1 : 0) <= this.options.queueCapacity;
  }

  private queueEval(level: Level, origin: Origin, txnId: string, now: number, promptMs: number): void {
    const counter = this.nextCounter++;
    const message: Eval = { type: 'EVAL', counter, level, origin, txnId, deviceTime: this.deviceTime(now), promptMs: Math.max(0, Math.round(promptMs)) };
    this.enqueue(message);
    this.log('info', level === Level.NOT_EVALUATED ? 'prompt timed out: not evaluated' : 'rated', { counter, rating: level, origin, txnId });
  }

  private queueEvent(code: EventCode, arg: number, eventText: string): void {
    if (!this.hasRoom(1)) {
      this.log('warn', 'queue full: event not kept', { code, arg });
      return;
    }
    this.enqueue({ type: 'EVENT', code, arg, text: eventText });
  }

  private enqueue(message: Eval | Event): void {
    const item: QueuedItem = { qid: this.nextQid++, message };
    this.emit({ kind: 'append', item, nextCounter: this.nextCounter });
    this.sender.enqueue(item);
    this.queued++;
    const nearFull = Math.floor(this.options.queueCapacity * this.options.nearFullRatio);
    if (!this.nearFullRaised && this.queued >= nearFull) {
      this.nearFullRaised = true;
      this.log('warn', 'queue near full', { queued: this.queued, capacity: this.options.queueCapacity });
      if (this.hasRoom(1)) {
        const warn: QueuedItem = { qid: this.nextQid++, message: { type: 'EVENT', code: EventCode.QUEUE_NEAR_FULL, arg: this.queued, text: '' } };
        this.emit({ kind: 'append', item: warn, nextCounter: this.nextCounter });
        this.sender.enqueue(warn);
        this.queued++;
      }
    }
  }

  private dequeued(item: QueuedItem, now: number): void {
    this.emit({ kind: 'remove', qid: item.qid });
    this.queued--;
    if (this.queued < Math.floor(this.options.queueCapacity * this.options.nearFullRatio * 0.9)) this.nearFullRaised = false;
    if (this.stateName === 'fault' && !this.storageFailed && this.hasRoom(1)) this.enter(this.stateForDuty(), now);
  }

  // ---- the link ----
  private onFrame(frame: Frame, now: number): void {
    this.arm('link-down', now + LINK.downAfterSilenceMs);
    this.arm('ping', now + LINK.pingAfterSilenceMs);
    let packet: Packet;
    try {
      packet = decodeMessage(frame);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      const reason = error.code === 'unknown-type' ? NackReason.UNKNOWN_TYPE : NackReason.BAD_PAYLOAD;
      this.log('warn', 'refused a frame', { type: frame.type, seq: frame.seq, code: error.code, error: error.message });
      this.send({ type: 'NACK', reason, offendingType: frame.type, offendingSeq: frame.seq });
      return;
    }
    const { seq, message } = packet;
    switch (message.type) {
      case 'WELCOME':
        this.onWelcome(message.hubTime, message.windowName || message.windowId, message.settings, now);
        break;
      case 'PING':
        this.send({ type: 'PONG', echoedTime: message.senderTime, senderTime: this.deviceTime(now) });
        break;
      case 'PONG':
        // Refine the clock: the hub's time plus half the round trip is "now".
        if (this.clockOffset !== undefined && message.echoedTime > 0) {
          const rtt = this.deviceTime(now) - message.echoedTime;
          if (rtt >= 0 && rtt < 2000 && saneTime(message.senderTime)) this.clockOffset = message.senderTime + rtt / 2 - now;
        }
        break;
      case 'ACK':
        this.onAck(seq, message.status, message.reason, now);
        break;
      case 'NACK':
        this.onNack(message.reason, message.offendingSeq, now);
        break;
      case 'SERVICE':
      case 'STAFF':
      case 'SETTINGS':
      case 'SELF_TEST':
        this.onReliable(seq, message, now);
        break;
      case 'HUB_STATE':
        // PROTOCOL 1.3 [r2]: the hub's health; presses are queued here either way (nothing is lost)
        if (message.flags !== this.hubFlags) this.log(message.flags & HubStateFlag.STORAGE_UNAVAILABLE ? 'warn' : 'info', 'hub state', { storageUnavailable: !!(message.flags & HubStateFlag.STORAGE_UNAVAILABLE), platformUnreachable: !!(message.flags & HubStateFlag.PLATFORM_UNREACHABLE) });
        this.hubFlags = message.flags;
        break;
      case 'HELLO':
      case 'STATE':
      case 'EVAL':
      case 'EVENT':
        this.log('warn', 'ignored a device-to-hub message sent to the device', { type: message.type });
        break;
      default:
        message satisfies never;
    }
  }

  private onWelcome(hubTime: number, windowName: string, settings: Settings, now: number): void {
    const wasUp = this.session;
    this.session = true;
    this.clockOffset = saneTime(hubTime) ? hubTime - now : undefined;
    if (this.clockOffset === undefined) this.log('warn', 'hub time out of range: device clock left unset', { hubTime });
    this.windowName = windowName;
    this.filter.reset(); // PROTOCOL 1.4: the session starts at WELCOME
    this.sender.resetSession();
    this.holdNewUntil = 0;
    this.timers.delete('hello');
    this.applySettings(settings);
    if (!wasUp) this.emit({ kind: 'link', up: true });
    this.log('info', 'welcomed', { window: windowName, queued: this.queued });
    this.emit({ kind: 'led', led: 'status', mode: this.stateName === 'fault' ? 'blink-fast' : 'on' });
    this.sendState();
    this.renderState(now);
  }

  private onAck(seq: number, status: number, reason: number, now: number): void {
    if (ackKeepsMessage(status, reason)) {
      // PROTOCOL 1.3: keep it and retry later; a press is never thrown away over configuration
      const kept = this.sender.requeue(seq);
      if (!kept) return;
      this.holdNewUntil = now + this.options.keepRetryMs;
      this.log('warn', 'hub asked to keep a message for later', { reason, qid: kept.qid });
      // "not paired" inside a session: the hub no longer knows us as paired. Say HELLO again,
      // so a re-pairing is picked up with a WELCOME.
      if (reason === AckReason.NOT_PAIRED) this.dropSession(now, 'hub says not paired');
      return;
    }
    const item = this.sender.ack(seq);
    if (!item) return; // a duplicate ACK, or one from an earlier session
    if (status === AckStatus.REJECTED) this.log('warn', 'hub rejected a message', { reason, message: item.message });
    this.dequeued(item, now);
  }

  private onNack(reason: number, offendingSeq: number, now: number): void {
    if (reason === NackReason.NO_SESSION) {
      this.dropSession(now, 'hub has no session');
      return;
    }
    this.log('warn', 'hub refused a frame', { reason, offendingSeq });
    if (this.sender.requeue(offendingSeq)) this.holdNewUntil = now + this.options.keepRetryMs;
  }

  private onReliable(seq: number, message: Message, now: number): void {
    if (!this.session) {
      this.send({ type: 'NACK', reason: NackReason.NO_SESSION, offendingType: MessageType[message.type], offendingSeq: seq });
      return;
    }
    if (this.filter.accept(seq) === 'duplicate') {
      this.send({ type: 'ACK', status: AckStatus.DUPLICATE, reason: 0 }, seq);
      return;
    }
    this.send({ type: 'ACK', status: AckStatus.OK, reason: 0 }, seq);
    switch (message.type) {
      case 'SERVICE':
        this.onService(message.event, message.txnId, message.matterName, now);
        break;
      case 'STAFF':
        this.duty = message.duty;
        this.staffName = [message.staffTitle, message.staffName].filter(Boolean).join(' ');
        if (this.stateName === 'boot' || this.stateName === 'idle' || this.stateName === 'paused' || this.stateName === 'signed-out') {
          this.enter(this.stateForDuty(), now);
        }
        break;
      case 'SETTINGS':
        this.applySettings(message.settings);
        this.renderState(now);
        break;
      case 'SELF_TEST':
        // never in front of a citizen: during a prompt or thanks the request is declined
        if (this.stateName === 'prompt' || this.stateName === 'thanks') this.log('info', 'self-test request declined: a citizen is rating');
        else this.emit({ kind: 'self-test' });
        break;
      default:
        break;
    }
  }

  private onService(event: number, txnId: string, matterName: string, now: number): void {
    switch (event) {
      case ServiceEvent.STARTED:
        this.serving = { txnId, matterName };
        if (this.stateName === 'idle') this.renderState(now);
        break;
      case ServiceEvent.DONE:
        this.serving = undefined;
        if (this.stateName === 'prompt') this.promptTimedOut(now); // a new transaction ends the old prompt unrated
        if (this.stateName === 'thanks') this.enter(this.stateForDuty(), now);
        if (this.stateName === 'idle') this.startPrompt(Origin.PROMPTED, txnId, now);
        else {
          this.log('info', 'prompt refused', { state: this.stateName, txnId });
          this.refuse(now);
        }
        break;
      case ServiceEvent.CANCELLED:
        if (this.serving?.txnId === txnId) this.serving = undefined;
        if (this.stateName === 'prompt' && this.prompt?.txnId === txnId) {
          this.prompt = undefined;
          this.timers.delete('prompt');
          this.enter(this.stateForDuty(), now);
        } else if (this.stateName === 'idle') this.renderState(now);
        break;
      default:
        this.log('warn', 'unknown service event', { event });
    }
  }

  private applySettings(settings: Settings): void {
    const changed = JSON.stringify(settings) !== JSON.stringify(this.settings);
    this.settings = { ...settings };
    if (changed) this.emit({ kind: 'save-settings', settings: { ...settings } });
  }

  private dropSession(now: number, why: string): void {
    if (this.session) {
      this.session = false;
      this.emit({ kind: 'link', up: false });
      this.emit({ kind: 'led', led: 'status', mode: 'blink' });
      this.log('warn', 'link down', { why, queued: this.queued });
    }
    this.timers.delete('ping');
    this.timers.delete('link-down');
    this.sendHello();
    this.arm('hello', now + LINK.helloIntervalMs);
    if (this.stateName === 'config') this.showTechnician();
  }

  // ---- timers ----
  private onTimer(name: TimerName, now: number): void {
    switch (name) {
      case 'hello':
        if (!this.session) {
          this.sendHello();
          this.arm('hello', now + LINK.helloIntervalMs);
        }
        break;
      case 'ping':
        if (this.session) {
          this.send({ type: 'PING', senderTime: this.deviceTime(now) });
          this.arm('ping', now + LINK.pingAfterSilenceMs);
        }
        break;
      case 'link-down':
        this.dropSession(now, 'no frame for 3 s');
        break;
      case 'prompt':
        this.promptTimedOut(now);
        break;
      case 'thanks':
        this.enter(this.stateForDuty(), now);
        break;
      case 'combo':
        if (this.down.has(5) && this.down.has(1) && this.stateName !== 'prompt' && this.stateName !== 'thanks') this.toggleTechnician(now);
        break;
      case 'unsolicited': {
        const level = this.pendingUnsolicited;
        this.pendingUnsolicited = undefined;
        if (level !== undefined && this.stateName === 'idle') this.unsolicited(level, now);
        break;
      }
      case 'technician-idle':
        if (this.stateName === 'config') this.toggleTechnician(now);
        break;
      default: {
        const button = name.slice('stuck-'.length);
        const id: ButtonId = button === 'invite' ? 'invite' : (Number(button) as 1 | 2 | 3 | 4 | 5);
        if (this.down.has(id) && !this.stuck.has(id)) {
          this.stuck.add(id);
          this.timers.delete('combo');
          this.log('warn', 'button stuck', { button: id });
          this.queueEvent(EventCode.BUTTON_STUCK, id === 'invite' ? 0 : id, `button ${id} stuck`);
        }
      }
    }
  }

  private toggleTechnician(now: number): void {
    if (this.stateName === 'config') {
      this.timers.delete('technician-idle');
      this.queueEvent(EventCode.CONFIG_LEFT, 0, '');
      this.enter(this.stateForDuty(), now);
      return;
    }
    this.queueEvent(EventCode.CONFIG_ENTERED, 0, '');
    this.arm('technician-idle', now + this.options.technicianIdleMs);
    this.enter('config', now);
  }

  // ---- states ----
  private stateForDuty(): StateName {
    if (this.storageFailed || !this.hasRoom(1)) return 'fault';
    if (this.duty === Duty.ON_DUTY) return 'idle';
    if (this.duty === Duty.PAUSED) return 'paused';
    return 'signed-out';
  }

  private enter(next: StateName, now: number): void {
    const previous = this.stateName;
    if (previous === 'thanks') this.timers.delete('thanks');
    if (next === 'prompt' || next === 'thanks') this.timers.delete('combo'); // a citizen is rating: no technician chord
    if (previous === 'prompt' && next !== 'prompt') this.timers.delete('prompt');
    this.stateName = next;
    if (next === 'thanks') this.arm('thanks', now + this.settings.thanksS * 1000);
    if (previous !== next) {
      this.emit({ kind: 'state', state: next, previous });
      this.sendState();
    }
    this.renderState(now);
  }

  /** LEDs, display and voice for the current state. */
  private renderState(now: number): void {
    void now;
    const lang = this.settings.language;
    const levelLeds = (mode: LedMode) => LEVELS.forEach((l) => this.emit({ kind: 'led', led: l, mode }));
    switch (this.stateName) {
      case 'boot':
        this.show('connecting', 'welcome');
        break;
      case 'idle':
        levelLeds('off');
        this.showLines(this.serving ? `${text('serving', lang)} ${this.serving.matterName}`.trim() : text('welcome', lang), this.windowLine());
        break;
      case 'prompt':
        levelLeds('blink');
        this.showLines(text('pleaseRate', lang), this.windowLine());
        this.emit({ kind: 'beep', pattern: 'prompt' });
        if (this.settings.flags & SettingsFlag.VOICE_PROMPTS && this.options.capabilities & Capability.VOICE) {
          this.emit({ kind: 'voice', text: text('pleaseRate', lang) });
        }
        break;
      case 'thanks':
        this.showLines(text('thanks', lang), this.windowLine());
        if (this.settings.flags & SettingsFlag.VOICE_PROMPTS && this.options.capabilities & Capability.VOICE) {
          this.emit({ kind: 'voice', text: text('thanks', lang) });
        }
        break;
      case 'paused':
        levelLeds('off');
        this.showLines(text('paused', lang), this.windowLine());
        break;
      case 'signed-out':
        levelLeds('off');
        this.showLines(text('signedOut', lang), this.windowLine());
        break;
      case 'config':
        levelLeds('off');
        this.showTechnician();
        break;
      case 'fault':
        levelLeds('off');
        this.emit({ kind: 'led', led: 'status', mode: 'blink-fast' });
        this.emit({ kind: 'beep', pattern: 'fault' });
        this.show(this.storageFailed ? 'storageFault' : 'queueFull', 'welcome');
        break;
      default:
        this.stateName satisfies never;
    }
  }

  private windowLine(): string {
    return [this.windowName, this.staffName].filter(Boolean).join(' ');
  }

  private showTechnician(): void {
    const lang = this.settings.language;
    this.showLines(
      `${text('technician', lang)} ${this.options.deviceId}`,
      `${text(this.session ? 'linkUp' : 'linkDown', lang)} · ${text('queued', lang)} ${this.queued}`,
    );
  }

  private show(first: TextKey, second: TextKey): void {
    const lang = this.settings.language;
    this.showLines(text(first, lang), second === 'welcome' ? this.windowLine() : text(second, lang));
  }

  private showLines(first: string, second: string): void {
    this.emit({ kind: 'display', lines: [first, second] });
  }

  // ---- output ----
  private sendHello(): void {
    // A receiver discards everything up to its first 0x00 after opening its port (PROTOCOL
    // 1.1), and opening a serial port flushes what was waiting: a lone 0x00 before each HELLO
    // keeps the session's first frame from being taken for line noise.
    this.emit({ kind: 'delimiter' });
    this.send({
      type: 'HELLO',
      deviceId: this.options.deviceId,
      model: this.options.model,
      fwVersion: this.options.fwVersion,
      protoVersion: 1,
      capabilities: this.options.capabilities,
      bootCount: this.boot.bootCount,
      nextCounter: this.nextCounter,
      queued: Math.min(this.queued, 0xffff),
    });
  }

  private sendState(): void {
    if (this.session) this.send({ type: 'STATE', state: DEVICE_STATE_CODES[this.stateName], queued: Math.min(this.queued, 0xffff) });
  }

  private send(message: Message, seq = 0): void {
    this.emit({ kind: 'send', bytes: encodeMessage(message, seq), packet: { seq, message } });
  }

  /** Device clock: hub time once welcomed, 0 before (PROTOCOL 1.3 EVAL.deviceTime). */
  private deviceTime(now: number): number {
    return this.clockOffset === undefined ? 0 : Math.max(0, Math.round(now + this.clockOffset));
  }

  private arm(name: TimerName, at: number): void {
    this.timers.set(name, at);
  }

  private emit(command: Command): void {
    this.out.push(command);
  }

  private log(level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>): void {
    this.emit(data ? { kind: 'log', level, msg, data } : { kind: 'log', level, msg });
  }

  /** Sends what the window allows (only within a session), then returns the commands. */
  private flush(now: number): Command[] {
    if (this.session) {
      const holding = now < this.holdNewUntil;
      if (!holding) this.holdNewUntil = 0;
      for (const t of this.sender.poll(now, !holding)) {
        this.send(t.item.message, t.seq);
      }
    }
    const out = this.out;
    this.out = [];
    return out;
  }
}
