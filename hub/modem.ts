/**
 * The GSM/LTE modem driver of the SMS follow-up (PROTOCOL 7): the 3GPP TS 27.005 text-mode
 * subset that SIM800, SIM7600 and Quectel EC20 modules accept, over any byte transport (the
 * serial port `hub/ports.ts` opens, a socat pty in tests).
 *
 *   step             hub → modem                             modem → hub
 *   ---------------- --------------------------------------- -------------------------------------------
 *   set-up (each     AT, ATE0, AT+CMGF=1, AT+CSCS="UCS2",     OK to each; ERROR: faulty, reopened later
 *   open)            AT+CSMP=17,167,0,8, AT+CNMI=2,1,0,0,0
 *   catch up         AT+CMGL="ALL"                           (+CMGL: i,"stat","oa",,"scts" / text)* OK
 *   send             AT+CMGS="<number UCS2 hex>" CR           > (the prompt, no line end)
 *                    <text UCS2 hex> 0x1A                    +CMGS: <mr> OK, or +CMS ERROR: <n>
 *   receive          (announced)                             +CMTI: "SM",<index>
 *                    AT+CMGR=<index>                         +CMGR: "REC UNREAD","oa",,"scts" / text / OK
 *                    AT+CMGD=<index>                         OK
 *   signal           AT+CSQ (every minute when idle)         +CSQ: <rssi>,<ber> OK
 *
 * One command at a time, each with a timeout on the injected clock. A timeout leaves the modem
 * in an unknown state (a late OK would answer the next command), so the port is closed and
 * reopened: the set-up re-synchronises. An unplug (the transport closes) or a set-up ERROR
 * reopens it with a doubling backoff. A received message is deleted from the SIM only after
 * `received` resolved (the hub stored it); a message not stored stays on the SIM and is read
 * again by the next `AT+CMGL`.
 *
 * Pure helpers first (UCS2 hex, the line reader, the answer parsers), then the driver.
 */
import { Emitter, type ByteTransport } from '../protocol/index.js';
import { Timers, type Clock, type TimerHandle } from './clock.js';
import type { Logger } from './log.js';

// ---------------------------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------------------------

/** PROTOCOL 7: one message holds at most 70 characters (UCS2 code units: 140 bytes). */
export const MAX_SMS_CHARS = 70;

/** Text as UCS2 hex: big-endian UTF-16 code units, four upper-case hex digits each. */
export function toUcs2Hex(text: string): string {
  let hex = '';
  for (let i = 0; i < text.length; i++) hex += text.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0');
  return hex;
}

/** UCS2 hex back to text; undefined when `hex` is not whole code units of hex digits. */
export function fromUcs2Hex(hex: string): string | undefined {
  if (hex.length % 4 !== 0 || !/^[0-9A-Fa-f]*$/.test(hex)) return undefined;
  let text = '';
  for (let i = 0; i < hex.length; i += 4) text += String.fromCharCode(Number.parseInt(hex.slice(i, i + 4), 16));
  return text;
}

/** A phone number field: UCS2 hex when it decodes to a number, else as the modem gave it. */
export function decodeNumber(field: string): string {
  const decoded = fromUcs2Hex(field);
  return decoded !== undefined && decoded !== '' && /^\+?[0-9]+$/.test(decoded) ? decoded : field;
}

/** A message's text: UCS2 hex as asked for with `AT+CSCS="UCS2"`; a modem that sent plain text is taken as it is. */
export function decodeText(field: string): string {
  return fromUcs2Hex(field) ?? field;
}

/**
 * A mainland number as the hub keeps contacts (`13812345678`): a `+86`, `0086` or `86` prefix
 * before an 11-digit mobile number is dropped; anything else is returned with separators removed.
 */
export function normalizeNumber(number: string): string {
  const digits = number.replace(/[\s()-]/g, '');
  const m = /^(?:\+86|0086|86)(1[3-9][0-9]{9})$/.exec(digits);
  return m ? m[1]! : digits;
}

