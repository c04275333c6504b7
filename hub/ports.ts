/**
 * The hub's port edge (PROTOCOL 1.2): opening a serial port, and finding evaluators by USB
 * vendor/product id: serial ports through `SerialPort.list()` (which needs udevadm, Debian
 * `udev`) and HID devices through node-hid (libusb/hidraw). The one file that binds the real
 * drivers; the links module receives a `PortOpener` and tests pass their own.
 */
import { SerialPort } from 'serialport';
import { HID_REPORT_BYTES, HID_USAGE_PAGE, HidByteTransport, SerialTransport, type ByteTransport, type ReportIO } from '../protocol/index.js';
import { usbIds, type HubConfig } from './config.js';

/** What the links module needs from the machine's ports. */
export interface PortOpener {
  serial(path: string, baudRate: number): ByteTransport;
  /** Paths of serial ports with an evaluator's USB ids. */
  discoverSerial(): Promise<string[]>;
  /** HID evaluators, not yet opened. */
  discoverHid(): Promise<ByteTransport[]>;
}

/** The real ports of this machine. */
export function machinePorts(config: HubConfig): PortOpener {
  return {
    // A 4 KiB read pool per port, not serialport's 64 KiB: frames are under 300 bytes and a
    // port carries at most 11.5 KB/s; 64 evaluators' 64 KiB pools were 4 MiB of the idle hub.
    serial: (path, baudRate) => new SerialTransport(path, () => new SerialPort({ path, baudRate, autoOpen: false, highWaterMark: 4096 })),
    discoverSerial: () => discoverSerial(config),
    discoverHid: () => discoverHid(config),
  };
}

const hex4 = (n: number) => n.toString(16).padStart(4, '0');

export async function discoverSerial(config: HubConfig): Promise<string[]> {
  const wanted = usbIds(config).serial.map((id) => `${hex4(id.vendorId)}:${hex4(id.productId)}`);
  const ports = await SerialPort.list();
  return ports.filter((p) => p.vendorId && p.productId && wanted.includes(`${p.vendorId.toLowerCase()}:${p.productId.toLowerCase()}`)).map((p) => p.path);
}

export async function discoverHid(config: HubConfig): Promise<HidByteTransport[]> {
  const HID = await import('node-hid');
  const wanted = usbIds(config).hid;
  const devices = await HID.devicesAsync();
  return devices
    .filter((d) => d.path && wanted.some((w) => w.vendorId === d.vendorId && w.productId === d.productId) && (d.usagePage === undefined || d.usagePage === HID_USAGE_PAGE))
    .map((d) => new HidByteTransport(`hid:${d.path}`, () => openHid(HID, d.path!)));
}

/** node-hid's async device as report I/O: reads queue 'data' events; writes add the report-ID byte. */
async function openHid(HID: typeof import('node-hid'), path: string): Promise<ReportIO> {
  const device = await HID.HIDAsync.open(path);
  const queue: (Uint8Array | null)[] = [];
  const waiters: ((r: Uint8Array | null) => void)[] = [];
  const put = (r: Uint8Array | null) => {
    const w = waiters.shift();
    if (w) w(r);
    else queue.push(r);
  };
  device.on('data', (data: Buffer) => put(new Uint8Array(data.subarray(0, HID_REPORT_BYTES))));
  device.on('error', () => put(null));
  return {
    read: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((resolve) => waiters.push(resolve))),
    write: async (report) => {
      await device.write([0x00, ...report]); // no report IDs: node-hid wants a leading 0x00
    },
    close: async () => {
      await device.close();
      put(null);
    },
  };
}
