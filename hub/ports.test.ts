/** The real discovery edges load and answer on this machine (no evaluator is plugged in here). */
import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
import { discoverHid, discoverSerial } from './ports.js';
import { requireCommand } from '../simulators/pty.js';

const config = parseConfig({ hallId: 'H', adminToken: 'hall-test-token-7f3a9c' });

describe('USB discovery', () => {
  it('lists serial ports through serialport (needs udevadm from Debian udev)', async () => {
    requireCommand('udevadm', 'udev');
    const paths = await discoverSerial(config);
    expect(Array.isArray(paths)).toBe(true);
    expect(paths.every((p) => p.startsWith('/dev/'))).toBe(true);
  });

  it('loads node-hid\'s real binding and lists HID devices (needs libusb-1.0-0)', async () => {
    const found = await discoverHid(config).catch((error: Error) => {
      throw new Error(`node-hid did not load (${error.message}): run \`apt-get install -y libusb-1.0-0\``);
    });
    expect(Array.isArray(found)).toBe(true);
    expect(found.every((t) => t.name.startsWith('hid:'))).toBe(true);
  });
});
