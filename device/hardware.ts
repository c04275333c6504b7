/**
 * The evaluator's hardware edge: buttons, LEDs, buzzer and display through johnny-five, on
 * any IO plugin (Firmata over the board's UART on a real evaluator, `SimIO` in simulation).
 * The firmware core never sees johnny-five; it sees `EvaluatorHardware`.
 */
import { createRequire } from 'node:module';
import five from 'johnny-five';
import { SerialPort } from 'serialport';
import type { BeepPattern, ButtonId, LedId, LedMode } from './core.js';

export interface EvaluatorHardware {
  onButton(listener: (button: ButtonId, down: boolean) => void): void;
  setLed(led: LedId, mode: LedMode): void;
  beep(pattern: BeepPattern): void;
  show(lines: [string, string]): void;
  say(text: string): void;
  /** Lights every LED and sounds the buzzer; resolves to the bitmap of parts that failed. */
  selfTest(): Promise<number>;
  close(): void;
}

/** Which pin each part is on: configuration, not code (issue: "the pin map is configuration"). */
export interface PinMap {
  /** Button pin per level, 1 非常不满意 .. 5 非常满意. */
  buttons: Record<'1' | '2' | '3' | '4' | '5', number | string>;
  /** Staff-facing invite key, or null if the model has none. */
  invite: number | string | null;
  leds: Record<'1' | '2' | '3' | '4' | '5', number | string>;
  status: number | string;
  /** Active buzzer (it has its own oscillator: the pin only switches it). */
  buzzer: number | string | null;
  /** Buttons wired to ground with the internal pull-up (pressed reads 0). Default false. */
  pullup?: boolean;
  /** Debounce-relevant hold time for johnny-five's `hold` event, ms. Default 500. */
  holdtime?: number;
  /** An I2C character LCD (PCF8574 backpack), or null. */
  display?: { controller: 'PCF8574' | 'PCF8574A' | 'PCF8574AT'; rows: number; cols: number } | null;
}

/** The simulated evaluator's wiring. */
export const SIM_PIN_MAP: PinMap = {
  buttons: { '1': 2, '2': 3, '3': 4, '4': 5, '5': 6 },
  invite: 7,
  leds: { '1': 8, '2': 9, '3': 10, '4': 11, '5': 12 },
  status: 13,
  buzzer: 14,
  pullup: false,
  display: null,
};

/** Self-test bitmap (EVENT 4 arg): bit n-1 = LED n, bit 5 status LED, bit 6 buzzer. */
export const SELF_TEST_BIT = { led: (level: number) => 1 << (level - 1), status: 1 << 5, buzzer: 1 << 6 } as const;

/** Patterns as (on ms, off ms) pairs. */
const BEEPS: Record<BeepPattern, number[]> = {
  press: [60],
  prompt: [120, 80, 120],
  refuse: [300],
  fault: [80, 80, 80, 80, 80],
};

/** A pin map entry as the IO's pin: a number is a digital pin, "A0" the first analog pin. */
function digitalPin(io: { analogPins: number[] }, pin: number | string): number | string {
  const analog = typeof pin === 'string' ? /^A(\d+)$/.exec(pin) : null;
  return analog ? (io.analogPins[Number(analog[1])] ?? pin) : pin;
}

type BuzzerThis = { io: { digitalWrite(pin: unknown, v: number): void }; pin: unknown; timer?: NodeJS.Timeout };

/**
 * johnny-five's default Piezo controller toggles the pin in software at the tone's
 * frequency; an evaluator's active buzzer only needs switching, so it gets its own controller.
 * It drives the pin map's pin itself: on a Firmata board johnny-five renames a component's
 * numeric pin 14..19 of an Uno to A0..A5 and then to the analog channel 0..5, so the Piezo's
 * own `this.pin` for digital pin 14 is 0 (RX, which StandardFirmata ignores). Led and Button
 * keep the digital number; so does this.
 */
function activeBuzzer(pin: number | string) {
  return {
    initialize: {
      value(this: { io: { pinMode(pin: unknown, mode: number): void; MODES: { OUTPUT: number }; analogPins: number[] }; pin: unknown }) {
        this.pin = digitalPin(this.io, pin);
        this.io.pinMode(this.pin, this.io.MODES.OUTPUT);
      },
    },
    tone: {
      value(this: BuzzerThis, _tone: number, duration: number) {
        clearTimeout(this.timer);
        this.io.digitalWrite(this.pin, 1);
        this.timer = setTimeout(() => this.io.digitalWrite(this.pin, 0), duration);
        return this;
      },
    },
    noTone: {
      value(this: BuzzerThis) {
        clearTimeout(this.timer);
        this.io.digitalWrite(this.pin, 0);
        return this;
      },
    },
  };
}