/**
 * The service centre time stamp of a received message (`yy/MM/dd,hh:mm:ss±zz`, zz in quarter
 * hours) as epoch ms; undefined when it is not one.
 */
export function parseScts(scts: string): number | undefined {
  const m = /^(\d\d)\/(\d\d)\/(\d\d),(\d\d):(\d\d):(\d\d)([+-])(\d\d)$/.exec(scts.trim());
  if (!m) return undefined;
  const [, yy, mo, dd, hh, mi, ss, sign, zz] = m as unknown as string[];
  const month = Number(mo);
  const day = Number(dd);
  if (month < 1 || month > 12 || day < 1 || day > 31 || Number(hh) > 23 || Number(mi) > 59 || Number(ss) > 59) return undefined;
  const local = Date.UTC(2000 + Number(yy), month - 1, day, Number(hh), Number(mi), Number(ss));
  return local - (sign === '-' ? -1 : 1) * Number(zz) * 15 * 60_000;
}

/** The comma-separated fields of an answer line after its `+XXXX:` prefix; quotes removed, commas inside quotes kept. */
export function answerFields(rest: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (const c of rest) {
    if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) {
      fields.push(field.trim());
      field = '';
    } else field += c;
  }
  fields.push(field.trim());
  return fields;
}

/** A message read from the SIM. */
export interface ReceivedSms {
  /** Storage index on the SIM (`+CMTI`, `+CMGL`). */
  index: number;
  /** The sender, decoded, as the network gave it (`+8613812345678`). */
  number: string;
  text: string;
  /** The service centre time stamp as sent (`26/12/01,10:15:00+32`), '' if none. */
  scts: string;
}

/** `AT+CMGR=<index>`'s answer lines (without OK): the message, or undefined for an empty slot. */
export function parseCmgr(index: number, lines: readonly string[]): ReceivedSms | undefined {
  const at = lines.findIndex((l) => l.startsWith('+CMGR:'));
  if (at < 0) return undefined;
  const [, number = '', , scts = ''] = answerFields(lines[at]!.slice(6));
  const body = lines.slice(at + 1).join('\n');
  return { index, number: decodeNumber(number), text: decodeText(body), scts };
}

/** `AT+CMGL="ALL"`'s answer lines: each `+CMGL:` header and the text line after it. */
export function parseCmgl(lines: readonly string[]): ReceivedSms[] {
  const messages: ReceivedSms[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.startsWith('+CMGL:')) continue;
    const [index = '', , number = '', , scts = ''] = answerFields(line.slice(6));
    const next = lines[i + 1];
    const body = next !== undefined && !next.startsWith('+CMGL:') ? next : '';
    if (body === next) i++;
    if (/^\d+$/.test(index)) messages.push({ index: Number(index), number: decodeNumber(number), text: decodeText(body), scts });
  }
  return messages;
}

/** `AT+CSQ`: rssi 0..31 (99 unknown) and the dBm it stands for (−113 + 2·rssi), or undefined. */
export function parseCsq(lines: readonly string[]): { rssi: number; dbm: number | null } | undefined {
  const line = lines.find((l) => l.startsWith('+CSQ:'));
  const m = line ? /^\+CSQ:\s*(\d+)\s*,\s*(\d+)/.exec(line) : null;
  if (!m) return undefined;
  const rssi = Number(m[1]);
  if (rssi === 99) return { rssi, dbm: null };
  if (rssi > 31) return undefined;
  return { rssi, dbm: -113 + 2 * rssi };
}

/** What the line reader found in the modem's bytes. */
export type AtToken = { kind: 'line'; text: string } | { kind: 'prompt' };

/** Longest answer line kept; a longer run of bytes without a line end is noise. */
const MAX_LINE_CHARS = 4096;

/**
 * Splits the modem's byte stream into answer lines (CR or LF ends one; empty lines vanish) and
 * the `> ` prompt of `AT+CMGS`, which has no line end. In UCS2 mode every answer is printable
 * ASCII: other bytes are noise and dropped (counted), as is an over-long line. Never throws.
 */
