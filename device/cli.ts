/**
 * `npm run device -- --port PATH --id DEVICE_ID --state-dir DIR [options]`: one evaluator.
 *
 * With `--board sim` (the default) the evaluator is drawn in the terminal and driven from
 * stdin: `press N` (N = 1..5, 5 = 非常满意), `hold N MS`, `invite`, `combo MS` (technician
 * mode), `quit`; in a terminal, keys 1-5 and i work too. With `--board firmata` the buttons,
 * LEDs and buzzer are a real board's (an Arduino running StandardFirmata, or `npm run board`).
 * `--log json` prints one JSON line per state change and per frame on stderr.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import five from 'johnny-five';
import { SerialPort } from 'serialport';
import { DEVICE_ID_RULE, isValidDeviceId } from '../protocol/index.js';
import { SimIO } from '../simulators/sim-io.js';
import type { LedId, LedMode } from './core.js';
import { Firmware, type LogEntry } from './firmware.js';
import { JohnnyFiveHardware, SIM_PIN_MAP, boardReady, connectFirmata, type FirmataConnection, type PinMap } from './hardware.js';
import { serialTransport, hidGadget, type ByteTransport } from './transport.js';
import { quitting, readCommands, runProgram, UsageError } from '../simulators/terminal.js';

const USAGE = `usage: npm run device -- --port PATH --id DEVICE_ID --state-dir DIR
         [--board sim|firmata] [--board-port PATH] [--board-baud N] [--pins FILE.json]
         [--transport serial|hid] [--baud N] [--capacity N] [--log json|text]

  --port        the link to the hub: a serial port (a socat pty in tests) or /dev/hidgN with --transport hid
  --id          the evaluator's factory serial: printable ASCII, at most 32 bytes
  --state-dir   where the non-volatile queue and counter live
  --board       sim (default): a simulated board driven from stdin; firmata: a real board
  --board-port  the firmata board's serial port (detected if omitted: the first USB serial port)
  --board-baud  the firmata board's baud rate (default 57600, StandardFirmata's)
  --pins        the pin map as JSON (default: the simulated evaluator's wiring)
  --capacity    queued messages kept at most (default 10000)

stdin (sim): press N | hold N MS | invite | combo MS | quit     keys in a terminal: 1-5, i, q`;

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      id: { type: 'string' },
      'state-dir': { type: 'string' },
      board: { type: 'string', default: 'sim' },
      'board-port': { type: 'string' },
      'board-baud': { type: 'string', default: '57600' },
      pins: { type: 'string' },
      transport: { type: 'string', default: 'serial' },
      baud: { type: 'string', default: '115200' },
      capacity: { type: 'string', default: '10000' },
      log: { type: 'string', default: 'text' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const need = (name: 'port' | 'id' | 'state-dir') => {
    const v = values[name];
    if (!v) throw new UsageError(`--${name} is required`);
    return v;
  };
  const id = need('id');
  if (!isValidDeviceId(id)) throw new UsageError(`--id must be ${DEVICE_ID_RULE}, got ${JSON.stringify(id)}`);
  if (values.board !== 'sim' && values.board !== 'firmata') throw new UsageError(`--board must be sim or firmata, got ${values.board}`);
  if (values.transport !== 'serial' && values.transport !== 'hid') throw new UsageError(`--transport must be serial or hid, got ${values.transport}`);
  if (values.log !== 'json' && values.log !== 'text') throw new UsageError(`--log must be json or text, got ${values.log}`);
  const baud = Number(values.baud);
  const capacity = Number(values.capacity);
  if (!Number.isInteger(baud) || baud <= 0) throw new UsageError(`--baud must be a positive integer, got ${values.baud}`);
  const boardBaud = Number(values['board-baud']);
  if (!Number.isInteger(boardBaud) || boardBaud <= 0) throw new UsageError(`--board-baud must be a positive integer, got ${values['board-baud']}`);
  if (!Number.isInteger(capacity) || capacity < 2) throw new UsageError(`--capacity must be an integer of at least 2, got ${values.capacity}`);
  let pins: PinMap = SIM_PIN_MAP;
  if (values.pins) {
    try {
      pins = { ...SIM_PIN_MAP, ...(JSON.parse(readFileSync(values.pins, 'utf8')) as Partial<PinMap>) };
    } catch (error) {
      throw new UsageError(`--pins ${values.pins}: ${(error as Error).message}`);
    }
  }
  return { port: need('port'), id, stateDir: need('state-dir'), board: values.board, boardPort: values['board-port'], boardBaud, pins, transport: values.transport, baud, capacity, log: values.log };
}

const LED_GLYPH: Record<LedMode, string> = { off: '○', on: '●', blink: '◐', 'blink-fast': '◍' };

/** The first port that looks like a USB board (the pattern johnny-five and firmata.js use). */
async function detectBoardPort(): Promise<string> {
  const found = (await SerialPort.list()).find((p) => /usb|acm|^com/i.test(p.path));
  if (!found) throw new Error('no board found on a USB serial port; give its port with --board-port');
  return found.path;
}