type ButtonThis = { io: { pinMode(pin: unknown, mode: number): void; digitalRead(pin: unknown, handler: (value: number) => void): void; MODES: { PULLUP?: number }; analogPins: number[] }; pin: unknown };

/**
 * A button to ground on the board's internal pull-up, set the Firmata 2.5 way: one
 * SET_PIN_MODE PULLUP. johnny-five's default controller sets INPUT, which turns the pull-up
 * off, then writes a 1 to turn it on again; between the two messages the pin reads low, and if
 * the second is late by more than johnny-five's 7 ms debounce, that is a press nobody made.
 * Used on IO plugins that have the mode (Firmata); SimIO keeps johnny-five's own.
 */
const PULLUP_BUTTON = {
  initialize: {
    value(this: ButtonThis, options: { pinValue: number | string }, callback: (value: number) => void) {
      const pin = (this.pin = digitalPin(this.io, options.pinValue));
      this.io.pinMode(pin, this.io.MODES.PULLUP!);
      // Reporting starts once every button of the evaluator has its mode: firmata-io takes a
      // port report for every pin it was told is an input, and a board that has not yet
      // switched a pin reports it as 0, a press on a pulled-up button.
      let last = 1;
      process.nextTick(() =>
        this.io.digitalRead(pin, (value) => {
          if (value === last) return; // a port report repeats every input of the port
          last = value;
          callback(value);
        }),
      );
    },
  },
  toBoolean: {
    value(this: { downValue: number }, raw: number) {
      return raw === this.downValue;
    },
  },
};

const LEVELS = ['1', '2', '3', '4', '5'] as const;

