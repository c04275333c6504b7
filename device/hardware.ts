/**
 * The evaluator's hardware edge: buttons, LEDs, buzzer and display through johnny-five, on
 * any IO plugin (Firmata over the board's UART on a real evaluator, `SimIO` in simulation).
 * The firmware core never sees johnny-five; it sees `EvaluatorHardware`.
 */
import five from 'johnny-five';
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

/**
 * johnny-five's default Piezo controller toggles the pin in software at the tone's
 * frequency; an evaluator's active buzzer only needs switching, so it gets its own controller.
 */
const ACTIVE_BUZZER = {
  initialize: {
    value(this: { io: { pinMode(pin: unknown, mode: number): void; MODES: { OUTPUT: number } }; pin: unknown }) {
      this.io.pinMode(this.pin, this.io.MODES.OUTPUT);
    },
  },
  tone: {
    value(this: { io: { digitalWrite(pin: unknown, v: number): void }; pin: unknown; timer?: NodeJS.Timeout }, _tone: number, duration: number) {
      clearTimeout(this.timer);
      this.io.digitalWrite(this.pin, 1);
      this.timer = setTimeout(() => this.io.digitalWrite(this.pin, 0), duration);
      return this;
    },
  },
  noTone: {
    value(this: { io: { digitalWrite(pin: unknown, v: number): void }; pin: unknown; timer?: NodeJS.Timeout }) {
      clearTimeout(this.timer);
      this.io.digitalWrite(this.pin, 0);
      return this;
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
    const buttonOptions = (pin: number | string) => ({ pin, board, isPullup: pins.pullup ?? false, holdtime: pins.holdtime ?? 500 });
    for (const level of LEVELS) {
      this.buttons.push({ id: Number(level) as 1 | 2 | 3 | 4 | 5, button: new five.Button(buttonOptions(pins.buttons[level])) });
      this.leds.set(Number(level) as 1 | 2 | 3 | 4 | 5, new five.Led({ pin: pins.leds[level], board }));
    }
    if (pins.invite !== null) this.buttons.push({ id: 'invite', button: new five.Button(buttonOptions(pins.invite)) });
    this.leds.set('status', new five.Led({ pin: pins.status, board }));
    if (pins.buzzer !== null) {
      this.piezo = new five.Piezo({ pin: pins.buzzer, board, controller: ACTIVE_BUZZER } as unknown as five.PiezoOption);
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
