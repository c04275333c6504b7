/**
 * The evaluator's runtime shell: binds the pure core to the real edges (a byte transport, the
 * johnny-five hardware, the non-volatile queue log, the clock) and carries out its commands in
 * order. One timer: the core says when it next needs a tick.
 */
import { EventEmitter } from 'node:events';
import { DEFAULT_SETTINGS, FrameDecoder, decodeMessage, type Frame, type Packet } from '../protocol/index.js';
import { EvaluatorCore, type Command, type CoreOptions, type Input, type StateName } from './core.js';
import type { EvaluatorHardware } from './hardware.js';
import { QueueLog, StoreError } from './queue-log.js';
import type { ByteTransport } from './transport.js';

export interface Clock {
  now(): number;
}
/**
 * The shell's time: monotonic, so a wall-clock step (NTP correcting a board without a
 * battery-backed clock) can neither stall the core's timers nor fire them all at once. The
 * core needs only elapsed time; the time it reports is the hub's, from WELCOME and PONG.
 */
export const systemClock: Clock = { now: () => performance.timeOrigin + performance.now() };

import type { LogEntry } from '../protocol/index.js';

export type { LogEntry };

export interface FirmwareOptions {
  core: CoreOptions;
  /** Directory of the non-volatile queue log. */
  stateDir: string;
  transport: ByteTransport;
  hardware: EvaluatorHardware;
  clock?: Clock;
  /** Receives one entry per state change, frame in or out, and notable event. */
  log?: (entry: LogEntry) => void;
  /** EVENT 6 reset reason reported at boot. Default 0 (power on). */
  resetReason?: number;
}

export interface FirmwareEvents {
  state: [state: StateName, previous: StateName];
  link: [up: boolean];
  frameIn: [packet: Packet];
  frameOut: [packet: Packet];
  /** Any change the terminal view may want to redraw. */
  change: [];
}

export class Firmware extends EventEmitter<FirmwareEvents> {
  private core: EvaluatorCore | undefined;
  private queue: QueueLog | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writes: Promise<void> = Promise.resolve();
  private readonly decoder = new FrameDecoder();
  private readonly clock: Clock;
  private readonly log: (entry: LogEntry) => void;
  private stopped = false;

  constructor(private readonly options: FirmwareOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? (() => {});
  }

  get state(): StateName | undefined {
    return this.core?.state;
  }
  get linkUp(): boolean {
    return this.core?.linkUp ?? false;
  }
  get queueDepth(): number {
    return this.core?.queueDepth ?? 0;
  }
  get linkStats() {
    return this.decoder.stats;
  }

  async start(): Promise<void> {
    const { log: queue, recovered } = QueueLog.open(this.options.stateDir);
    this.queue = queue;
    if (recovered.droppedBytes > 0) this.log({ level: 'warn', msg: 'queue log had a torn tail', droppedBytes: recovered.droppedBytes });
    this.core = new EvaluatorCore(
      { ...this.options.core, queueCapacity: this.options.core.queueCapacity ?? 10_000 },
      {
        bootCount: recovered.bootCount,
        nextCounter: recovered.nextCounter,
        nextQid: recovered.nextQid,
        queued: recovered.queued,
        settings: recovered.settings ?? { ...DEFAULT_SETTINGS },
        resetReason: this.options.resetReason ?? 0,
      },
    );
    this.log({ level: 'info', msg: 'boot', deviceId: this.options.core.deviceId, bootCount: recovered.bootCount, nextCounter: recovered.nextCounter, queued: recovered.queued.length });
    const { transport, hardware } = this.options;
    transport.on('data', (chunk) => {
      for (const out of this.decoder.push(chunk)) {
        if (out.kind === 'drop') {
          this.log({ level: 'debug', msg: 'frame dropped', reason: out.reason, bytes: out.bytes });
          continue;
        }
        this.logFrameIn(out.frame);
        this.input({ kind: 'frame', frame: out.frame });
      }
    });
    transport.on('close', (error) => {
      if (error && !this.stopped) this.log({ level: 'error', msg: 'link transport closed', error: error.message });
    });
    hardware.onButton((button, down) => this.input({ kind: 'button', button, down }));
    await transport.open();
    this.run(this.core.start(this.clock.now()));
  }

