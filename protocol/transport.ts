/**
 * Byte transports of the evaluator link (PROTOCOL 1.2), shared by the device and the hub:
 * one small promise interface (`open`, `write`, `on('data')`, `close`) whatever carries the
 * bytes. Pure: the serial port is injected (as serialport's façade injects its binding), and
 * the HID pipe reads and writes through an injected report I/O. No Node.js import here, so
 * `protocol/` stays loadable anywhere.
 */
import { FrameError } from './errors.js';
import { packReports, unpackReport } from './hid.js';

export interface ByteTransportEvents {
  data: [chunk: Uint8Array];
  /** The transport closed; `error` if it was not asked to (an unplug, say). */
  close: [error?: Error];
}

type Listener<A extends unknown[]> = (...args: A) => void;

/** A typed event emitter without Node's `events` (only what the transports need). */
export class Emitter<Events extends { [K in keyof Events]: unknown[] }> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never[]>>>();

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as unknown as Listener<never[]>);
    return this;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    this.listeners.get(event)?.delete(listener as unknown as Listener<never[]>);
    return this;
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const wrapped: Listener<Events[K]> = (...args) => {
      this.off(event, wrapped);
      listener(...args);
    };
    return this.on(event, wrapped);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) (listener as unknown as Listener<Events[K]>)(...args);
  }
}

export interface ByteTransport {
  /** A name for logs: the port path. */
  readonly name: string;
  open(): Promise<void>;
  /** Resolves when the bytes are handed to the OS; writes are queued, never interleaved. */
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
  on<K extends keyof ByteTransportEvents>(event: K, listener: (...args: ByteTransportEvents[K]) => void): unknown;
}

/** The part of serialport's `SerialPort` a transport uses (opened with `autoOpen: false`). */
export interface SerialPortLike {
  readonly isOpen: boolean;
  open(callback: (error: Error | null) => void): void;
  write(bytes: Uint8Array, callback: (error: Error | null | undefined) => void): unknown;
  close(callback: (error?: Error | null) => void): void;
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown;
  on(event: 'close', listener: (error?: Error | null) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** A serial port (USB CDC-ACM, a UART, a pty) as a byte transport. */
export class SerialTransport extends Emitter<ByteTransportEvents> implements ByteTransport {
  private readonly port: SerialPortLike;
  private closing = false;

  constructor(
    readonly name: string,
    makePort: () => SerialPortLike,
  ) {
    super();
    this.port = makePort();
    this.port.on('data', (chunk) => this.emit('data', chunk));
    this.port.on('close', (error) => this.emit('close', this.closing ? undefined : (error ?? new Error(`${name} closed`))));
    this.port.on('error', () => {}); // reported through write/open rejections and 'close'
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => this.port.open((error) => (error ? reject(error) : resolve())));
  }

  write(bytes: Uint8Array): Promise<void> {
    // serialport holds a write to a closed port until an 'open' that never comes
    if (!this.port.isOpen) return Promise.reject(new Error(`${this.name} is not open`));
    return new Promise((resolve, reject) => {
      this.port.write(bytes, (error) => (error ? reject(error) : resolve()));
    });
  }

  close(): Promise<void> {
    this.closing = true;
    if (!this.port.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.port.close(() => resolve()));
  }
}

/** Report-level I/O: 64-byte reports in and out (a HID gadget file, or node-hid on the hub). */
export interface ReportIO {
  read(): Promise<Uint8Array | null>;
  write(report: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/**
 * The HID byte pipe: turns 64-byte reports into the serial-equivalent byte stream and back
 * (PROTOCOL 1.2). A malformed report is counted and skipped; it never stops the pipe.
 */
export class HidByteTransport extends Emitter<ByteTransportEvents> implements ByteTransport {
  badReports = 0;
  private io: ReportIO | undefined;
  private writes: Promise<void> = Promise.resolve();
  private closing = false;

  constructor(
    readonly name: string,
    private readonly openIO: () => Promise<ReportIO>,
  ) {
    super();
  }

  async open(): Promise<void> {
    this.io = await this.openIO();
    void this.pump(this.io);
  }

  /** Writes are chained: the reports of two writes never interleave. */
  write(bytes: Uint8Array): Promise<void> {
    const io = this.io;
    if (!io || this.closing) return Promise.reject(new Error(`${this.name} is not open`));
    const done = this.writes.then(async () => {
      for (const report of packReports(bytes)) await io.write(report);
    });
    this.writes = done.catch(() => {});
    return done;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.io?.close();
  }

  private async pump(io: ReportIO): Promise<void> {
    try {
      for (;;) {
        const report = await io.read();
        if (report === null) break;
        try {
          this.emit('data', unpackReport(report));
        } catch (error) {
          if (!(error instanceof FrameError)) throw error;
          this.badReports++;
        }
      }
      this.emit('close', this.closing ? undefined : new Error(`${this.name} ended`));
    } catch (error) {
      this.emit('close', this.closing ? undefined : (error as Error));
    }
  }
}
