/**
 * An Arduino Uno running StandardFirmata 2.5, emulated at the protocol level over any byte
 * transport (a socat pty in tests and by hand): the real firmware's johnny-five / firmata-io
 * stack talks to it exactly as to a board, while a test or a person presses its buttons and
 * watches its outputs. What it does is what StandardFirmata.ino (firmata/arduino 2.5.x) does;
 * the references below are to its callbacks.
 *
 *   host → board                     | board → host
 *   ---------------------------------+--------------------------------------------------------
 *   F9                REPORT_VERSION | F9 02 05 (protocol 2.5)
 *   F0 79 F7          firmware query | F0 79 02 05 <name, 2 bytes a char> F7 "StandardFirmata.ino"
 *   F0 6B F7          CAPABILITY     | F0 6C { (mode, resolution)* 7F } per pin F7
 *   F0 69 F7          ANALOG_MAPPING | F0 6A <channel or 7F per pin> F7
 *   F0 6D pin F7      PIN_STATE      | F0 6E pin mode state(7 bits)… F7
 *   F4 pin mode       SET_PIN_MODE   | an unknown mode: F0 71 "Unknown pin mode" F7
 *   D0|port on/off    REPORT_DIGITAL | 90|port lsb msb now if on, then on every change
 *   C0|ch on/off      REPORT_ANALOG  | E0|ch lsb msb now if on, then every sampling interval
 *   90|port lsb msb   port write     | (OUTPUT pins driven; INPUT pins with 1: pull-up on)
 *   F5 pin value      SET_DIGITAL_PIN_VALUE (OUTPUT pins only)
 *   E0|pin lsb msb    ANALOG_MESSAGE (PWM duty, servo angle)
 *   F0 6F pin v… F7   EXTENDED_ANALOG
 *   F0 7A lsb msb F7  SAMPLING_INTERVAL
 *   FF                SYSTEM_RESET   | (pins back to their power-on modes, reporting off)
 *
 * At power-on and after `reset()` (the reset button, or an Uno's auto-reset when the host
 * opens its port) the board announces its version and firmware unasked, as `Firmata.begin`.
 */
import { EventEmitter } from 'node:events';
import type { ByteTransport } from '../device/transport.js';

/** Firmata pin modes (FirmataConstants.h). */
export const PinMode = Object.freeze({ INPUT: 0x00, OUTPUT: 0x01, ANALOG: 0x02, PWM: 0x03, SERVO: 0x04, I2C: 0x06, PULLUP: 0x0b });
const MODE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(PinMode).map(([name, mode]) => [mode, name]));

/** A mode's name for people (`PWM`, `PULLUP`), or its number in hex. */
export function pinModeName(mode: number): string {
  return MODE_NAMES[mode] ?? `0x${mode.toString(16).padStart(2, '0')}`;
}

const CMD = {
  DIGITAL_MESSAGE: 0x90,
  ANALOG_MESSAGE: 0xe0,
  REPORT_ANALOG: 0xc0,
  REPORT_DIGITAL: 0xd0,
  SET_PIN_MODE: 0xf4,
  SET_DIGITAL_PIN_VALUE: 0xf5,
  REPORT_VERSION: 0xf9,
  SYSTEM_RESET: 0xff,
  START_SYSEX: 0xf0,
  END_SYSEX: 0xf7,
} as const;

const SYSEX = {
  ANALOG_MAPPING_QUERY: 0x69,
  ANALOG_MAPPING_RESPONSE: 0x6a,
  CAPABILITY_QUERY: 0x6b,
  CAPABILITY_RESPONSE: 0x6c,
  PIN_STATE_QUERY: 0x6d,
  PIN_STATE_RESPONSE: 0x6e,
  EXTENDED_ANALOG: 0x6f,
  SERVO_CONFIG: 0x70,
  STRING_DATA: 0x71,
  REPORT_FIRMWARE: 0x79,
  SAMPLING_INTERVAL: 0x7a,
} as const;