  /** Feeds an input to the core (buttons and frames arrive here; tests may call it too). */
  input(input: Input): void {
    if (!this.core || this.stopped) return;
    this.run(this.core.handle(input, this.clock.now()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.writes;
    await this.options.transport.close();
    this.options.hardware.close();
    this.queue?.close();
  }

  private run(commands: Command[]): void {
    const lost = new Set<unknown>();
    for (const command of commands) {
      if (command.kind === 'send' && lost.has(command.packet.message)) continue; // never send what is not on flash
      if (command.kind === 'append') {
        const ok = this.persist(() => this.queue!.append(command.item, command.nextCounter));
        if (!ok) {
          lost.add(command.item.message);
          for (const c of this.core!.appendFailed(command.item, 'append failed', this.clock.now())) this.execute(c);
        }
        continue;
      }
      this.execute(command);
    }
    this.schedule();
    this.emit('change');
  }

  private execute(command: Command): void {
    const { hardware } = this.options;
    switch (command.kind) {
      case 'send': {
        const { bytes, packet } = command;
        this.log({ level: 'debug', msg: 'frame out', type: packet.message.type, seq: packet.seq, fields: fields(packet) });
        this.emit('frameOut', packet);
        this.write(bytes);
        break;
      }
      case 'delimiter':
        this.write(Uint8Array.of(0));
        break;
      case 'led':
        hardware.setLed(command.led, command.mode);
        break;
      case 'beep':
        hardware.beep(command.pattern);
        break;
      case 'display':
        hardware.show(command.lines);
        break;
      case 'voice':
        hardware.say(command.text);
        break;
      case 'append': // handled in run(), where a failure can stop its send
        break;
      case 'remove':
        this.persist(() => this.queue!.remove(command.qid));
        break;
      case 'save-settings':
        this.persist(() => this.queue!.saveSettings(command.settings));
        break;
      case 'self-test':
        hardware.selfTest().then(
          (failed) => this.input({ kind: 'self-test-result', failed }),
          (error: Error) => this.log({ level: 'error', msg: 'self-test failed to run', error: error.message }),
        );
        break;
      case 'state':
        this.log({ level: 'info', msg: 'state', state: command.state, previous: command.previous });
        this.emit('state', command.state, command.previous);
        break;
      case 'link':
        this.log({ level: 'info', msg: command.up ? 'link up' : 'link down' });
        this.emit('link', command.up);
        break;
      case 'log':
        this.log({ ...command.data, level: command.level, msg: command.msg });
        break;
      default:
        command satisfies never;
    }
  }

  /** Writes in order, one at a time; a failed write is logged (the reliable sender retries). */
  private write(bytes: Uint8Array): void {
    const { transport } = this.options;
    this.writes = this.writes.then(
      () => transport.write(bytes),
      () => transport.write(bytes),
    );
    this.writes.catch((error: Error) => this.log({ level: 'warn', msg: 'write failed', error: error.message }));
  }

  private logFrameIn(frame: Frame): void {
    try {
      const packet = decodeMessage(frame);
      this.log({ level: 'debug', msg: 'frame in', type: packet.message.type, seq: packet.seq, fields: fields(packet) });
      this.emit('frameIn', packet);
    } catch {
      this.log({ level: 'debug', msg: 'frame in', typeByte: frame.type, seq: frame.seq, invalid: true });
    }
  }

  private persist(write: () => void): boolean {
    try {
      write();
      return true;
    } catch (error) {
      const message = (error as Error).message;
      this.log({ level: 'error', msg: 'queue log write failed', error: message });
      if (!(error instanceof StoreError)) queueMicrotask(() => this.input({ kind: 'storage-failed', reason: message }));
      return false;
    }
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const at = this.core?.nextWakeAt();
    if (at === undefined || this.stopped) return;
    this.timer = setTimeout(() => this.run(this.core!.tick(this.clock.now())), Math.max(0, at - this.clock.now()));
  }

}

function fields(packet: Packet): Record<string, unknown> {
  const { type, ...rest } = packet.message;
  void type;
  return rest;
}
