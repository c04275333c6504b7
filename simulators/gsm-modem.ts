/**
 * A GSM/LTE modem (a SIM800 or a Quectel EC20) emulated at the AT-command level over any byte
 * transport, for the tests, the benchmark, the demo and people (`npm run modem`): the hub's
 * real driver (hub/modem.ts) talks to it as to a module on a serial port, while simulated
 * phone users answer what it sends. It does what those modules do with the 3GPP TS 27.005
 * text-mode subset of PROTOCOL 7, written from the modules' manuals, not from the driver:
 *
 *   command                 answer
 *   ----------------------- ---------------------------------------------------------------
 *   AT, ATE0 / ATE1         OK (echo of every byte received is on at power-on, as on a module)
 *   AT+CMGF=0|1             OK (only text mode sends)
 *   AT+CSCS="GSM|IRA|UCS2"  OK (UCS2: numbers and texts as UCS2 hex both ways)
 *   AT+CSMP=17,167,0,8      OK
 *   AT+CNMI=2,1,0,0,0       OK (mt=1: +CMTI: "SM",<index> for each message stored)
 *   AT+CMGS="<da>"          \r\n> , then the text up to Ctrl-Z: +CMGS: <mr> OK, or +CMS ERROR: <n>;
 *                           ESC leaves without sending (OK)
 *   AT+CMGR=<i>             +CMGR: "REC UNREAD","<oa>","","<scts>" / text / OK (an empty slot: OK)
 *   AT+CMGL="ALL"           +CMGL: <i>,"<stat>","<oa>","","<scts>" / text, for each; OK
 *   AT+CMGD=<i>[,<flag>]    OK (flag 4: all)
 *   AT+CSQ                  +CSQ: <rssi>,0 OK
 *   ATI, AT+CPIN?, AT+CREG? the module's name, +CPIN: READY, +CREG: 0,1
 *   anything else           ERROR
 *
 * Storage indexes start at 1 on a SIM800 and at 0 on an EC20. A message for a full SIM, or
 * while unplugged, waits at the network and is stored when there is room. Faults on demand:
 * `+CMS ERROR` for the next sends, `ERROR` for the next commands of a kind, answers held
 * after Ctrl-Z (the message has gone out, the answer comes on `release`), silence, noise.
 * `ModemLine` puts the modem behind a socat pty pair whose hub end is a fixed path, and pulls
 * and plugs that cable.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { serialTransport, type ByteTransport } from '../device/transport.js';
import { requireCommand, waitFor } from './pty.js';

export type ModemModel = 'SIM800' | 'EC20';

/** A message the modem sent (the network took it). */
export interface SentSms {
  number: string;
  text: string;
  mr: number;
  at: number;
}

/** A message in the SIM's storage. */
interface StoredSms {
  number: string;
  text: string;
  /** The service centre time stamp, `yy/MM/dd,hh:mm:ss+32`. */
  scts: string;
  read: boolean;
}

export interface SimulatedModemEvents {
  /** A message went out; `sent` holds them all. */
  sent: [message: SentSms];
  /** A command line arrived (text mode bodies excluded). */
  command: [line: string];
  /** A message was stored on the SIM (and announced if the host asked for +CMTI). */
  stored: [index: number];
  /** The host deleted a message. */
  deleted: [index: number];
  /** The modem refused a send with +CMS ERROR. */
  refused: [code: number];
  /** Someone's phone answered (the answer is on its way to the modem). */
  reply: [number: string, text: string];
}

export interface SimulatedModemOptions {
  /** Default SIM800. */
  model?: ModemModel;
  /**
   * The phones of the people texted: called with every message the modem sends; an answer is
   * texted back from that number (after `replyDelayMs`). Default: nobody answers.
   */
  onMessage?: (number: string, text: string) => string | undefined | Promise<string | undefined>;
  /** Real ms before an answer reaches the modem. Default 0. */
  replyDelayMs?: number;
  /** SIM storage slots. Default 30. */
  capacity?: number;
  /** `AT+CSQ`'s rssi (0..31, 99 unknown). Default 20 (-73 dBm). */
  rssi?: number;
  /** The network's clock, for time stamps. Default `Date.now`. */
  now?: () => number;
}

