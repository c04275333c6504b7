/**
 * The firmware shell with its real queue log: a press whose record cannot be written is
 * never sent (it would not survive a reboot, and its counter could come back), while a press
 * that is written is sent. Memory link to a hub peer, stub hardware.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HubPeer } from '../simulators/hub-peer.js';
import { bytePipePair } from '../simulators/memory-link.js';
import { cleanupsAfterEach, tempDir } from '../tests/support/cleanup.js';
import { Firmware, systemClock } from './firmware.js';
import type { EvaluatorHardware } from './hardware.js';
import { QueueLog, StoreError } from './queue-log.js';

const stubHardware: EvaluatorHardware = {
  onButton: () => {},
  setLed: () => {},
  beep: () => {},
  show: () => {},
  say: () => {},
  selfTest: async () => 0,
  close: () => {},
};

const cleanups = cleanupsAfterEach();

async function onDuty(failAppends: boolean) {
  const dir = tempDir(cleanups, 'fw');
  const pipe = bytePipePair();
  const peer = new HubPeer(pipe.b);
  await peer.open();
  const firmware = new Firmware({ core: { deviceId: 'HCP5-FW01' }, stateDir: dir, transport: pipe.a, hardware: stubHardware });
  cleanups.push(() => firmware.stop());
  const idle = new Promise<void>((resolve) => firmware.on('state', (s) => s === 'idle' && resolve()));
  await firmware.start();
  await idle;
  if (failAppends) {
    QueueLog.prototype.append = () => {
      throw new StoreError('io', 'queue log: disk gone');
    };
  }
  const prompted = new Promise<void>((resolve) => firmware.on('state', (s) => s === 'prompt' && resolve()));
  peer.service('T-FW');
  await prompted;
  return { firmware, peer, dir };
}

describe('Firmware and its queue log', () => {
  const realAppend = QueueLog.prototype.append;
  afterEach(() => {
    QueueLog.prototype.append = realAppend;
  });

  it('a press that is written is sent', async () => {
    const { firmware, peer } = await onDuty(false);
    const evalFrame = peer.next((p) => p.message.type === 'EVAL', 2000, 'EVAL');
    firmware.input({ kind: 'button', button: 4, down: true });
    expect((await evalFrame).message).toMatchObject({ counter: 1, level: 4, txnId: 'T-FW' });
  });

  it('a press whose record cannot be written is never sent, and the device shows a fault', async () => {
    const { firmware, peer } = await onDuty(true);
    const faulted = new Promise<void>((resolve) => firmware.on('state', (s) => s === 'fault' && resolve()));
    firmware.input({ kind: 'button', button: 4, down: true });
    await faulted;
    // a later frame proves the link carried everything the firmware sent after the press
    const pong = peer.next((p) => p.message.type === 'PONG', 2000, 'PONG');
    peer.send({ type: 'PING', senderTime: 1 });
    await pong;
    expect(peer.received.filter((p) => p.message.type === 'EVAL')).toEqual([]);
    expect(firmware.queueDepth).toBe(0);
  });
});

describe('the firmware clock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('does not step back when the wall clock does, so timers neither stall nor fire early', () => {
    const before = systemClock.now();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() - 3_600_000); // the board's wall clock corrected an hour back
    expect(Date.now()).toBeLessThan(before - 3_000_000);
    expect(systemClock.now()).toBeGreaterThanOrEqual(before);
    expect(systemClock.now() - before).toBeLessThan(60_000);
  });
});
