/**
 * Byte transports of the evaluator link (PROTOCOL 1.2): a serial port (USB CDC-ACM or UART)
 * or a USB HID byte pipe. One small promise interface; the firmware never knows which.
 */
import { EventEmitter } from 'node:events';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { SerialPort } from 'serialport';
import { HID_REPORT_BYTES, FrameError, packReports, unpackReport } from '../protocol/index.js';

export interface ByteTransportEvents {
  data: [chunk: Uint8Array];
  /** The transport closed; `error` if it was not asked to (an unplug, say). */
  close: [error?: Error];
}

export interface ByteTransport extends EventEmitter<ByteTransportEvents> {
  /** A name for logs: the port path. */
  readonly name: string;
  open(): Promise<void>;
  /** Resolves when the bytes are handed to the OS; writes are queued, never interleaved. */
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export class SerialTransport extends EventEmitter<ByteTransportEvents> implements ByteTransport {
  private readonly port: SerialPort;
  private closing = false;

  constructor(
    readonly name: string,
    baudRate = 115200,
  ) {
    super();
    this.port = new SerialPort({ path: name, baudRate, autoOpen: false });
    this.port.on('data', (chunk: Buffer) => this.emit('data', chunk));
    this.port.on('close', (error?: Error | null) => this.emit('close', this.closing ? undefined : (error ?? new Error(`${name} closed`))));
    this.port.on('error', () => {}); // reported through write/open rejections and 'close'
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => this.port.open((error) => (error ? reject(error) : resolve())));
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.port.write(Buffer.from(bytes), (error) => (error ? reject(error) : resolve()));
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
export class HidByteTransport extends EventEmitter<ByteTransportEvents> implements ByteTransport {
  badReports = 0;
  private io: ReportIO | undefined;
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

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.io) throw new Error(`${this.name} is not open`);
    for (const report of packReports(bytes)) await this.io.write(report);
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

/** A Linux USB HID gadget (`/dev/hidg0`): what an evaluator board enumerates as. */
export function hidGadget(path: string): HidByteTransport {
  return new HidByteTransport(path, async () => {
    const file: FileHandle = await openFile(path, 'r+');
    return {
      async read() {
        const buffer = new Uint8Array(HID_REPORT_BYTES);
        const { bytesRead } = await file.read(buffer, 0, HID_REPORT_BYTES, null);
        return bytesRead === 0 ? null : buffer.subarray(0, bytesRead);
      },
      async write(report) {
        await file.write(report, 0, report.length, null);
      },
      close: () => file.close(),
    };
  });
}