export class AtLineReader {
  /** Bytes dropped as noise. */
  dropped = 0;
  private buffer = '';
  private overflow = false;

  push(chunk: Uint8Array): AtToken[] {
    const tokens: AtToken[] = [];
    for (const byte of chunk) {
      if (byte === 0x0d || byte === 0x0a) {
        const text = this.buffer.trim();
        if (text !== '' && !this.overflow) tokens.push({ kind: 'line', text });
        this.buffer = '';
        this.overflow = false;
        continue;
      }
      if (byte < 0x20 || byte > 0x7e) {
        this.dropped++;
        continue;
      }
      if (this.overflow) {
        this.dropped++;
        continue;
      }
      this.buffer += String.fromCharCode(byte);
      if (this.buffer.length > MAX_LINE_CHARS) {
        this.dropped += this.buffer.length;
        this.buffer = '';
        this.overflow = true;
      } else if (this.buffer === '> ') {
        tokens.push({ kind: 'prompt' });
        this.buffer = '';
      }
    }
    // a modem that prompts with a bare '>' (no space) is waiting too
    if (this.buffer === '>') {
      tokens.push({ kind: 'prompt' });
      this.buffer = '';
    }
    return tokens;
  }

  reset(): void {
    this.buffer = '';
    this.overflow = false;
  }
}

// ---------------------------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------------------------

/** PROTOCOL 7: the set-up, once per open, in this order. */
export const SETUP_COMMANDS = ['AT', 'ATE0', 'AT+CMGF=1', 'AT+CSCS="UCS2"', 'AT+CSMP=17,167,0,8', 'AT+CNMI=2,1,0,0,0'] as const;

const CTRL_Z = 0x1a;
const ESC = 0x1b;

export type ModemErrorCode =
  /** `ERROR` to a command. */
  | 'error'
  /** `+CMS ERROR: <n>` (the network or the SIM refused a message): `cms` holds n. */
  | 'cms'
  /** `+CME ERROR: <n>` (the equipment). */
  | 'cme'
  /** No final answer in time. */
  | 'timeout'
  /** The port closed (an unplug, or the hub stopping). */
  | 'closed'
  /** The modem is not set up (closed, opening or faulty). */
  | 'not-ready';

/** A command failed. Tell failures apart by `code`, and a send's outcome by `maybeSent`. */
export class ModemError extends Error {
  constructor(
    readonly code: ModemErrorCode,
    message: string,
    /** For `cms` and `cme`: the error number. */
    readonly number: number | null = null,
    /**
     * For a send: Ctrl-Z was written and no answer says what became of it, so the message may
     * have gone out (a timeout or an unplug while the network had it). False when the modem
     * refused it (`+CMS ERROR`) or it never got that far: sending again is then safe.
     */
    readonly maybeSent = false,
  ) {
    super(message);
    this.name = 'ModemError';
  }
}

export type ModemState = 'closed' | 'opening' | 'ready' | 'faulty';

/** What the technician sees of the modem. */
export interface ModemStatus {
  state: ModemState;
  port: string;
  /** The latest `AT+CSQ`: rssi 0..31 (99 unknown) and dBm. */
  signal: { rssi: number; dbm: number | null; at: string } | null;
  lastError: { message: string; at: string } | null;
}

export interface ModemEvents {
  state: [state: ModemState];
  /** The last command queued has finished: nothing is on the wire. */
  idle: [];
}

export interface ModemOptions {
  /** The modem's port, for the technician and the log (`sms.modem.path`). */
  port: string;
  /** Builds the transport to the modem's port; called again for every reopen. */
  connect(): ByteTransport;
  clock: Clock;
  log: Logger;
  /**
   * A message was read from the SIM: store it and resolve. The modem deletes it from the SIM
   * only then; a rejection keeps it there for the next `AT+CMGL`.
   */
  received(message: ReceivedSms): Promise<void>;
  /** The final answer to a command, ms. Default 5000. */
  commandTimeoutMs?: number;
  /** The network's answer to a message after Ctrl-Z, ms. Default 60000 (3GPP allows a minute). */
  submitTimeoutMs?: number;
  /** `AT+CMGL="ALL"` with a full SIM, ms. Default 20000. */
  listTimeoutMs?: number;
  /** Reopen backoff after an unplug, a set-up ERROR or a timeout: the first wait, doubling, ms. Default 1000. */
  reopenMinMs?: number;
  /** The longest reopen wait, ms. Default 60000. */
  reopenMaxMs?: number;
  /** `AT+CSQ` (and a retry of messages not stored) this often while idle, ms. Default 60000. */
  signalEveryMs?: number;
}

