/**
 * The `ByteTransport` contract (protocol/transport.ts) against each transport the evaluator
 * link runs over: the in-memory pipe of fast tests and demos, the serial transport over a real
 * pseudo-terminal pair from socat (killing socat is the unplug), and the HID byte pipe over
 * 64-byte reports.
 */
import { describe, expect, it } from 'vitest';
import { serialTransport } from '../device/transport.js';
import { HidByteTransport } from '../protocol/index.js';
import { bytePipePair, reportPipePair } from '../simulators/memory-link.js';
import { byteTransportContract } from './support/byte-transport-contract.js';
import { ptyPair } from './support/processes.js';

byteTransportContract('memory byte pipe (simulators/memory-link)', async (cleanups) => {
  const pipe = bytePipePair('contract');
  cleanups.push(
    () => pipe.a.close(),
    () => pipe.b.close(),
  );
  return { a: pipe.a, b: pipe.b, unplug: () => pipe.b.close() };
});

byteTransportContract('SerialTransport over a socat pty pair', async (cleanups) => {
  const pty = await ptyPair();
  cleanups.push(() => pty.close());
  const a = serialTransport(pty.a);
  const b = serialTransport(pty.b);
  cleanups.push(
    () => a.close(),
    () => b.close(),
  );
  return { a, b, unplug: () => pty.close() };
});

byteTransportContract('HidByteTransport over a memory report pipe', async (cleanups) => {
  const pipe = reportPipePair();
  const a = new HidByteTransport('hid:a', async () => pipe.a);
  const b = new HidByteTransport('hid:b', async () => pipe.b);
  cleanups.push(
    () => a.close(),
    () => b.close(),
  );
  // the report stream ends: what a host sees when the evaluator is unplugged
  return { a, b, unplug: () => pipe.b.close() };
});

describe('memory byte pipe', () => {
  it('hands bytes over in pieces that have nothing to do with the writes, as a serial port does', async () => {
    const pipe = bytePipePair('pieces');
    await Promise.all([pipe.a.open(), pipe.b.open()]);
    const chunks: number[] = [];
    pipe.b.on('data', (chunk) => chunks.push(chunk.length));
    await Promise.all([pipe.a.write(new Uint8Array(300)), pipe.a.write(new Uint8Array(5)), pipe.a.write(new Uint8Array(5))]);
    await pipe.a.close();
    expect(chunks.reduce((n, c) => n + c, 0)).toBe(310);
    expect(chunks.length).toBeGreaterThan(3); // the 300 bytes cut apart
    expect(chunks.slice(0, 3)).not.toEqual([300, 5, 5]);
  });
});