/** FirmataConstants.h: the protocol the host is told (REPORT_VERSION) and the firmware's own version. */
const PROTOCOL_VERSION = [2, 5] as const;
const FIRMWARE_VERSION = [2, 5] as const;
/** FirmataParser's MAX_DATA_BYTES: a longer sysex message is dropped. */
const MAX_SYSEX_BYTES = 64;
/** StandardFirmata's MINIMUM_SAMPLING_INTERVAL and its default, ms. */
const MIN_SAMPLING_MS = 1;
const DEFAULT_SAMPLING_MS = 19;

/** What one pin can do: (mode, resolution in bits) pairs, in capability-response order. */
export type PinCapabilities = readonly (readonly [mode: number, resolution: number])[];

export interface BoardLayout {
  /** A name for people. */
  name: string;
  /** Capabilities of each pin, by pin number; an empty list for pins Firmata leaves alone (RX/TX). */
  pins: readonly PinCapabilities[];
  /** Analog channel of each pin, 127 for none (the analog mapping response). */
  analogChannels: readonly number[];
}

/**
 * An Arduino Uno (ATmega328P) as StandardFirmata describes it (Boards.h): 20 pins, D0/D1 the
 * UART (no modes), D2–D19 digital (input, pull-up, output, servo), D3/5/6/9/10/11 8-bit PWM,
 * D14–D19 = A0–A5 10-bit analog, D18/D19 I2C (SDA/SCL).
 */
export const ARDUINO_UNO: BoardLayout = (() => {
  const pwm = new Set([3, 5, 6, 9, 10, 11]);
  const pins: PinCapabilities[] = [];
  const analogChannels: number[] = [];
  for (let pin = 0; pin < 20; pin++) {
    const caps: (readonly [number, number])[] = [];
    const digital = pin >= 2;
    const analog = pin >= 14;
    if (digital) caps.push([PinMode.INPUT, 1], [PinMode.PULLUP, 1], [PinMode.OUTPUT, 1]);
    if (analog) caps.push([PinMode.ANALOG, 10]);
    if (pwm.has(pin)) caps.push([PinMode.PWM, 8]);
    if (digital) caps.push([PinMode.SERVO, 14]);
    if (pin === 18 || pin === 19) caps.push([PinMode.I2C, 1]);
    pins.push(caps);
    analogChannels.push(analog ? pin - 14 : 127);
  }
  return { name: 'Arduino Uno', pins, analogChannels };
})();

/** Queries the board answers, as its events name them. */
export type FirmataQuery = 'version' | 'firmware' | 'capabilities' | 'analog-mapping' | 'pin-state';

export interface FirmataBoardEvents {
  /** An output changed: 0/1 on an OUTPUT pin (an LED, the buzzer), the duty 0..255 on a PWM pin, the angle on a servo. */
  output: [pin: number, value: number, mode: number];
  /** The host set a pin's mode. */
  mode: [pin: number, mode: number];
  /** The board answered a query. */
  query: [query: FirmataQuery];
  /** The board announced itself (power-on, reset). */
  announce: [];
  /** Something StandardFirmata would ignore or refuse (an unknown mode, I2C with nothing on the bus). */
  ignored: [what: string];
}

export interface FirmataBoardOptions {
  /** The board's pins. Default `ARDUINO_UNO`. */
  layout?: BoardLayout;
  /** The firmware name reported. Default "StandardFirmata.ino" (StandardFirmata's `__FILE__`). */
  firmwareName?: string;
}

const DEFAULTS: Required<FirmataBoardOptions> = { layout: ARDUINO_UNO, firmwareName: 'StandardFirmata.ino' };

interface Pin {
  mode: number;
  /** Firmata's pin state: the value written to an output; for an input, whether its pull-up is on. */
  state: number;
  /** What an output pin drives: 0/1, or the PWM duty. */
  out: number;
  /** The internal pull-up resistor is on (mode PULLUP, or a 1 written to an INPUT pin). */
  pullup: boolean;
  /** A button on this pin is held (its contact closed). */
  pressed: boolean;
  /** What an analog input reads, 0..1023. */
  analog: number;
}