const DEFAULTS = {
  commandTimeoutMs: 5000,
  submitTimeoutMs: 60_000,
  listTimeoutMs: 20_000,
  reopenMinMs: 1000,
  reopenMaxMs: 60_000,
  signalEveryMs: 60_000,
} satisfies Partial<ModemOptions>;

/** One command on the wire, waiting for its final answer (or, for `AT+CMGS`, the prompt). */
interface Exchange {
  /** The command as written, to recognise its echo. */
  command: string;
  lines: string[];
  timer: TimerHandle | undefined;
  settle(outcome: { lines: string[] } | { prompt: true } | { error: ModemError }): void;
  wantsPrompt: boolean;
  /** Only a final answer after a line starting with this is this command's; earlier ones are left over. */
  expect: string | undefined;
  /** Ctrl-Z was written. */
  submitted: boolean;
}

/** `AT+CMGS="…"` names the command without the number: logs never carry one. */
function commandName(command: string): string {
  return /^AT\+?[A-Z]*/i.exec(command)?.[0] ?? 'AT';
}

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0) & 0x7f);

export class Modem extends Emitter<ModemEvents> {
  private readonly o: ModemOptions & typeof DEFAULTS;
  private readonly timers: Timers;
  private transport: ByteTransport | undefined;
  private readonly reader = new AtLineReader();
  private current: Exchange | undefined;
  /** Commands run one after another: each waits for the one before. */
  private chain: Promise<unknown> = Promise.resolve();
  private stateValue: ModemState = 'closed';
  private stopped = true;
  private reopenTimer: TimerHandle | undefined;
  private reopenWaitMs: number;
  private signal: ModemStatus['signal'] = null;
  private lastError: ModemStatus['lastError'] = null;
  /** SIM indexes announced by +CMTI and not yet read. */
  private readonly unread = new Set<number>();
  /** A received message could not be stored: read the SIM again at the next tick. */
  private retryInbox = false;
  private signalPending = false;
  /** Jobs queued or running in `exclusive`. */
  private jobs = 0;
  private listPending = false;
  /** Each open gets a generation; what an old transport says is ignored. */
  private generation = 0;

  constructor(options: ModemOptions) {
    super();
    this.o = { ...DEFAULTS, ...options };
    this.timers = new Timers(options.clock);
    this.reopenWaitMs = this.o.reopenMinMs;
  }

  get state(): ModemState {
    return this.stateValue;
  }

  status(): ModemStatus {
    return { state: this.stateValue, port: this.o.port, signal: this.signal && { ...this.signal }, lastError: this.lastError && { ...this.lastError } };
  }

