/**
 * `npm run board -- [--port PATH] [--pins FILE.json]`: an emulated evaluator board (an Arduino
 * Uno running StandardFirmata 2.5) for `npm run device -- --board firmata`.
 *
 * Without `--port` it makes a socat pty pair and prints the end to give the device as
 * `--board-port`; with `--port` it serves one end of a pair you made
 * (`socat -d -d pty,raw,echo=0 pty,raw,echo=0`). It prints every LED and buzzer change and
 * what the host asks; keys 1-5 press the evaluator's buttons (5 = 非常满意), i the invite key,
 * r resets the board, q quits. Without a terminal, stdin takes lines: `press B [MS]`, `down B`,
 * `up B` (B = 1..5, i, or D<pin>), `reset`, `quit`.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SIM_PIN_MAP, type PinMap } from '../device/hardware.js';
import { serialTransport } from '../device/transport.js';
import { ARDUINO_UNO, FirmataBoard, PinMode, pinModeName } from './firmata-board.js';
import { ptyPair, type PtyPair } from './pty.js';
import { quitting, readCommands, runProgram, say, UsageError } from './terminal.js';

const USAGE = `usage: npm run board -- [--port PATH] [--pins FILE.json] [--baud N]

  --port   the board's end of a pty pair (default: make a pair and print the device's end)
  --pins   the evaluator's pin map as JSON, as given to npm run device (default: its default)
  --baud   baud rate (default 57600, StandardFirmata's)

keys: 1-5 press a button, i the invite key, r reset, q quit
stdin lines: press B [MS] | down B | up B | reset | quit    (B = 1..5, i, or D<pin>)`;

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      pins: { type: 'string' },
      baud: { type: 'string', default: '57600' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const baud = Number(values.baud);
  if (!Number.isInteger(baud) || baud <= 0) throw new UsageError(`--baud must be a positive integer, got ${values.baud}`);
  let pins: PinMap = SIM_PIN_MAP;
  if (values.pins) {
    try {
      pins = { ...SIM_PIN_MAP, ...(JSON.parse(readFileSync(values.pins, 'utf8')) as Partial<PinMap>) };
    } catch (error) {
      throw new UsageError(`--pins ${values.pins}: ${(error as Error).message}`);
    }
  }
  return { port: values.port, pins, baud };
}

/** A pin map entry as a digital pin number of the Uno ("A0" is 14). */
function digitalPin(pin: number | string): number | undefined {
  if (typeof pin === 'number') return pin;
  const analog = /^A(\d+)$/.exec(pin);
  if (analog) {
    const found = ARDUINO_UNO.analogChannels.indexOf(Number(analog[1]));
    return found < 0 ? undefined : found;
  }
  return /^\d+$/.test(pin) ? Number(pin) : undefined;
}

/** What is wired to each pin, for people: "LED 4", "button 1", "buzzer". */
function labels(pins: PinMap): { names: Map<number, string>; buttons: Map<string, number> } {
  const names = new Map<number, string>();
  const buttons = new Map<string, number>();
  const put = (pin: number | string | null | undefined, name: string, key?: string) => {
    if (pin === null || pin === undefined) return;
    const n = digitalPin(pin);
    if (n === undefined) return;
    names.set(n, name);
    if (key) buttons.set(key, n);
  };
  for (const level of ['1', '2', '3', '4', '5'] as const) {
    put(pins.buttons[level], `button ${level}`, level);
    put(pins.leds[level], `LED ${level}`);
  }
  put(pins.invite, 'invite key', 'i');
  put(pins.status, 'status LED');
  put(pins.buzzer, 'buzzer');
  return { names, buttons };
}

async function main(args: NonNullable<ReturnType<typeof parse>>): Promise<number> {
  let pair: PtyPair | undefined;
  let path = args.port;
  if (!path) {
    pair = await ptyPair();
    path = pair.a;
  }
  const board = new FirmataBoard(serialTransport(path, args.baud));
  const { names, buttons } = labels(args.pins);
  const name = (pin: number) => `${names.get(pin) ?? 'pin'} (D${pin})`;

  board.on('output', (pin, value, mode) => {
    const on = value > 0;
    const level = mode === PinMode.PWM ? ` PWM ${value}` : mode === PinMode.SERVO ? ` servo ${value}` : '';
    say(`${on ? '●' : '○'} ${name(pin)} ${on ? 'on' : 'off'}${level}`);
  });
  board.on('mode', (pin, mode) => say(`  ${name(pin)} set to ${pinModeName(mode)}`));
  board.on('query', (query) => say(`  host asked: ${query}`));
  board.on('announce', () => say('  announced StandardFirmata 2.5'));
  board.on('ignored', (what) => say(`  ignored: ${what}`));
  await board.open();
  say(`StandardFirmata 2.5 on an emulated ${board.layout.name}, ${path}`);
  if (pair) say(`start the evaluator with: npm run device -- --board firmata --board-port ${pair.b} …`);

  const { finished, quit } = quitting(() => board.close().then(() => pair?.close()));

  const pinOf = (b: string | undefined) => {
    if (!b) return undefined;
    const raw = /^D(\d+)$/i.exec(b);
    return raw ? Number(raw[1]) : buttons.get(b.toLowerCase());
  };
  const act = (verb: string, pin: number, ms: number) => {
    try {
      if (verb === 'down') board.press(pin);
      else if (verb === 'up') board.release(pin);
      else {
        board.press(pin);
        setTimeout(() => board.release(pin), ms);
      }
      say(`${verb} ${name(pin)}`);
    } catch (error) {
      process.stderr.write(`board: ${(error as Error).message}\n`);
    }
  };
  const command = (line: string) => {
    const [verb, b, ms] = line.trim().split(/\s+/);
    if (!verb) return;
    switch (verb) {
      case 'press':
      case 'down':
      case 'up': {
        const pin = pinOf(b);
        const duration = ms === undefined ? 150 : Number(ms);
        if (pin === undefined || !(duration > 0)) return void process.stderr.write(`board: usage: ${verb} B${verb === 'press' ? ' [MS]' : ''} with B = 1..5, i or D<pin>\n`);
        act(verb, pin, duration);
        return;
      }
      case 'reset':
        board.reset();
        return;
      case 'quit':
        quit();
        return;
      default:
        process.stderr.write(`board: unknown command ${JSON.stringify(verb)}; try press B, down B, up B, reset, quit\n`);
    }
  };
  readCommands(command, quit, (key) => (key === 'r' ? 'reset' : /^[1-5i]$/.test(key) ? `press ${key}` : undefined));
  return finished;
}

runProgram('board', USAGE, () => parse(process.argv.slice(2)), main);