export class FirmataBoard extends EventEmitter<FirmataBoardEvents> {
  readonly layout: BoardLayout;
  private readonly firmwareName: string;
  private readonly pins: Pin[];
  private readonly portCount: number;
  private readonly reportPorts: boolean[];
  private readonly lastReported: number[];
  private analogReports = new Set<number>();
  private samplingMs = DEFAULT_SAMPLING_MS;
  private sampler: NodeJS.Timeout | undefined;
  // parser (FirmataParser): a command waiting for its data bytes, or a sysex being collected
  private command = 0;
  private needed = 0;
  private data: number[] = [];
  private sysex: number[] | undefined;
  private closed = false;

  constructor(
    private readonly transport: ByteTransport,
    options: FirmataBoardOptions = {},
  ) {
    super();
    const o = { ...DEFAULTS, ...options };
    this.layout = o.layout;
    this.firmwareName = o.firmwareName;
    this.pins = o.layout.pins.map(() => ({ mode: PinMode.OUTPUT, state: 0, out: 0, pullup: false, pressed: false, analog: 0 }));
    this.portCount = Math.ceil(this.pins.length / 8);
    this.reportPorts = Array.from({ length: this.portCount }, () => false);
    this.lastReported = Array.from({ length: this.portCount }, () => 0);
    // StandardFirmata's loop(): check the inputs, then handle every byte that has arrived
    transport.on('data', (chunk) => {
      for (const byte of chunk) this.parse(byte);
      this.checkDigitalInputs();
    });
    this.systemReset();
  }

  /**
   * Opens the transport and powers the board on: it announces itself. With `announce: false`
   * the board has been running since before the host's cable was there: what it announced at
   * power-on went to nobody, and it speaks when spoken to.
   */
  async open(options: { announce?: boolean } = {}): Promise<void> {
    await this.transport.open();
    if (options.announce ?? true) this.announce();
  }