  /** Opens the port and keeps it open until `stop`. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.timers.every(this.o.signalEveryMs, () => this.tick());
    void this.open();
  }

  /** Closes the port; a command on the wire fails with `closed` (a send then `maybeSent` if Ctrl-Z was written). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.clearAll();
    this.reopenTimer = undefined;
    this.setState('closed');
    await this.dropTransport(new ModemError('closed', 'the hub is stopping', null));
  }

  /**
   * Sends one message (at most 70 characters). `beforeSubmit` runs at the prompt, before the
   * text and Ctrl-Z are written (the caller records that the message may now go out); if it
   * rejects, the send is cancelled with ESC. Resolves with the message reference.
   */
  send(number: string, text: string, beforeSubmit?: () => Promise<void>): Promise<{ mr: number }> {
    if (!/^\+?[0-9]{3,20}$/.test(number)) return Promise.reject(new TypeError('number: expected 3 to 20 digits, optionally after +'));
    if (text.length === 0 || text.length > MAX_SMS_CHARS) return Promise.reject(new TypeError(`text: 1 to ${MAX_SMS_CHARS} characters (UCS2 code units), got ${text.length}`));
    return this.exclusive(async () => {
      this.requireReady();
      const command = `AT+CMGS="${toUcs2Hex(number)}"`;
      await this.exchange(command, { timeoutMs: this.o.commandTimeoutMs, wantsPrompt: true });
      try {
        await beforeSubmit?.();
      } catch (error) {
        // leave text mode without sending; the modem answers OK or nothing, so realign as at open
        await this.write(Uint8Array.of(ESC)).catch(() => {});
        await this.exchange('AT+CSQ', { timeoutMs: this.o.commandTimeoutMs, expect: '+CSQ:' }).then(
          (lines) => this.noteSignal(lines),
          () => {},
        );
        throw error;
      }
      const lines = await this.exchange(`${toUcs2Hex(text)}${String.fromCharCode(CTRL_Z)}`, { timeoutMs: this.o.submitTimeoutMs, submit: true });
      const mr = /^\+CMGS:\s*(\d+)/.exec(lines.find((l) => l.startsWith('+CMGS:')) ?? '');
      return { mr: mr ? Number(mr[1]) : -1 };
    });
  }

  // ---- life cycle ----

  private async open(): Promise<void> {
    if (this.stopped) return;
    this.reopenTimer = undefined;
    this.setState('opening');
    const generation = ++this.generation;
    const transport = this.o.connect();
    this.transport = transport;
    this.reader.reset();
    transport.on('data', (chunk) => generation === this.generation && this.onData(chunk));
    transport.on('close', (error) => {
      if (generation !== this.generation || this.stopped) return;
      this.fault(`the port closed${error ? `: ${error.message}` : ''}`, false);
    });
    try {
      await transport.open();
    } catch (error) {
      // the port is not there (unplugged): closed, not faulty
      if (generation === this.generation) this.fault(`cannot open ${transport.name}: ${(error as Error).message}`, false);
      return;
    }
    if (generation !== this.generation || this.stopped) return;
    try {
      await this.exclusive(async () => {
        // a prompt left waiting by a hub that died mid-send would take our commands as text
        await this.write(Uint8Array.of(ESC));
        for (const command of SETUP_COMMANDS) await this.exchange(command, { timeoutMs: this.o.commandTimeoutMs });
        // Realign: a final answer left over (to the ESC, or to a command of a session that
        // ended) has shifted every OK above by one; only the OK after +CSQ's own line is taken.
        this.noteSignal(await this.exchange('AT+CSQ', { timeoutMs: this.o.commandTimeoutMs, expect: '+CSQ:' }));
      });
    } catch (error) {
      if (generation === this.generation) this.fault(`set-up failed: ${(error as Error).message}`, true);
      return;
    }
    if (generation !== this.generation || this.stopped) return;
    this.reopenWaitMs = this.o.reopenMinMs;
    this.o.log({ level: 'info', msg: 'modem ready', port: this.o.port });
    this.setState('ready');
    void this.readAll();
  }

  /**
   * The modem went away or misbehaved: drop the port and reopen it after the backoff. `faulty`
   * when it answered wrong (a set-up ERROR, a timeout), `closed` when the port itself closed.
   */
  private fault(message: string, faulty: boolean): void {
    if (this.stopped) return;
    this.lastError = { message, at: new Date(this.o.clock.now()).toISOString() };
    this.o.log({ level: 'warn', msg: 'modem unavailable', port: this.o.port, error: message, retryInMs: this.reopenWaitMs });
    void this.dropTransport(new ModemError('closed', message));
    this.setState(faulty ? 'faulty' : 'closed');
    if (this.reopenTimer) return;
    const wait = this.reopenWaitMs;
    this.reopenWaitMs = Math.min(this.o.reopenMaxMs, this.reopenWaitMs * 2);
    this.reopenTimer = this.timers.after(wait, () => void this.open());
  }