const CR = 0x0d;
const LF = 0x0a;
const CTRL_Z = 0x1a;
const ESC = 0x1b;

/** UCS2 hex as the modules write it: Node's UTF-16LE with each pair of bytes swapped. */
function ucs2Hex(text: string): string {
  return Buffer.from(text, 'utf16le').swap16().toString('hex').toUpperCase();
}

function fromUcs2(hex: string): string | undefined {
  if (hex.length % 4 !== 0 || !/^[0-9a-f]*$/i.test(hex)) return undefined;
  return Buffer.from(hex, 'hex').swap16().toString('utf16le');
}

/** `yy/MM/dd,hh:mm:ss+32`: China Standard Time, the zone in quarter hours. */
function scts(ms: number): string {
  const t = new Date(ms + 8 * 3_600_000).toISOString();
  return `${t.slice(2, 4)}/${t.slice(5, 7)}/${t.slice(8, 10)},${t.slice(11, 19)}+32`;
}

export class SimulatedModem extends EventEmitter<SimulatedModemEvents> {
  readonly model: ModemModel;
  /** Every message sent, in order. */
  readonly sent: SentSms[] = [];
  /** Every command line received since the modem was made. */
  readonly commands: string[] = [];
  rssi: number;
  private transport: ByteTransport | undefined;
  private readonly options: SimulatedModemOptions;
  private readonly capacity: number;
  private readonly firstIndex: number;
  private readonly storage = new Map<number, StoredSms>();
  /** Messages the network holds: the modem is unplugged or its SIM is full. */
  private readonly network: { number: string; text: string; at: number }[] = [];
  // settings a power cycle resets
  private echo = true;
  private textMode = false;
  private charset = 'GSM';
  private announce = false;
  // the input
  private line = '';
  /** In text mode after `> `: the destination, and the body so far. */
  private composing: { number: string; body: string } | undefined;
  private mr = 0;
  // faults
  private readonly cmsQueue: number[] = [];
  private readonly errorQueue = new Map<string, number>();
  private holding: (() => void)[] | undefined;
  private muted = false;

  constructor(options: SimulatedModemOptions = {}) {
    super();
    this.options = options;
    this.model = options.model ?? 'SIM800';
    this.capacity = options.capacity ?? 30;
    this.firstIndex = this.model === 'EC20' ? 0 : 1;
    this.rssi = options.rssi ?? 20;
  }

  get plugged(): boolean {
    return this.transport !== undefined;
  }

  /** Messages on the SIM, by index. */
  get stored(): ReadonlyMap<number, Readonly<StoredSms>> {
    return this.storage;
  }

  /** Powers the modem up on a transport (plugged in): settings back to their power-on values. */
  async attach(transport: ByteTransport): Promise<void> {
    await this.detach();
    this.echo = true;
    this.textMode = false;
    this.charset = 'GSM';
    this.announce = false;
    this.line = '';
    this.composing = undefined;
    transport.on('data', (chunk) => this.input(chunk));
    await transport.open();
    this.transport = transport;
    this.say('RDY'); // what a module prints at power-on; a host ignores it
    this.storeWaiting();
  }

  /** Powered off (unplugged): what the host had not read stays on the SIM; answers held are lost. */
  async detach(): Promise<void> {
    const transport = this.transport;
    this.transport = undefined;
    if (this.holding) this.holding.length = 0; // the network has those messages; their answers never reach the host
    await transport?.close().catch(() => {});
  }

  // ---- the people ----

  /** Someone texts the modem's number. Stored on the SIM (+CMTI) when plugged in and there is room, else held by the network. */
  deliver(number: string, text: string, at = (this.options.now ?? Date.now)()): void {
    this.network.push({ number, text, at });
    this.storeWaiting();
  }

