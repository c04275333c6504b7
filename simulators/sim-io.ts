/**
 * A johnny-five IO plugin with no hardware behind it (rwaldron/io-plugins): the evaluator's
 * firmware runs on it unchanged while a test or a person drives the input pins and watches
 * the outputs. It keeps the plugin contract: `connect` and `ready` are emitted asynchronously,
 * `isReady` flips with `ready`, and `digitalRead` handlers are called on every change.
 */
import { EventEmitter } from 'node:events';

export interface SimPin {
  supportedModes: number[];
  mode: number;
  value: number;
  report: number;
  analogChannel: number;
}

export interface SimIOOptions {
  /** Digital pins on the simulated board. Default 20. */
  pinCount?: number;
  /** Output pins that are broken: writes to them do not take (for self-test tests). */
  brokenPins?: number[];
}

export interface SimIOEvents {
  connect: [];
  ready: [];
  /** An output pin changed (LED, buzzer): pin, value 0/1 or 0..255 for PWM. */
  write: [pin: number, value: number];
}

const MODES = Object.freeze({ INPUT: 0, OUTPUT: 1, ANALOG: 2, PWM: 3, SERVO: 4 });

export class SimIO extends EventEmitter<SimIOEvents> {
  readonly MODES = MODES;
  readonly HIGH = 1;
  readonly LOW = 0;
  readonly name = 'SimIO';
  readonly defaultLed = 13;
  readonly analogPins: number[] = [];
  readonly pins: SimPin[];
  readonly RESOLUTION = { ADC: 1023, DAC: null, PWM: 255 };
  isReady = false;
  private readonly readers = new Map<number, ((value: number) => void)[]>();
  private readonly broken: Set<number>;

  constructor(options: SimIOOptions = {}) {
    super();
    const count = options.pinCount ?? 20;
    this.broken = new Set(options.brokenPins ?? []);
    this.pins = Array.from({ length: count }, () => ({
      supportedModes: [MODES.INPUT, MODES.OUTPUT, MODES.PWM],
      mode: MODES.OUTPUT,
      value: 0,
      report: 1,
      analogChannel: 127,
    }));
    setImmediate(() => {
      this.emit('connect');
      this.isReady = true;
      this.emit('ready');
    });
  }

  pinMode(pin: number, mode: number): this {
    this.pin(pin).mode = mode;
    return this;
  }

  digitalWrite(pin: number, value: number): this {
    const p = this.pin(pin);
    if (p.mode === MODES.INPUT) return this; // a pull-up request on an input: nothing to simulate
    if (this.broken.has(pin)) return this;
    const v = value ? 1 : 0;
    if (p.value !== v) {
      p.value = v;
      this.emit('write', pin, v);
    }
    return this;
  }

  analogWrite(pin: number, value: number): this {
    const p = this.pin(pin);
    if (this.broken.has(pin)) return this;
    if (p.value !== value) {
      p.value = value;
      this.emit('write', pin, value);
    }
    return this;
  }

  pwmWrite(pin: number, value: number): this {
    return this.analogWrite(pin, value);
  }

  digitalRead(pin: number, handler: (value: number) => void): this {
    const list = this.readers.get(pin) ?? [];
    list.push(handler);
    this.readers.set(pin, list);
    return this;
  }

  // Firmata methods johnny-five may call; nothing to do without hardware.
  reportDigitalPin(): this {
    return this;
  }
  setSamplingInterval(): this {
    return this;
  }
  queryPinState(_pin: number, callback?: () => void): this {
    if (callback) setImmediate(callback);
    return this;
  }
  reset(): this {
    return this;
  }

  // ---- the simulation side ----
  /** Drives an input pin to 0 or 1, as a button contact does. */
  setInput(pin: number, value: 0 | 1): void {
    const p = this.pin(pin);
    p.value = value;
    for (const handler of this.readers.get(pin) ?? []) handler(value);
  }

  /** Current level of a pin (for tests and the terminal view). */
  read(pin: number): number {
    return this.pin(pin).value;
  }

  private pin(pin: number): SimPin {
    const p = this.pins[pin];
    if (!p) throw new RangeError(`pin ${pin} is not on this board (0..${this.pins.length - 1})`);
    return p;
  }
}