  private async dropTransport(error: ModemError): Promise<void> {
    this.generation++;
    const transport = this.transport;
    this.transport = undefined;
    this.current?.settle({ error: this.current.submitted ? new ModemError(error.code, error.message, null, true) : error });
    await transport?.close().catch(() => {});
  }

  private setState(state: ModemState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    this.emit('state', state);
  }

  private requireReady(): void {
    if (this.stateValue !== 'ready') throw new ModemError('not-ready', `the modem is ${this.stateValue}`);
  }

  // ---- periodic work ----

  private tick(): void {
    if (this.stateValue !== 'ready') return;
    void this.readSignal();
    if (this.retryInbox) void this.readAll();
  }

  private async readSignal(): Promise<void> {
    if (this.signalPending) return; // a slow modem gets one at a time, not a pile
    this.signalPending = true;
    try {
      this.noteSignal(await this.exclusive(() => (this.requireReady(), this.exchange('AT+CSQ', { timeoutMs: this.o.commandTimeoutMs }))));
    } catch (error) {
      this.noteError('AT+CSQ', error);
    } finally {
      this.signalPending = false;
    }
  }

  private noteSignal(lines: string[]): void {
    const csq = parseCsq(lines);
    if (csq) this.signal = { ...csq, at: new Date(this.o.clock.now()).toISOString() };
  }

  /** Reads (and deletes after storing) everything waiting on the SIM. */
  private async readAll(): Promise<void> {
    if (this.listPending) return;
    this.listPending = true;
    this.retryInbox = false;
    try {
      await this.exclusive(async () => {
        this.requireReady();
        const list = parseCmgl(await this.exchange('AT+CMGL="ALL"', { timeoutMs: this.o.listTimeoutMs }));
        for (const message of list) {
          this.unread.delete(message.index);
          await this.take(message);
        }
      });
    } catch (error) {
      this.noteError('AT+CMGL', error);
    } finally {
      this.listPending = false;
    }
  }

  /** +CMTI: read that index, store it, delete it. */
  private async readIndex(index: number): Promise<void> {
    try {
      await this.exclusive(async () => {
        if (!this.unread.delete(index)) return; // read meanwhile by AT+CMGL
        this.requireReady();
        const message = parseCmgr(index, await this.exchange(`AT+CMGR=${index}`, { timeoutMs: this.o.commandTimeoutMs }));
        if (message) await this.take(message);
      });
    } catch (error) {
      this.noteError('AT+CMGR', error);
    }
  }

  /** Hands a message to the hub, and deletes it from the SIM once the hub has it. */
  private async take(message: ReceivedSms): Promise<void> {
    try {
      await this.o.received(message);
    } catch (error) {
      this.retryInbox = true; // kept on the SIM: read again at the next tick or open
      this.o.log({ level: 'warn', msg: 'received SMS not stored yet; kept on the SIM', index: message.index, error: (error as Error).message });
      return;
    }
    await this.exchange(`AT+CMGD=${message.index}`, { timeoutMs: this.o.commandTimeoutMs });
  }

  private noteError(what: string, error: unknown): void {
    if (error instanceof ModemError && (error.code === 'not-ready' || error.code === 'closed')) return; // the reopen reports it
    const message = `${what}: ${(error as Error).message}`;
    this.lastError = { message, at: new Date(this.o.clock.now()).toISOString() };
    this.o.log({ level: 'warn', msg: 'modem command failed', error: message });
  }

  // ---- the wire ----

  /** Nothing on the wire and nothing waiting for it (tests move a fake clock only then). */
  get idle(): boolean {
    return this.jobs === 0;
  }

  /** Runs `job` when every job before it has finished. */
  private exclusive<T>(job: () => Promise<T>): Promise<T> {
    this.jobs++;
    const run = this.chain.then(job, job);
    this.chain = run
      .catch(() => {})
      .finally(() => {
        if (--this.jobs === 0) this.emit('idle');
      });
    return run;
  }