  // ---- faults ----

  /** The next `n` sends are refused with `+CMS ERROR: code` (500: unknown error). */
  failSends(n = 1, code = 500): void {
    for (let i = 0; i < n; i++) this.cmsQueue.push(code);
  }

  /** The next `n` commands starting with `prefix` (`AT+CSCS`, `AT+CMGS`) are answered ERROR. */
  failCommand(prefix: string, n = 1): void {
    this.errorQueue.set(prefix.toUpperCase(), (this.errorQueue.get(prefix.toUpperCase()) ?? 0) + n);
  }

  /**
   * Messages are sent at Ctrl-Z as usual, but their answers (+CMGS) are held until the
   * returned `release` (those of a modem unplugged meanwhile are lost).
   */
  holdAnswers(): () => void {
    this.holding = [];
    return () => {
      const held = this.holding ?? [];
      this.holding = undefined;
      for (const answer of held) answer();
    };
  }

  /** No answers at all while muted (a hung module). */
  mute(on: boolean): void {
    this.muted = on;
  }

  /** Bytes a flaky line adds: written to the host as they are. */
  noise(bytes: Uint8Array | string): void {
    void this.transport?.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes).catch(() => {});
  }

  // ---- the wire ----

  private write(text: string): void {
    if (this.muted) return;
    void this.transport?.write(Buffer.from(text, 'latin1')).catch(() => {});
  }

  /** One result line in verbose mode: `\r\n<text>\r\n`. */
  private say(...lines: string[]): void {
    this.write(lines.map((l) => `\r\n${l}\r\n`).join(''));
  }

  private input(chunk: Uint8Array): void {
    if (this.echo && !this.muted) void this.transport?.write(chunk).catch(() => {});
    for (const byte of chunk) {
      if (this.composing) {
        if (byte === CTRL_Z) this.submit();
        else if (byte === ESC) {
          this.composing = undefined;
          this.say('OK');
        } else if (byte !== CR && byte !== LF) this.composing.body += String.fromCharCode(byte);
        continue;
      }
      if (byte === CR) {
        const line = this.line.trim();
        this.line = '';
        if (line) this.command(line);
      } else if (byte === LF || byte === ESC) {
        // LF after CR; a stray ESC in command mode is ignored
      } else if (this.line.length < 1024) this.line += String.fromCharCode(byte);
    }
  }

  private command(line: string): void {
    this.commands.push(line);
    this.emit('command', line);
    const upper = line.toUpperCase();
    for (const [prefix, n] of this.errorQueue) {
      if (!upper.startsWith(prefix)) continue;
      if (n <= 1) this.errorQueue.delete(prefix);
      else this.errorQueue.set(prefix, n - 1);
      return this.say('ERROR');
    }
    if (!upper.startsWith('AT')) return this.say('ERROR');
    const m = /^AT(E[01]|I|\+[A-Z]+)?(\?|=\?|=(.*))?$/i.exec(line);
    if (!m) return this.say('ERROR');
    const name = (m[1] ?? '').toUpperCase();
    const arg = m[3] ?? '';
    const query = m[2] === '?';
    switch (name) {
      case '':
        return this.say('OK');
      case 'E0':
      case 'E1':
        this.echo = name === 'E1';
        return this.say('OK');
      case 'I':
        return this.say(...(this.model === 'EC20' ? ['Quectel', 'EC20F', 'Revision: EC20CEFAR06A03M4G'] : ['SIM800 R14.18']), 'OK');
      case '+CPIN':
        return query ? this.say('+CPIN: READY', 'OK') : this.say('ERROR');
      case '+CREG':
        return query ? this.say('+CREG: 0,1', 'OK') : this.say('OK');
      case '+CSQ':
        return this.say(`+CSQ: ${this.rssi},0`, 'OK');
      case '+CMGF':
        if (query) return this.say(`+CMGF: ${this.textMode ? 1 : 0}`, 'OK');
        if (arg !== '0' && arg !== '1') return this.say('ERROR');
        this.textMode = arg === '1';
        return this.say('OK');
      case '+CSCS': {
        if (query) return this.say(`+CSCS: "${this.charset}"`, 'OK');
        const charset = /^"(GSM|IRA|UCS2)"$/i.exec(arg)?.[1]?.toUpperCase();
        if (!charset) return this.say('ERROR');
        this.charset = charset;
        return this.say('OK');
      }
      case '+CSMP':
        return /^\d+,\d+,\d+,\d+$/.test(arg) ? this.say('OK') : this.say('ERROR');
      case '+CNMI': {
        const mt = /^\d,(\d)/.exec(arg)?.[1];
        if (mt === undefined) return this.say('ERROR');
        this.announce = mt === '1';
        return this.say('OK');
      }
      case '+CMGS': {
        if (!this.textMode) return this.say('+CMS ERROR: 302'); // PDU mode wants a length, not a number
        const da = /^"([^"]*)"/.exec(arg)?.[1];
        const number = da === undefined ? undefined : this.decode(da);
        if (!number || !/^\+?[0-9]{3,20}$/.test(number)) return this.say('+CMS ERROR: 304');
        this.composing = { number, body: '' };
        return this.write('\r\n> ');
      }
      case '+CMGR': {
        const index = Number(arg);
        const sms = /^\d+$/.test(arg) ? this.storage.get(index) : undefined;
        if (!/^\d+$/.test(arg) || index < this.firstIndex || index >= this.firstIndex + this.capacity) return this.say('+CMS ERROR: 321');
        if (!sms) return this.say('OK');
        const stat = sms.read ? 'REC READ' : 'REC UNREAD';
        sms.read = true;
        return this.say(`+CMGR: ${this.header(stat, sms)}`, this.encode(sms.text), 'OK');
      }
      case '+CMGL': {
        const filter = /^"(ALL|REC UNREAD|REC READ)"$/i.exec(arg)?.[1]?.toUpperCase() ?? (arg === '4' ? 'ALL' : arg === '0' ? 'REC UNREAD' : arg === '1' ? 'REC READ' : undefined);
        if (!filter) return this.say('ERROR');
        const lines: string[] = [];
        for (const [index, sms] of [...this.storage].sort(([a], [b]) => a - b)) {
          const stat = sms.read ? 'REC READ' : 'REC UNREAD';
          if (filter !== 'ALL' && filter !== stat) continue;
          lines.push(`+CMGL: ${index},${this.header(stat, sms)}`, this.encode(sms.text));
          sms.read = true;
        }
        return this.say(...lines, 'OK');
      }
      case '+CMGD': {
        const [index, flag] = arg.split(',').map((s) => s.trim());
        if (!index || !/^\d+$/.test(index)) return this.say('ERROR');
        if (flag === '4') for (const i of [...this.storage.keys()]) this.remove(i);
        else this.remove(Number(index));
        this.say('OK');
        this.storeWaiting();
        return;
      }
      default:
        return this.say('ERROR');
    }
  }

  private header(stat: string, sms: StoredSms): string {
    const oa = `"${this.encode(sms.number)}"`;
    // a SIM800 quotes the empty alpha field; an EC20 leaves it empty, as PROTOCOL 7 shows
    return `"${stat}",${oa},${this.model === 'EC20' ? '' : '""'},"${sms.scts}"`;
  }

  private encode(text: string): string {
    return this.charset === 'UCS2' ? ucs2Hex(text) : text;
  }

  private decode(text: string): string | undefined {
    return this.charset === 'UCS2' ? fromUcs2(text) : text;
  }

  private remove(index: number): void {
    if (this.storage.delete(index)) this.emit('deleted', index);
  }

  private submit(): void {
    const { number, body } = this.composing!;
    this.composing = undefined;
    const text = this.decode(body);
    const code = this.cmsQueue.shift();
    if (code !== undefined) {
      this.emit('refused', code);
      return this.say(`+CMS ERROR: ${code}`);
    }
    if (text === undefined) return this.say('+CMS ERROR: 305'); // not UCS2 hex
    if (text.length > 70 && this.charset === 'UCS2') return this.say('+CMS ERROR: 305');
    this.mr = (this.mr + 1) % 256;
    const sent: SentSms = { number, text, mr: this.mr, at: (this.options.now ?? Date.now)() };
    this.sent.push(sent);
    this.emit('sent', sent);
    const answer = () => this.say(`+CMGS: ${sent.mr}`, 'OK');
    if (this.holding) this.holding.push(answer);
    else answer();
    void this.phone(sent);
  }

  /** The person's phone: their answer, if any, comes back as a message. */
  private async phone(sent: SentSms): Promise<void> {
    const hook = this.options.onMessage;
    if (!hook) return;
    const reply = await hook(sent.number, sent.text);
    if (reply === undefined) return;
    this.emit('reply', sent.number, reply);
    const deliver = () => this.deliver(sent.number.startsWith('+') ? sent.number : `+86${sent.number}`, reply);
    if (this.options.replyDelayMs) setTimeout(deliver, this.options.replyDelayMs);
    else setImmediate(deliver);
  }

  /** Stores what the network holds, while plugged in and the SIM has room. */
  private storeWaiting(): void {
    if (!this.transport) return;
    while (this.network.length > 0) {
      let index = this.firstIndex;
      while (this.storage.has(index)) index++;
      if (index >= this.firstIndex + this.capacity) return; // SIM full: the network keeps it
      const { number, text, at } = this.network.shift()!;
      this.storage.set(index, { number, text, scts: scts(at), read: false });
      this.emit('stored', index);
      if (this.announce) this.say(`+CMTI: "SM",${index}`);
    }
  }
}