function render(firmware: Firmware, hardware: JohnnyFiveHardware): string {
  const led = (id: LedId) => LED_GLYPH[hardware.view.leds.get(id) ?? 'off'];
  const leds = [1, 2, 3, 4, 5].map((l) => `${l}${led(l as LedId)}`).join(' ');
  const lines = hardware.view.lines.filter(Boolean).join(' · ');
  return `[${firmware.state}] ${leds} status${led('status')} | ${lines} | link ${firmware.linkUp ? 'up' : 'down'} · queued ${firmware.queueDepth}`;
}

async function main(args: NonNullable<ReturnType<typeof parse>>): Promise<number> {
  const json = args.log === 'json';
  const log = (entry: LogEntry) => {
    if (json) process.stderr.write(`${JSON.stringify({ ts: new Date().toISOString(), ...entry })}\n`);
    else if (entry.level !== 'debug') {
      const { level, msg, ...rest } = entry;
      const extra = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
      process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${level} ${msg}${extra ? ` ${extra}` : ''}\n`);
    }
  };

  // A board is always handed to johnny-five as an IO plugin: its own `port` path needs the
  // serialport 8 API, which this project does not install (see connectFirmata).
  const io = args.board === 'sim' ? new SimIO() : undefined;
  let firmata: FirmataConnection | undefined;
  let board: five.Board;
  if (io) {
    board = new five.Board({ io, repl: false, debug: false, sigint: false } as unknown as five.BoardOption); // the CLI handles Ctrl-C itself
    await boardReady(board);
  } else {
    const path = args.boardPort ?? (await detectBoardPort());
    firmata = connectFirmata({ path, baudRate: args.boardBaud });
    board = firmata.board;
    const reported = await firmata.ready;
    log({ level: 'info', msg: 'board ready', port: path, firmware: reported.firmware, protocol: reported.version });
  }
  const hardware = new JohnnyFiveHardware(board, args.pins);
  const transport: ByteTransport = args.transport === 'hid' ? hidGadget(args.port) : serialTransport(args.port, args.baud);
  const firmware = new Firmware({ core: { deviceId: args.id, queueCapacity: args.capacity }, stateDir: args.stateDir, transport, hardware, log });

  let last = '';
  firmware.on('change', () => {
    if (!io) return;
    const line = render(firmware, hardware);
    if (line !== last) process.stdout.write(`${line}\n`);
    last = line;
  });
  await firmware.start();

  const { finished, quit } = quitting(() => firmware.stop().then(() => firmata?.close()));
  // A board that is gone leaves an evaluator whose buttons do nothing: stop (the queue log
  // closed cleanly) and exit non-zero so the service manager restarts it and someone sees it.
  void firmata?.lost.then((error) => {
    log({ level: 'error', msg: 'board lost', error: error.message });
    quit(1);
  });

  const pinOf = (button: string) => (button === 'i' || button === 'invite' ? args.pins.invite : args.pins.buttons[button as '1']);
  const drive = (button: string, ms: number) => {
    const pin = pinOf(button);
    if (!io || pin === undefined || pin === null || typeof pin !== 'number') return false;
    io.setInput(pin, 1);
    setTimeout(() => io.setInput(pin, 0), ms);
    return true;
  };
  const command = (line: string) => {
    const [verb, a, b] = line.trim().split(/\s+/);
    if (!verb) return;
    const ms = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number(v));
    if (!io && verb !== 'quit') return process.stderr.write('device: button commands need --board sim\n');
    switch (verb) {
      case 'press':
      case 'hold': {
        const duration = verb === 'press' ? 120 : ms(b, NaN);
        if (!a || !/^[1-5]$/.test(a) || !(duration > 0)) return process.stderr.write(`device: usage: ${verb === 'press' ? 'press N' : 'hold N MS'} with N = 1..5\n`);
        drive(a, duration);
        return;
      }
      case 'invite':
        if (!drive('invite', 120)) process.stderr.write('device: this evaluator has no invite key\n');
        return;
      case 'combo': {
        const duration = ms(a, 5500);
        if (!(duration > 0)) return process.stderr.write('device: usage: combo MS\n');
        drive('5', duration);
        drive('1', duration);
        return;
      }
      case 'quit':
        quit();
        return;
      default:
        process.stderr.write(`device: unknown command ${JSON.stringify(verb)}; try press N, hold N MS, invite, combo MS, quit\n`);
    }
  };
  readCommands(command, quit, (key) => (/^[1-5]$/.test(key) ? `press ${key}` : key === 'i' ? 'invite' : undefined));
  return finished;
}

runProgram('device', USAGE, () => parse(process.argv.slice(2)), main);
