/**
 * The device's transport edges (PROTOCOL 1.2): its serial port through serialport, or a Linux
 * USB HID gadget. The transports themselves are shared with the hub from `protocol/transport`.
 */
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { SerialPort } from 'serialport';
import { HID_REPORT_BYTES, HidByteTransport, SerialTransport } from '../protocol/index.js';

export type { ByteTransport, ByteTransportEvents, ReportIO } from '../protocol/index.js';
export { HidByteTransport } from '../protocol/index.js';

/** The device's serial port (a UART, USB CDC-ACM, or a pty in tests). */
export function serialTransport(path: string, baudRate = 115200): SerialTransport {
  return new SerialTransport(path, () => new SerialPort({ path, baudRate, autoOpen: false }));
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
