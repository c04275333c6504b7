/**
 * The real Firmata path (issue 12, item 4): the evaluator's firmware with JohnnyFiveHardware on
 * firmata-io over a serialport-13 port, talking through a real socat pty to an emulated
 * StandardFirmata 2.5 board (simulators/firmata-board.ts), and an in-process hub on a second
 * pty. The board is wired as `npm run device` wires it by default (SIM_PIN_MAP).
 */
import type { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type five from 'johnny-five';
import { describe, expect, it } from 'vitest';
import { Firmware, type FirmwareEvents } from '../device/firmware.js';
import { connectFirmata, JohnnyFiveHardware, SIM_PIN_MAP, type FirmataConnection, type FirmataConnectOptions } from '../device/hardware.js';
import { serialTransport } from '../device/transport.js';
import { parseConfig } from '../hub/config.js';
import { Hub } from '../hub/hub.js';
import { AckStatus, type Packet } from '../protocol/index.js';
import { FirmataBoard, PinMode, type FirmataBoardEvents, type FirmataQuery } from '../simulators/firmata-board.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { ptyPair, requireCommand, runTs, waitFor } from './support/processes.js';

const cleanups = cleanupsAfterEach();
const DEADLINE_MS = 10_000;
const DEVICE_ID = 'HCP5-FIRMATA1';

/** Resolves with the arguments of the first `event` for which `predicate` holds. */
function next<Events extends Record<keyof Events, unknown[]>, K extends keyof Events & string>(
  emitter: EventEmitter<Events>,
  event: K,
  predicate: (...args: Events[K]) => boolean,
  what: string,
  ms = DEADLINE_MS,
): Promise<Events[K]> {
  const e = emitter as unknown as EventEmitter;
  return waitFor<Events[K]>(
    (listener) => {
      const l = (...args: unknown[]) => listener(args as Events[K]);
      e.on(event, l);
      return () => e.off(event, l);
    },
    (args) => predicate(...args),
    ms,
    what,
  );
}

/** An emulated board on one end of a pty; the firmware's end is `path`. */
async function emulatedBoard() {
  const pty = await ptyPair();
  cleanups.push(() => pty.close());
  const emulator = new FirmataBoard(serialTransport(pty.b, 57_600));
  cleanups.push(() => emulator.close());
  const queries: FirmataQuery[] = [];
  emulator.on('query', (q) => queries.push(q));
  await emulator.open({ announce: false }); // running since before the host was connected
  return { emulator, path: pty.a, queries };
}

/**
 * The firmware's side of the board. With `autoReset` the emulated board resets when the port
 * opens, as an Uno does on DTR, and announces itself; without, it waits to be asked.
 */
function connect(emulator: FirmataBoard, path: string, autoReset: boolean, options: Partial<FirmataConnectOptions> = {}): FirmataConnection {
  const connection = connectFirmata({ path, ...options });
  cleanups.push(() => connection.close());
  if (autoReset) (connection.board as unknown as EventEmitter).once('connect', () => emulator.reset());
  return connection;
}

describe('the evaluator firmware on a StandardFirmata board over a pty', () => {
  it('pairs with the hub, prompts, and a press on the board is an EVAL committed at the hub, ACKed, its LED lit', async () => {
    const { emulator, path, queries } = await emulatedBoard();
    const firmata = connect(emulator, path, true);
    // johnny-five accepted the board: its 'ready' fired once every query was answered
    const boardReady = new Promise<void>((resolve) => (firmata.board as unknown as EventEmitter).once('ready', () => resolve()));
    expect(await firmata.ready).toEqual({ firmware: 'StandardFirmata.ino 2.5', version: '2.5' });
    await boardReady;
    expect(queries).toEqual(['capabilities', 'analog-mapping']); // version and firmware came unasked, after the reset
    const io = firmata.board.io as unknown as { pins: { supportedModes: number[] }[]; analogPins: number[]; RESOLUTION: { ADC: number; PWM: number } };
    expect(io.pins).toHaveLength(20);
    expect(io.analogPins).toEqual([14, 15, 16, 17, 18, 19]);
    expect(io.RESOLUTION).toMatchObject({ ADC: 1023, PWM: 255 });
    expect(io.pins[11]!.supportedModes).toEqual([PinMode.INPUT, PinMode.OUTPUT, PinMode.PWM, PinMode.SERVO, PinMode.PULLUP]);
    expect((firmata.board as unknown as { pins: { type: string } }).pins.type).toBe('UNO');

    const hardware = new JohnnyFiveHardware(firmata.board as five.Board, SIM_PIN_MAP);
    const dir = tempDir(cleanups, 'firmata');
    const link = await ptyPair();
    cleanups.push(() => link.close());
    const config = parseConfig({
      hallId: '430300-001',
      adminToken: 'firmata-test-admin-token',
      dataDir: join(dir, 'hub'),
      http: { host: '127.0.0.1', port: 0 },
      devices: { serial: [{ path: link.b }], discover: { serial: false, hid: false } },
      windows: [{ id: 'A01', name: 'A01 综合受理', deviceId: DEVICE_ID }],
    });
    const hub = new Hub({ config });
    await hub.start();
    cleanups.push(() => hub.stop());
    const firmware = new Firmware({ core: { deviceId: DEVICE_ID }, stateDir: join(dir, 'device'), transport: serialTransport(link.a), hardware });
    cleanups.push(() => firmware.stop());
    const state = (name: string) => next<FirmwareEvents, 'state'>(firmware, 'state', (s) => s === name, `the evaluator to be ${name}`);

    // Paired by the hall's configuration; on duty when the window's staff is.
    const linked = next<FirmwareEvents, 'link'>(firmware, 'link', (up) => up, 'the link to the hub');
    await firmware.start();
    await linked;
    const idle = state('idle');
    await hub.setStaff('A01', { duty: 'on', staffId: 'S007', staffName: '李明', staffTitle: '' }, 'test');
    await idle;

    const prompted = state('prompt');
    await hub.service('A01', { event: 'done', txnId: 'T-FIRMATA-1', matterName: '营业执照' }, 'test');
    await prompted;

    // 4 满意: button 4 is D5, its LED D11 (a PWM pin, so johnny-five dims it by duty), the buzzer D14.
    const buttonPin = SIM_PIN_MAP.buttons['4'] as number;
    const ledPin = SIM_PIN_MAP.leds['4'] as number;
    const buzzerPin = SIM_PIN_MAP.buzzer as number;
    const evalOut = next<FirmwareEvents, 'frameOut'>(firmware, 'frameOut', (p) => p.message.type === 'EVAL', 'the EVAL');
    const acks: Packet[] = [];
    firmware.on('frameIn', (p) => p.message.type === 'ACK' && acks.push(p));
    const lit = next<FirmataBoardEvents, 'output'>(emulator, 'output', (pin, value) => pin === ledPin && value > 0, "LED 4's pin to light");
    const beeped = next<FirmataBoardEvents, 'output'>(emulator, 'output', (pin, value) => pin === buzzerPin && value === 1, 'the buzzer to sound');
    emulator.press(buttonPin);
    const [evalPacket] = await evalOut;
    expect(evalPacket.message).toMatchObject({ type: 'EVAL', level: 4, txnId: 'T-FIRMATA-1', counter: 1 });
    const isAck = (p: Packet) => p.message.type === 'ACK' && p.seq === evalPacket.seq;
    const ack = acks.find(isAck) ?? (await next<FirmwareEvents, 'frameIn'>(firmware, 'frameIn', isAck, 'the ACK of the EVAL'))[0];
    expect(ack.message).toMatchObject({ status: AckStatus.OK });
    // PROTOCOL 1.3: ACK only after commit, so the row is there when the device hears the ACK
    const row = hub.store.read((db) => db.prepare('SELECT level, txn_id, device_id, window_id, staff_id, status FROM evaluations WHERE id = ?').get(`${DEVICE_ID}-1`));
    expect(row).toEqual({ level: 4, txn_id: 'T-FIRMATA-1', device_id: DEVICE_ID, window_id: 'A01', staff_id: 'S007', status: 'accepted' });
    const [, value, mode] = await lit;
    expect({ value, mode }).toEqual({ value: 255, mode: PinMode.PWM });
    await beeped;
    expect(emulator.pinValue(ledPin)).toBe(255);
    for (const other of [1, 2, 3, 5] as const) expect(emulator.pinValue(SIM_PIN_MAP.leds[other] as number)).toBe(0);
    emulator.release(buttonPin);
    expect(firmware.queueDepth).toBe(0);
  });

  it('a board without auto-reset is asked; a pulled-up button reads 1 until pressed, 0 while held', async () => {
    const { emulator, path, queries } = await emulatedBoard();
    const firmata = connect(emulator, path, false, { versionTimeoutMs: 200 });
    await firmata.ready;
    expect(queries).toEqual(['version', 'firmware', 'capabilities', 'analog-mapping']);

    const pins = { ...SIM_PIN_MAP, pullup: true };
    const hardware = new JohnnyFiveHardware(firmata.board as five.Board, pins);
    cleanups.push(() => hardware.close());
    const edges: string[] = [];
    hardware.onButton((button, down) => edges.push(`${button}${down ? 'v' : '^'}`));
    const pin = pins.buttons['2'] as number;
    // PIN_STATE_QUERY: the mode is INPUT_PULLUP, the state (for an input: the pull-up) is on
    const io = firmata.board.io as unknown as { queryPinState(pin: number, callback: () => void): void; pins: { mode: number; state: number }[] };
    await new Promise<void>((resolve) => io.queryPinState(pin, resolve));
    expect(io.pins[pin]).toMatchObject({ mode: PinMode.PULLUP, state: 1 });
    expect(emulator.pinValue(pin)).toBe(1);

    const down = new Promise<void>((resolve) => hardware.onButton((b, d) => b === 2 && d && resolve()));
    emulator.press(pin);
    expect(emulator.pinValue(pin)).toBe(0);
    await down;
    const up = new Promise<void>((resolve) => hardware.onButton((b, d) => b === 2 && !d && resolve()));
    emulator.release(pin);
    await up;
    expect(edges).toEqual(['2v', '2^']);
  });
});

describe('connectFirmata when there is no board', () => {
  it('a port that does not open, and a port where nothing answers, reject `ready` saying so', async () => {
    const missing = connectFirmata({ path: '/dev/hcp-no-such-board' });
    await expect(missing.ready).rejects.toThrow(/^no StandardFirmata board on \/dev\/hcp-no-such-board: cannot open the port/);
    const pty = await ptyPair(); // nothing on the other end
    cleanups.push(() => pty.close());
    const silent = connectFirmata({ path: pty.a, versionTimeoutMs: 50, readyTimeoutMs: 300 });
    await expect(silent.ready).rejects.toThrow(`no StandardFirmata board on ${pty.a}: it did not answer within 300 ms`);
  });
});

describe('FirmataBoard, the emulated StandardFirmata', () => {
  it('INPUT_PULLUP by mode; only OUTPUT pins take SET_DIGITAL_PIN_VALUE; an unknown mode is refused with a string', async () => {
    const { emulator, path } = await emulatedBoard();
    const firmata = connect(emulator, path, true);
    await firmata.ready;
    const io = firmata.board.io as unknown as EventEmitter & {
      pinMode(pin: number, mode: number): void;
      digitalRead(pin: number, callback: (value: number) => void): void;
      transport: { write(bytes: Uint8Array): void };
    };
    const reads: number[] = [];
    io.pinMode(7, PinMode.PULLUP);
    const first = new Promise<void>((resolve) => io.digitalRead(7, (v) => (reads.push(v), resolve())));
    await first;
    expect(reads).toEqual([1]); // REPORT_DIGITAL answers with the port at once
    const low = new Promise<void>((resolve) => io.digitalRead(7, (v) => v === 0 && resolve()));
    emulator.press(7);
    await low;

    // SET_DIGITAL_PIN_VALUE (F5 pin value): an input ignores it, an output is driven
    const driven = next<FirmataBoardEvents, 'output'>(emulator, 'output', (pin, value) => pin === 13 && value === 1, 'pin 13 driven high');
    io.transport.write(Uint8Array.of(0xf5, 7, 1, 0xf5, 13, 1));
    await driven;
    expect(emulator.pinValue(7)).toBe(0); // still held, still an input

    const refused = new Promise<string>((resolve) => io.once('string', resolve));
    io.transport.write(Uint8Array.of(0xf4, 4, 0x09)); // ENCODER: not in StandardFirmata
    expect(await refused).toBe('Unknown pin mode');
  });
});

describe('npm run device -- --board firmata, against npm run board', () => {
  it('finds StandardFirmata, drives the status LED, and exits 1 when the board goes away', async () => {
    requireCommand('socat', 'socat'); // the board makes its pty pair with it
    const board = runTs('simulators/firmata-board-cli.ts', []);
    cleanups.push(() => board.child.exitCode === null && board.child.kill('SIGKILL'));
    const started = await board.waitStdout((l) => l.includes('--board-port'), DEADLINE_MS, 'the board to make its pty pair');
    const boardPort = /--board-port (\S+)/.exec(started)![1]!;
    const link = await ptyPair(); // the hub's end stays silent: the evaluator is signed out
    cleanups.push(() => link.close());
    const device = runTs('device/cli.ts', ['--port', link.a, '--id', 'HCP5-FIRMATA2', '--state-dir', tempDir(cleanups, 'firmata-cli'), '--board', 'firmata', '--board-port', boardPort, '--log', 'json']);
    cleanups.push(() => device.child.exitCode === null && device.child.kill('SIGKILL'));
    // a board that did not reset when the port opened is asked after firmata-io's 5 s
    const ready = await device.waitLog((e) => e['msg'] === 'board ready', 20_000, 'the board to be ready');
    expect(ready).toMatchObject({ port: boardPort, firmware: 'StandardFirmata.ino 2.5', protocol: '2.5' });
    await board.waitStdout((l) => l.includes('● status LED (D13) on'), DEADLINE_MS, 'the status LED to blink');

    board.send('quit');
    expect(await board.exited(DEADLINE_MS)).toBe(0);
    await device.waitLog((e) => e['msg'] === 'board lost', DEADLINE_MS, 'the device to notice');
    expect(await device.exited(DEADLINE_MS)).toBe(1);
  });
});
