/**
 * A real evaluator process (`npm run device`, simulated board) against a test hub peer over a
 * real socat pseudo-terminal pair: the link life cycle of PROTOCOL 1.4 end to end.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, LINK } from '../protocol/index.js';
import { serialTransport } from '../device/transport.js';
import { HubPeer, type ReceivedPacket } from '../simulators/hub-peer.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { ptyPair, runTs, type PtyPair, type RunningProcess } from './support/processes.js';

const cleanups = cleanupsAfterEach();

async function setup(shouldAck?: (p: ReceivedPacket, duplicate: boolean) => boolean) {
  const pty: PtyPair = await ptyPair();
  cleanups.push(() => pty.close());
  const stateDir = tempDir(cleanups, 'device');
  const peer = new HubPeer(serialTransport(pty.b), {
    settings: { ...DEFAULT_SETTINGS, thanksS: 1 },
    ...(shouldAck ? { shouldAck: (p, d) => shouldAck(p as ReceivedPacket, d) } : {}),
  });
  await peer.open();
  cleanups.push(() => peer.close());
  const device: RunningProcess = runTs('device/cli.ts', ['--port', pty.a, '--id', 'HCP5-PTY01', '--state-dir', stateDir, '--log', 'json']);
  cleanups.push(() => {
    if (device.child.exitCode === null) device.child.kill('SIGKILL');
  });
  return { peer, device, stateDir };
}

const isEval = (p: ReceivedPacket) => p.message.type === 'EVAL';

describe('evaluator process over a pty', () => {
  it('HELLO, WELCOME, SERVICE, press, EVAL, ACK; a lost ACK is retransmitted and seen as a duplicate', async () => {
    let lostOnce = false;
    const { peer, device } = await setup((p) => {
      if (p.message.type === 'EVAL' && !lostOnce) {
        lostOnce = true;
        return false; // the first ACK of the EVAL is lost
      }
      return true;
    });
    const hello = await peer.next((p) => p.message.type === 'HELLO', 15_000, 'HELLO');
    expect(hello.message).toMatchObject({ deviceId: 'HCP5-PTY01', protoVersion: 1 });
    await device.waitLog((e) => e['msg'] === 'state' && e['state'] === 'idle', 10_000, 'the device to be on duty');
    // The very first HELLO is welcomed: the 0x00 sent before HELLO and WELCOME resynchronises
    // both decoders even though each side opened its port at a different time.
    const linkUp = device.logs.findIndex((e) => e['msg'] === 'link up');
    expect(device.logs.slice(0, linkUp).filter((e) => e['msg'] === 'frame out' && e['type'] === 'HELLO')).toHaveLength(1);
    expect(peer.received.filter((p) => p.message.type === 'NACK')).toEqual([]);

    const mark = device.logs.length;
    peer.service('430300-20261127-0042');
    await device.waitLog((e) => e['msg'] === 'state' && e['state'] === 'prompt', 5000, 'the prompt');
    device.send('press 4');
    const first = await peer.next(isEval, 5000, 'EVAL');
    expect(first.message).toMatchObject({ type: 'EVAL', level: 4, origin: 1, txnId: '430300-20261127-0042', counter: 1 });
    expect(first.duplicate).toBe(false);
    const retry = await peer.next(isEval, 5000, 'the retransmitted EVAL');
    expect(retry.seq).toBe(first.seq);
    expect(retry.message).toEqual(first.message);
    expect(retry.duplicate).toBe(true);
    expect(retry.at - first.at).toBeGreaterThanOrEqual(LINK.retransmitInitialMs - 50);
    // once ACKed, the device forgets it: no more retransmissions, queue empty
    await device.waitLog((e) => device.logs.indexOf(e) > mark && e['msg'] === 'state' && e['state'] === 'idle', 5000, 'back to idle after thanks');
    device.send('quit');
    expect(await device.exited(10_000)).toBe(0);
    expect(peer.received.filter((p) => isEval(p) && p.seq === first.seq)).toHaveLength(2);
  });

  it('after an outage the backlog drains oldest first, never more than 8 unacknowledged', async () => {
    let holdAcks = false;
    const { peer, device } = await setup(() => !holdAcks);
    await peer.next((p) => p.message.type === 'HELLO', 15_000, 'HELLO');
    await device.waitLog((e) => e['msg'] === 'state' && e['state'] === 'idle', 10_000, 'the device to be on duty');

    peer.silent = true; // the cable is pulled
    await device.waitLog((e) => e['msg'] === 'link down', 10_000, 'the device to notice the outage');
    const ratings = 10;
    for (let i = 0; i < ratings; i++) {
      const mark = device.logs.length;
      device.send('invite');
      await device.waitLog((e) => device.logs.indexOf(e) >= mark && e['msg'] === 'state' && e['state'] === 'prompt', 5000, `prompt ${i}`);
      device.send(`press ${(i % 5) + 1}`);
      await device.waitLog((e) => device.logs.indexOf(e) >= mark && e['msg'] === 'state' && e['state'] === 'idle', 5000, `thanks ${i} to end`);
    }

    holdAcks = true; // watch the window: nothing is acknowledged at first
    const before = peer.received.length;
    peer.silent = false;
    // The next HELLO (every 2 s) gets a WELCOME; the backlog follows.
    const firstRetry = await peer.next((p) => p.duplicate, 15_000, 'the first retransmission of the backlog');
    const inFlight = new Set(peer.received.slice(before).filter((p) => p.seq > 0 && p.message.type !== 'ACK' && p.at < firstRetry.at).map((p) => p.seq));
    expect(inFlight.size).toBe(LINK.window);

    holdAcks = false;
    // Drain check: every queued EVAL arrived, oldest (lowest counter) first, each counter once.
    await waitUntilEvals(peer, ratings, 20_000);
    const counters = firstArrivals(peer.received.slice(before)).filter(isEval).map((p) => (p.message as { counter: number }).counter);
    expect(counters).toEqual(Array.from({ length: ratings }, (_, i) => i + 1));
    device.send('quit');
    expect(await device.exited(10_000)).toBe(0);
  });
});

/** First arrival of each distinct message (a retransmission repeats seq and content). */
function firstArrivals(packets: ReceivedPacket[]): ReceivedPacket[] {
  const seen = new Set<string>();
  return packets.filter((p) => {
    const key = JSON.stringify(p.message);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

async function waitUntilEvals(peer: HubPeer, count: number, ms: number): Promise<void> {
  const distinct = () => new Set(peer.received.filter(isEval).map((p) => (p.message as { counter: number }).counter)).size;
  if (distinct() >= count) return;
  await peer.next(() => distinct() >= count, ms, `${count} distinct EVALs`);
}
