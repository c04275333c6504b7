import { describe, expect, it } from 'vitest';
import { FrameDecoder, decodeMessage, encodeMessage, type Message } from '../protocol/index.js';
import { reportPipePair } from '../simulators/memory-link.js';
import { HidByteTransport } from './transport.js';

describe('HID byte pipe (PROTOCOL 1.2)', () => {
  it('carries frames across reports both ways, and skips a malformed report', async () => {
    const pipe = reportPipePair();
    const device = new HidByteTransport('hidg0', async () => pipe.a);
    const hub = new HidByteTransport('hidraw0', async () => pipe.b);
    await device.open();
    await hub.open();
    const decoder = new FrameDecoder({ synced: true });
    const got: Message[] = [];
    const all = new Promise<void>((resolve) => {
      hub.on('data', (chunk) => {
        for (const out of decoder.push(chunk)) if (out.kind === 'frame') got.push(decodeMessage(out.frame).message);
        if (got.length === 3) resolve();
      });
    });
    const messages: Message[] = [
      { type: 'HELLO', deviceId: 'HCP5-HID01', model: 'HCP-5H', fwVersion: '0.1.0', protoVersion: 1, capabilities: 3, bootCount: 1, nextCounter: 1, queued: 0 },
      { type: 'EVENT', code: 6, arg: 0, text: '开机'.repeat(10) },
      { type: 'EVAL', counter: 1, level: 5, origin: 1, txnId: 'T-1', deviceTime: 0, promptMs: 10 },
    ];
    await device.write(Uint8Array.from(messages.flatMap((m, i) => [...encodeMessage(m, i === 0 ? 0 : i)])));
    await all;
    expect(got).toEqual(messages);
    // A malformed report (count byte 0) towards the device is skipped; the next one still arrives.
    const after = new Promise<Uint8Array>((resolve) => device.once('data', resolve));
    await pipe.b.write(new Uint8Array(64));
    await hub.write(encodeMessage({ type: 'ACK', status: 0, reason: 0 }, 1));
    expect([...(await after)]).toEqual([...encodeMessage({ type: 'ACK', status: 0, reason: 0 }, 1)]);
    expect(device.badReports).toBe(1);
    await device.close();
    await hub.close();
  });

  it('refuses a report of the wrong size', async () => {
    const pipe = reportPipePair();
    await expect(pipe.a.write(new Uint8Array(65))).rejects.toThrow(/64 bytes/);
  });
});