  /** The reset button (or an Uno's auto-reset on DTR): every pin back to power-on, then the announcement. */
  reset(): void {
    this.systemReset();
    this.announce();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sampler);
    await this.transport.close();
  }

  // ---- the hardware side: buttons and outputs ----

  /**
   * Closes the contact of a button on `pin`. A button on a pulled-up input is wired to ground
   * (pressed reads 0); on a plain input it has its own pull-down and switches to 5 V (pressed
   * reads 1), as an evaluator's keypad is wired for `pullup: false`.
   */
  press(pin: number): void {
    this.pin(pin).pressed = true;
    this.checkDigitalInputs();
  }

  /** Opens the contact of the button on `pin` again. */
  release(pin: number): void {
    this.pin(pin).pressed = false;
    this.checkDigitalInputs();
  }

  /** What the pin is at now: the level an input reads, or what an output is driven to (0..255 for PWM). */
  pinValue(pin: number): number {
    const p = this.pin(pin);
    return isInput(p.mode) ? this.level(p) : isOutput(p.mode) ? p.out : 0;
  }

  /** The mode the host set the pin to (`PinMode`). */
  modeOf(pin: number): number {
    return this.pin(pin).mode;
  }

  /** Sets what an analog input reads (0..1023). */
  setAnalog(pin: number, value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 1023) throw new TypeError(`value must be an integer 0..1023, got ${value}`);
    this.pin(pin).analog = value;
  }

  // ---- the protocol side ----

  private parse(byte: number): void {
    if (this.sysex) {
      if (byte === CMD.END_SYSEX) {
        const message = this.sysex;
        this.sysex = undefined;
        if (message.length <= MAX_SYSEX_BYTES) this.onSysex(message);
        else this.emit('ignored', `a sysex message of more than ${MAX_SYSEX_BYTES} bytes`);
      } else if (this.sysex.length <= MAX_SYSEX_BYTES) this.sysex.push(byte); // one past the limit marks it too long
      return;
    }
    if (byte < 0x80) {
      if (this.needed === 0) return; // a data byte with no command: FirmataParser drops it
      this.data.push(byte);
      if (this.data.length === this.needed) {
        this.needed = 0;
        this.onCommand(this.command, this.data);
      }
      return;
    }
    // a command byte, even in the middle of another command's data, starts a new command
    this.data = [];
    this.needed = 0;
    const high = byte < 0xf0 ? byte & 0xf0 : byte;
    switch (high) {
      case CMD.DIGITAL_MESSAGE:
      case CMD.ANALOG_MESSAGE:
      case CMD.SET_PIN_MODE:
      case CMD.SET_DIGITAL_PIN_VALUE:
        this.command = byte;
        this.needed = 2;
        return;
      case CMD.REPORT_ANALOG:
      case CMD.REPORT_DIGITAL:
        this.command = byte;
        this.needed = 1;
        return;
      case CMD.START_SYSEX:
        this.sysex = [];
        return;
      case CMD.REPORT_VERSION:
        this.sendVersion();
        this.emit('query', 'version');
        return;
      case CMD.SYSTEM_RESET:
        this.systemReset();
        return;
      default:
        this.emit('ignored', `command 0x${byte.toString(16)}`);
    }
  }

  private onCommand(command: number, data: number[]): void {
    const [a = 0, b = 0] = data;
    const low = command & 0x0f;
    switch (command < 0xf0 ? command & 0xf0 : command) {
      case CMD.DIGITAL_MESSAGE:
        this.digitalWrite(low, a | (b << 7));
        break;
      case CMD.ANALOG_MESSAGE:
        this.analogWrite(low, a | (b << 7));
        break;
      case CMD.SET_PIN_MODE:
        this.setPinMode(a, b);
        break;
      case CMD.SET_DIGITAL_PIN_VALUE:
        this.setPinValue(a, b);
        break;
      case CMD.REPORT_DIGITAL:
        this.reportDigital(low, a);
        break;
      case CMD.REPORT_ANALOG:
        this.reportAnalog(low, a);
        break;
    }
  }

  private onSysex([command, ...args]: number[]): void {
    switch (command) {
      case SYSEX.REPORT_FIRMWARE:
        this.sendFirmware();
        this.emit('query', 'firmware');
        return;
      case SYSEX.CAPABILITY_QUERY: {
        const body = this.layout.pins.flatMap((caps) => [...caps.flatMap(([mode, resolution]) => [mode, resolution]), 0x7f]);
        this.sendSysex(SYSEX.CAPABILITY_RESPONSE, body);
        this.emit('query', 'capabilities');
        return;
      }
      case SYSEX.ANALOG_MAPPING_QUERY:
        this.sendSysex(SYSEX.ANALOG_MAPPING_RESPONSE, [...this.layout.analogChannels]);
        this.emit('query', 'analog-mapping');
        return;
      case SYSEX.PIN_STATE_QUERY: {
        const pin = args[0];
        if (pin === undefined) return;
        const p = this.pins[pin];
        const body = [pin];
        if (p) {
          body.push(p.mode, p.state & 0x7f);
          if (p.state & 0xff80) body.push((p.state >> 7) & 0x7f);
          if (p.state & 0xc000) body.push((p.state >> 14) & 0x7f);
        }
        this.sendSysex(SYSEX.PIN_STATE_RESPONSE, body);
        this.emit('query', 'pin-state');
        return;
      }
      case SYSEX.SAMPLING_INTERVAL:
        if (args.length > 1) this.samplingMs = Math.max(MIN_SAMPLING_MS, (args[0] ?? 0) | ((args[1] ?? 0) << 7));
        if (this.sampler) this.startSampling();
        return;
      case SYSEX.EXTENDED_ANALOG: {
        const [pin, ...bytes] = args;
        if (pin === undefined || bytes.length === 0) return;
        this.analogWrite(pin, bytes.slice(0, 3).reduce((value, byte, i) => value | (byte << (7 * i)), 0));
        return;
      }
      case SYSEX.SERVO_CONFIG:
      case SYSEX.STRING_DATA:
        return; // pulse widths of a servo; a string for the board: nothing to show
      default:
        this.emit('ignored', `sysex 0x${(command ?? 0).toString(16)}`);
    }
  }

  /** setPinModeCallback. */
  private setPinMode(pin: number, mode: number): void {
    const p = this.pins[pin];
    if (!p || !this.isDigital(pin)) return;
    const supported = (m: number) => this.layout.pins[pin]!.some(([cap]) => cap === m);
    if (this.isAnalog(pin)) this.reportAnalog(this.layout.analogChannels[pin]!, mode === PinMode.ANALOG ? 1 : 0);
    const before = { mode: p.mode, out: isOutput(p.mode) ? p.out : 0 };
    p.state = 0;
    switch (mode) {
      case PinMode.INPUT:
        p.pullup = false; // pinMode(INPUT) turns the pull-up off (Arduino 1.0.1 and later)
        break;
      case PinMode.PULLUP:
        p.pullup = true;
        p.state = 1;
        break;
      case PinMode.OUTPUT:
      case PinMode.ANALOG:
      case PinMode.PWM:
      case PinMode.SERVO:
      case PinMode.I2C:
        if (!supported(mode)) return;
        break;
      default:
        this.sendString('Unknown pin mode');
        this.emit('ignored', `pin ${pin}: unknown mode 0x${mode.toString(16)}`);
        return;
    }
    p.mode = mode;
    // What the pin drives now, as the AVR does it: pinMode(OUTPUT) keeps the port bit (so a
    // pulled-up input becomes a high output, an output stays as it was), PWM starts at 0
    // (analogWrite(0)), leaving PWM for OUTPUT writes LOW.
    if (mode === PinMode.OUTPUT) p.out = isInput(before.mode) ? (p.pullup ? 1 : 0) : before.mode === PinMode.OUTPUT ? p.out : 0;
    else if (isOutput(mode)) p.out = 0;
    if (mode !== PinMode.PULLUP) p.pullup = false;
    this.emit('mode', pin, mode);
    const out = isOutput(mode) ? p.out : 0;
    if (out !== before.out) this.emit('output', pin, out, mode);
  }

  /** digitalWriteCallback: one port, 8 pins at once; only OUTPUT pins are driven. */
  private digitalWrite(port: number, value: number): void {
    if (port >= this.portCount) return;
    for (let bit = 0; bit < 8; bit++) {
      const pin = port * 8 + bit;
      const p = this.pins[pin];
      if (!p || !this.isDigital(pin)) continue;
      const v = (value >> bit) & 1;
      if (p.mode === PinMode.OUTPUT) this.drive(pin, p, v);
      else if (p.mode === PinMode.INPUT) {
        // "only handle INPUT here for backwards compatibility": a 1 turns the pull-up on
        if (v === 1 && p.state !== 1) p.pullup = true;
        p.state = v;
      }
    }
  }

  /** setPinValueCallback: one OUTPUT pin. */
  private setPinValue(pin: number, value: number): void {
    const p = this.pins[pin];
    if (p && this.isDigital(pin) && p.mode === PinMode.OUTPUT) this.drive(pin, p, value ? 1 : 0);
  }

  /** analogWriteCallback: PWM duty or servo angle. */
  private analogWrite(pin: number, value: number): void {
    const p = this.pins[pin];
    if (p && (p.mode === PinMode.PWM || p.mode === PinMode.SERVO)) this.drive(pin, p, value);
  }

  private drive(pin: number, p: Pin, value: number): void {
    p.state = value;
    if (p.out === value) return;
    p.out = value;
    this.emit('output', pin, value, p.mode);
  }

  /** reportDigitalCallback: on sends the port at once, then on every change. */
  private reportDigital(port: number, on: number): void {
    if (port >= this.portCount) return;
    this.reportPorts[port] = on !== 0;
    if (on) this.outputPort(port, true);
  }

  /** reportAnalogCallback: on sends the value at once, then every sampling interval. */
  private reportAnalog(channel: number, on: number): void {
    const pin = this.layout.analogChannels.indexOf(channel);
    if (pin < 0) return;
    if (on) {
      this.analogReports.add(channel);
      this.sendAnalog(channel, this.pins[pin]!.analog);
    } else this.analogReports.delete(channel);
    if (this.analogReports.size > 0 && !this.sampler) this.startSampling();
    if (this.analogReports.size === 0) {
      clearInterval(this.sampler);
      this.sampler = undefined;
    }
  }

  private startSampling(): void {
    clearInterval(this.sampler);
    this.sampler = setInterval(() => {
      for (const channel of this.analogReports) {
        const pin = this.layout.analogChannels.indexOf(channel);
        if (this.pins[pin]?.mode === PinMode.ANALOG) this.sendAnalog(channel, this.pins[pin]!.analog);
      }
    }, this.samplingMs);
    this.sampler.unref();
  }

  /** checkDigitalInputs: every reported port whose inputs changed. */
  private checkDigitalInputs(): void {
    for (let port = 0; port < this.portCount; port++) if (this.reportPorts[port]) this.outputPort(port, false);
  }

  /** outputPort: the port's input pins only (others read 0), sent if changed or forced. */
  private outputPort(port: number, force: boolean): void {
    let value = 0;
    for (let bit = 0; bit < 8; bit++) {
      const p = this.pins[port * 8 + bit];
      if (p && this.isDigital(port * 8 + bit) && isInput(p.mode)) value |= this.level(p) << bit;
    }
    if (!force && value === this.lastReported[port]) return;
    this.lastReported[port] = value;
    this.send([CMD.DIGITAL_MESSAGE | port, value & 0x7f, (value >> 7) & 0x7f]);
  }

  /** systemResetCallback: analog pins ANALOG, the others OUTPUT, all reporting off. */
  private systemReset(): void {
    this.reportPorts.fill(false);
    this.lastReported.fill(0);
    this.analogReports.clear();
    clearInterval(this.sampler);
    this.sampler = undefined;
    this.pins.forEach((p, pin) => {
      const mode = this.isAnalog(pin) ? PinMode.ANALOG : PinMode.OUTPUT;
      // pins go back to power-on modes; what they drove is let go, as a reset does
      if (isOutput(p.mode) && p.out !== 0) this.emit('output', pin, 0, mode);
      Object.assign(p, { mode, state: 0, out: 0, pullup: false });
    });
  }

  private announce(): void {
    this.sendVersion();
    this.sendFirmware();
    this.emit('announce');
  }

  private level(p: Pin): number {
    return p.pullup ? (p.pressed ? 0 : 1) : p.pressed ? 1 : 0;
  }

  private isDigital(pin: number): boolean {
    return (this.layout.pins[pin] ?? []).some(([mode]) => mode === PinMode.OUTPUT || mode === PinMode.INPUT);
  }

  private isAnalog(pin: number): boolean {
    return (this.layout.analogChannels[pin] ?? 127) !== 127;
  }

  private pin(pin: number): Pin {
    const p = this.pins[pin];
    if (!Number.isInteger(pin) || !p) throw new RangeError(`pin ${pin} is not on this board (0..${this.pins.length - 1})`);
    return p;
  }

  private sendVersion(): void {
    this.send([CMD.REPORT_VERSION, ...PROTOCOL_VERSION]);
  }

  private sendFirmware(): void {
    this.sendSysex(SYSEX.REPORT_FIRMWARE, [...FIRMWARE_VERSION, ...sevenBit(this.firmwareName)]);
  }

  private sendString(text: string): void {
    this.sendSysex(SYSEX.STRING_DATA, sevenBit(text));
  }

  private sendAnalog(channel: number, value: number): void {
    this.send([CMD.ANALOG_MESSAGE | (channel & 0x0f), value & 0x7f, (value >> 7) & 0x7f]);
  }

  private sendSysex(command: number, body: number[]): void {
    this.send([CMD.START_SYSEX, command, ...body, CMD.END_SYSEX]);
  }

  private send(bytes: number[]): void {
    if (this.closed) return;
    // A board's UART transmits whether anyone listens: a write that fails (the host's end of
    // the pty went away) is lost, as the bytes of an unplugged board are.
    this.transport.write(Uint8Array.from(bytes)).catch(() => {});
  }
}

const isInput = (mode: number) => mode === PinMode.INPUT || mode === PinMode.PULLUP;
const isOutput = (mode: number) => mode === PinMode.OUTPUT || mode === PinMode.PWM || mode === PinMode.SERVO;

/** Firmata's two-bytes-a-character encoding of text (bits 0–6, then bit 7). */
function sevenBit(text: string): number[] {
  return [...Buffer.from(text, 'latin1')].flatMap((byte) => [byte & 0x7f, (byte >> 7) & 0x7f]);
}