/** What a simulated citizen answers an invitation: mostly satisfied, sometimes not, sometimes nothing. */
export function citizenAnswer(random: () => number): string | undefined {
  const r = random();
  if (r < 0.35) return '5';
  if (r < 0.5) return '４';
  if (r < 0.55) return '3';
  if (r < 0.6) return '2 等太久了';
  if (r < 0.63) return '1';
  if (r < 0.66) return 'TD';
  if (r < 0.7) return '谢谢';
  return undefined;
}

/**
 * The cable from the simulated modem to the hub: a socat pty pair whose hub end is a fixed
 * path (the hub's `sms.modem.path`). `unplug` ends socat, so the hub's port closes and the path
 * vanishes, as when a USB modem is pulled; `plug` brings both back and powers the modem up.
 */
export class ModemLine {
  private socat: ChildProcess | undefined;

  constructor(
    readonly modem: SimulatedModem,
    /** The hub's end. */
    readonly hubPath: string,
    private readonly modemPath = `${hubPath}.modem`,
  ) {}

  get plugged(): boolean {
    return this.socat !== undefined;
  }

  async plug(): Promise<void> {
    await this.unplug();
    requireCommand('socat', 'socat');
    const socat = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.modemPath}`, `pty,raw,echo=0,link=${this.hubPath}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.socat = socat;
    const lines = createInterface({ input: socat.stderr! });
    await waitFor<string>((l) => (lines.on('line', l), () => lines.off('line', l)), (line) => line.includes('starting data transfer loop'), 10_000, 'socat to link the modem');
    await this.modem.attach(serialTransport(this.modemPath));
  }

  async unplug(): Promise<void> {
    await this.modem.detach();
    const socat = this.socat;
    this.socat = undefined;
    if (socat && socat.exitCode === null) {
      const exited = new Promise((resolve) => socat.once('exit', resolve));
      socat.kill('SIGTERM');
      await exited;
    }
    rmSync(this.hubPath, { force: true });
    rmSync(this.modemPath, { force: true });
  }
}