/** Waits for a johnny-five board to be ready; rejects on its error or after `timeoutMs`. */
export function boardReady(board: five.Board, timeoutMs = 15_000): Promise<void> {
  const emitter = board as unknown as NodeJS.EventEmitter; // johnny-five's Board is an EventEmitter; its typings omit `once`
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`board not ready after ${timeoutMs} ms`)), timeoutMs);
    emitter.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
    emitter.once('error', (error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * The part of firmata-io's `Firmata` class used here (the package ships no types). It is the
 * IO plugin johnny-five itself builds for `--port`; built here on the project's serialport 13
 * instead, because johnny-five's own path requires serialport 8 and its native binding.
 */
interface FirmataIO {
  readonly version: { major?: number; minor?: number };
  readonly firmware: { name?: string; version?: { major: number; minor: number } };
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'close' | 'disconnect', listener: () => void): this;
}
type FirmataConstructor = new (transport: SerialPort, options: { reportVersionTimeout: number }) => FirmataIO;
const { Firmata } = createRequire(import.meta.url)('firmata-io') as { Firmata: FirmataConstructor };

export interface FirmataConnectOptions {
  /** The board's serial port (`/dev/ttyACM0`, `/dev/ttyUSB0`). Required. */
  path: string;
  /** Baud rate. Default 57600, what StandardFirmata's `Firmata.begin(57600)` uses. */
  baudRate?: number;
  /**
   * How long to wait for the board to announce itself before asking it, ms. An Uno resets
   * when the port opens (DTR) and announces its version about 2 s later; a board without that
   * auto-reset never announces and answers when asked. Default 5000 (firmata-io's).
   */
  versionTimeoutMs?: number;
  /** How long the port may take to open and the board to answer every query, ms. Default 15000. */
  readyTimeoutMs?: number;
}

const FIRMATA_DEFAULTS = { baudRate: 57_600, versionTimeoutMs: 5_000, readyTimeoutMs: 15_000 } satisfies Partial<FirmataConnectOptions>;

/** A johnny-five board on StandardFirmata over a serial port. */
export interface FirmataConnection {
  readonly board: five.Board;
  /**
   * Resolves once johnny-five's board is ready (version, firmware, capabilities and analog
   * mapping answered) with what the board reported; rejects when the port does not open or the
   * board does not answer within `readyTimeoutMs`, and the port is closed.
   */
  readonly ready: Promise<{ firmware: string; version: string }>;
  /** Resolves when the board is lost after it was ready (unplugged, port error): the buttons are dead. */
  readonly lost: Promise<Error>;
  /** Sends what is still queued, then closes the port. */
  close(): Promise<void>;
}

/**
 * Connects to an evaluator board running StandardFirmata: serialport 13 → firmata-io →
 * johnny-five. The Firmata IO and the Board are built before the port opens, so johnny-five
 * sees the IO's 'connect' (the port's 'open') and then 'ready', in the order it requires.
 * johnny-five's own `--port` path (`new Board({ port })`) is never taken: it requires the
 * serialport 8 API, which this project does not install.
 */
export function connectFirmata(options: FirmataConnectOptions): FirmataConnection {
  if (typeof options?.path !== 'string' || options.path === '') throw new TypeError('options.path must be the board\'s serial port path');
  const o = { ...FIRMATA_DEFAULTS, ...options };
  const port = new SerialPort({ path: o.path, baudRate: o.baudRate, autoOpen: false });
  const io = new Firmata(port, { reportVersionTimeout: o.versionTimeoutMs });
  const board = new five.Board({ io, repl: false, debug: false, sigint: false } as unknown as five.BoardOption);
  const events = board as unknown as NodeJS.EventEmitter & { timer: NodeJS.Timeout | null }; // typings omit these
  let state: 'connecting' | 'ready' | 'failed' | 'closing' = 'connecting';
  let lose!: (error: Error) => void;
  const lost = new Promise<Error>((resolve) => (lose = resolve));
  let abort = (_error: Error) => {};
  const close = async () => {
    if (state === 'connecting') abort(new Error('the connection was closed before the board was ready'));
    state = 'closing';
    if (events.timer) clearTimeout(events.timer); // johnny-five's own 10 s connect deadline
    if (!port.isOpen) return;
    await new Promise<void>((resolve) => port.drain(() => resolve()));
    await new Promise<void>((resolve) => port.close(() => resolve()));
  };
  const ready = new Promise<{ firmware: string; version: string }>((resolve, reject) => {
    const fail = (error: Error) => {
      if (state !== 'connecting') return;
      state = 'failed';
      clearTimeout(timer);
      void close().finally(() => reject(new Error(`no StandardFirmata board on ${o.path}: ${error.message}`)));
    };
    abort = fail;
    const timer = setTimeout(() => fail(new Error(`it did not answer within ${o.readyTimeoutMs} ms`)), o.readyTimeoutMs);
    port.open((error) => {
      if (error) fail(new Error(`cannot open the port: ${error.message}`));
      else if (state !== 'connecting') port.close(); // closed (or given up) while it was opening
    });
    events.once('ready', () => {
      if (state !== 'connecting') return;
      state = 'ready';
      clearTimeout(timer);
      const { version: v, firmware: f } = io;
      resolve({ firmware: `${f.name ?? 'unknown'}${f.version ? ` ${f.version.major}.${f.version.minor}` : ''}`, version: `${v.major ?? '?'}.${v.minor ?? '?'}` });
    });
    // Errors come from firmata-io before johnny-five is ready (it forwards them only after)
    // and from johnny-five's connect deadline; an 'error' nobody listens to ends the process.
    const onError = (error: Error) => (state === 'ready' ? lose(error) : fail(error));
    io.on('error', onError);
    events.on('error', onError);
    const gone = () => state === 'ready' && lose(new Error(`the board on ${o.path} closed its port`));
    io.on('close', gone);
    io.on('disconnect', gone);
  });
  return { board, ready, lost, close };
}

export class JohnnyFiveHardware implements EvaluatorHardware {
  private readonly buttons: { id: ButtonId; button: five.Button }[] = [];
  private readonly leds = new Map<LedId, five.Led>();
  private readonly piezo: five.Piezo | undefined;
  private readonly lcd: five.LCD | undefined;
  private readonly listeners: ((button: ButtonId, down: boolean) => void)[] = [];
  private beepTimer: NodeJS.Timeout | undefined;
  /** What the outputs show now, for the terminal view of a simulated board. */
  readonly view = { leds: new Map<LedId, LedMode>(), lines: ['', ''] as [string, string], lastBeep: '' as BeepPattern | '', spoken: '' };

  constructor(
    private readonly board: five.Board,
    private readonly pins: PinMap,
  ) {
    const pullup = pins.pullup ?? false;
    const pullupMode = (board.io as unknown as { MODES: { PULLUP?: number } }).MODES.PULLUP !== undefined;
    const buttonOptions = (pin: number | string) => ({ pin, board, isPullup: pullup, holdtime: pins.holdtime ?? 500, ...(pullup && pullupMode ? { controller: PULLUP_BUTTON } : {}) });
    for (const level of LEVELS) {
      this.buttons.push({ id: Number(level) as 1 | 2 | 3 | 4 | 5, button: new five.Button(buttonOptions(pins.buttons[level])) });
      this.leds.set(Number(level) as 1 | 2 | 3 | 4 | 5, new five.Led({ pin: pins.leds[level], board }));
    }
    if (pins.invite !== null) this.buttons.push({ id: 'invite', button: new five.Button(buttonOptions(pins.invite)) });
    this.leds.set('status', new five.Led({ pin: pins.status, board }));
    if (pins.buzzer !== null) {
      this.piezo = new five.Piezo({ pin: pins.buzzer, board, controller: activeBuzzer(pins.buzzer) } as unknown as five.PiezoOption);
    }
    if (pins.display) this.lcd = new five.LCD({ controller: pins.display.controller, rows: pins.display.rows, cols: pins.display.cols, board } as five.LCDI2COption);
    for (const { id, button } of this.buttons) {
      button.on('down', () => this.listeners.forEach((l) => l(id, true)));
      button.on('up', () => this.listeners.forEach((l) => l(id, false)));
    }
  }

  onButton(listener: (button: ButtonId, down: boolean) => void): void {
    this.listeners.push(listener);
  }

  setLed(id: LedId, mode: LedMode): void {
    const led = this.leds.get(id);
    if (!led || this.view.leds.get(id) === mode) return;
    this.view.leds.set(id, mode);
    led.stop();
    if (mode === 'on') led.on();
    else if (mode === 'off') led.off();
    else led.blink(mode === 'blink' ? 500 : 150);
  }

  beep(pattern: BeepPattern): void {
    this.view.lastBeep = pattern;
    if (!this.piezo) return;
    clearTimeout(this.beepTimer);
    const steps = BEEPS[pattern];
    let i = 0;
    const next = () => {
      const on = steps[i];
      if (on === undefined || !this.piezo) return;
      this.piezo.frequency(2000, on);
      i += 2;
      const off = steps[i - 1] ?? 0;
      this.beepTimer = setTimeout(next, on + off);
    };
    next();
  }

  show(lines: [string, string]): void {
    this.view.lines = lines;
    if (!this.lcd) return;
    this.lcd.clear();
    this.lcd.cursor(0, 0).print(lines[0]);
    this.lcd.cursor(1, 0).print(lines[1]);
  }

  say(text: string): void {
    // Voice modules on evaluators play stored phrases; the phrase text is what the view shows.
    this.view.spoken = text;
  }

  async selfTest(): Promise<number> {
    let failed = 0;
    const io = this.board.io as unknown as { pins: { value: number }[] };
    const check = (pin: number | string, bit: number) => {
      // A pin that does not hold what was written is broken (readback of the IO state).
      if (typeof pin === 'number' && io.pins[pin] && io.pins[pin].value === 0) failed |= bit;
    };
    const saved = new Map(this.view.leds);
    for (const level of LEVELS) {
      const led = this.leds.get(Number(level) as 1 | 2 | 3 | 4 | 5)!;
      led.stop();
      led.on();
      check(this.pins.leds[level], SELF_TEST_BIT.led(Number(level)));
      await new Promise((r) => setTimeout(r, 150));
      led.off();
    }
    const status = this.leds.get('status')!;
    status.stop();
    status.on();
    check(this.pins.status, SELF_TEST_BIT.status);
    if (this.piezo && this.pins.buzzer !== null) {
      this.piezo.frequency(2000, 300);
      check(this.pins.buzzer, SELF_TEST_BIT.buzzer);
    }
    await new Promise((r) => setTimeout(r, 300));
    this.view.leds.clear();
    for (const [id, mode] of saved) this.setLed(id, mode);
    return failed;
  }

  close(): void {
    clearTimeout(this.beepTimer);
    for (const led of this.leds.values()) led.stop().off();
    this.piezo?.off();
  }
}