  private write(bytes: Uint8Array): Promise<void> {
    const transport = this.transport;
    if (!transport) return Promise.reject(new ModemError('closed', 'the port is closed'));
    return transport.write(bytes);
  }

  /**
   * Writes one command (CR appended, or the text and Ctrl-Z of a send) and waits for its final
   * answer: the lines before OK, or for `wantsPrompt` the `> ` prompt. A timeout reopens the
   * port (a late answer would otherwise be taken for the next command's).
   */
  private exchange(command: string, options: { timeoutMs: number; wantsPrompt?: boolean; submit?: boolean; expect?: string }): Promise<string[]> {
    const name = options.submit ? 'the message text' : commandName(command);
    return new Promise<string[]>((resolve, reject) => {
      const exchange: Exchange = {
        command,
        lines: [],
        timer: undefined,
        wantsPrompt: options.wantsPrompt ?? false,
        expect: options.expect,
        submitted: false,
        settle: (outcome) => {
          if (this.current !== exchange) return;
          this.current = undefined;
          this.o.clock.clear(exchange.timer);
          if ('error' in outcome) reject(outcome.error);
          else resolve('lines' in outcome ? outcome.lines : []);
        },
      };
      this.current = exchange;
      exchange.timer = this.o.clock.setTimeout(() => {
        const error = new ModemError('timeout', `no answer to ${name} within ${options.timeoutMs} ms`, null, exchange.submitted);
        exchange.settle({ error });
        this.fault(error.message, true);
      }, options.timeoutMs);
      const bytes = options.submit ? ascii(command) : ascii(`${command}\r`);
      if (options.submit) exchange.submitted = true; // from here on the modem may send it
      this.write(bytes).catch((error: Error) => exchange.settle({ error: new ModemError('closed', `cannot write ${name}: ${error.message}`, null, exchange.submitted) }));
    });
  }

  private onData(chunk: Uint8Array): void {
    for (const token of this.reader.push(chunk)) {
      if (token.kind === 'prompt') {
        if (this.current?.wantsPrompt) this.current.settle({ prompt: true });
        continue;
      }
      this.onLine(token.text);
    }
  }

  private onLine(line: string): void {
    const cmti = /^\+CMTI:\s*"?([A-Z]*)"?\s*,\s*(\d+)/.exec(line);
    if (cmti) {
      const index = Number(cmti[2]);
      if (!this.unread.has(index)) {
        this.unread.add(index);
        void this.readIndex(index);
      }
      return;
    }
    const current = this.current;
    if (!current) return; // an unsolicited line (RING, RDY, SMS Ready...) or noise
    if (line === current.command) return; // echo, before ATE0 takes effect
    const final = line === 'OK' || line === 'ERROR' || line.startsWith('+CMS ERROR:') || line.startsWith('+CME ERROR:');
    if (final && current.expect && !current.lines.some((l) => l.startsWith(current.expect!))) return; // left over
    if (line === 'OK') {
      if (current.wantsPrompt) current.settle({ error: new ModemError('error', 'OK without a prompt') });
      else current.settle({ lines: current.lines });
      return;
    }
    if (line === 'ERROR' || line === 'NO CARRIER') {
      current.settle({ error: new ModemError('error', `${current.wantsPrompt || current.submitted ? 'AT+CMGS' : commandName(current.command)}: ERROR`) });
      return;
    }
    const cms = /^\+CMS ERROR:\s*(\d+)/.exec(line);
    if (cms) {
      current.settle({ error: new ModemError('cms', `+CMS ERROR: ${cms[1]}`, Number(cms[1])) });
      return;
    }
    const cme = /^\+CME ERROR:\s*(.+)$/.exec(line);
    if (cme) {
      current.settle({ error: new ModemError('cme', `+CME ERROR: ${cme[1]}`, /^\d+$/.test(cme[1]!) ? Number(cme[1]) : null) });
      return;
    }
    current.lines.push(line);
  }
}
