/**
 * A real hub process, real socat ptys and the real SQLite file: evaluators at the frame level.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AckReason, AckStatus, encodeFrame, encodeMessage } from '../protocol/index.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { ptyPair, type PtyPair } from './support/processes.js';
import { DevicePeer, startHub, type HubProcess } from './support/hub.js';

const cleanups = cleanupsAfterEach();

async function pty(): Promise<PtyPair> {
  const p = await ptyPair();
  cleanups.push(() => p.close());
  return p;
}

function dir(): string {
  const d = tempDir(cleanups, 'hub');
  return d;
}

async function hubWith(d: string, ptys: PtyPair[], windows: { id: string; deviceId: string | null }[]): Promise<HubProcess> {
  const hub = await startHub(d, {
    hallId: '430300-001',
    areaCode: '430300',
    devices: { serial: ptys.map((p) => ({ path: p.b })), discover: { serial: false, hid: false } },
    windows: windows.map((w) => ({ id: w.id, name: `${w.id} 综合受理`, deviceId: w.deviceId })),
  });
  cleanups.push(() => {
    if (hub.proc.child.exitCode === null) hub.proc.child.kill('SIGKILL');
  });
  return hub;
}

/** Reads the hub's database file from a separate connection: what is on disk, not in memory. */
function onDisk(d: string, id: string): { id: string; status: string; refusal: string | null } | undefined {
  const db = new Database(join(d, 'data', 'hub.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT id, status, refusal FROM evaluations WHERE id = ?').get(id) as { id: string; status: string; refusal: string | null } | undefined;
  } finally {
    db.close();
  }
}

describe('hub process with evaluators over ptys', () => {
  it('WELCOME, SERVICE after the API call, ACK only after commit, duplicates and 一事一评', async () => {
    const d = dir();
    const p = await pty();
    const hub = await hubWith(d, [p], [{ id: 'A01', deviceId: 'HCP5-T0001' }]);
    const peer = await DevicePeer.open(p.a, 'HCP5-T0001');
    cleanups.push(() => peer.close());
    peer.clockSkewMs = 3_600_000;
    const welcome = await peer.hello();
    expect(welcome.message).toMatchObject({ type: 'WELCOME', windowId: 'A01', windowName: 'A01 综合受理' });

    const staff = peer.next((x) => x.message.type === 'STAFF' && (x.message as { duty: number }).duty === 1, 5000, 'STAFF on duty');
    expect((await hub.api('PUT', '/api/windows/A01/staff', { duty: 'on', staffId: 'S007', staffName: '李明' })).status).toBe(200);
    expect((await staff).message).toMatchObject({ staffId: 'S007', staffName: '李明' });

    const service = peer.next((x) => x.message.type === 'SERVICE', 5000, 'SERVICE');
    expect((await hub.api('POST', '/api/windows/A01/service', { event: 'done', txnId: 'T-100', matterCode: 'M1', matterName: '营业执照' })).status).toBe(202);
    expect((await service).message).toMatchObject({ event: 2, txnId: 'T-100', matterName: '营业执照' });

    const first = await peer.evaluate({ counter: 1, level: 2, txnId: 'T-100' });
    expect(first).toMatchObject({ status: AckStatus.OK });
    // PROTOCOL 1.3: the ACK means the row is already on disk (read through another connection)
    expect(onDisk(d, 'HCP5-T0001-1')).toMatchObject({ status: 'accepted' });

    expect(await peer.evaluate({ counter: 1, level: 2, txnId: 'T-100' })).toMatchObject({ status: AckStatus.DUPLICATE });
    const second = await peer.evaluate({ counter: 2, level: 5, txnId: 'T-100' });
    expect(second).toMatchObject({ status: AckStatus.REJECTED, reason: AckReason.ALREADY_EVALUATED });
    expect(onDisk(d, 'HCP5-T0001-2')).toMatchObject({ status: 'refused', refusal: 'already-evaluated' });

    // A level-0 "not evaluated" closes nothing: a later rating of the same transaction counts.
    await hub.api('POST', '/api/windows/A01/service', { event: 'done', txnId: 'T-101' });
    expect(await peer.evaluate({ counter: 3, level: 0, txnId: 'T-101' })).toMatchObject({ status: AckStatus.OK });
    expect(await peer.evaluate({ counter: 4, level: 4, txnId: 'T-101' })).toMatchObject({ status: AckStatus.OK });

    // A device that never had time: evaluatedAt from the hub's receipt, flagged.
    expect(await peer.evaluate({ counter: 5, level: 3, deviceTime: 0 })).toMatchObject({ status: AckStatus.OK });

    const { json } = await hub.api('GET', '/api/evaluations?limit=10');
    const byId = Object.fromEntries((json.evaluations as ({ id: string } & Record<string, unknown>)[]).map((e) => [e.id, e]));
    expect(byId['HCP5-T0001-1']).toMatchObject({ level: 2, txnId: 'T-100', windowId: 'A01', staffId: 'S007', matterName: '营业执照', origin: 'prompted', channel: 'evaluator' });
    expect(byId['HCP5-T0001-3']).toMatchObject({ level: 0 });
    const unsynced = byId['HCP5-T0001-5'] as unknown as { flags: string[]; evaluatedAt: string; receivedAt: string };
    expect(unsynced.flags).toContain('clockUnsynced');
    expect(unsynced.evaluatedAt).toBe(unsynced.receivedAt);
    // This device's clock runs an hour fast; the offset learned from PING/PONG corrects it.
    const rated = byId['HCP5-T0001-1'] as unknown as { evaluatedAt: string; receivedAt: string };
    expect(Math.abs(Date.parse(rated.evaluatedAt) - Date.parse(rated.receivedAt))).toBeLessThan(5000);
    const csv = await hub.api('GET', '/api/export?format=gb39046');
    expect(csv.json).toContain('T-100,政务大厅其他终端,,');
  });

  it('an unpaired device is listed as pending and its EVAL is kept by the device (ACK 2/3)', async () => {
    const d = dir();
    const p = await pty();
    const hub = await hubWith(d, [p], [{ id: 'A01', deviceId: null }]);
    const peer = await DevicePeer.open(p.a, 'HCP5-NEW01');
    cleanups.push(() => peer.close());
    const listed = (async () => {
      for (;;) {
        await peer.send({ type: 'HELLO', deviceId: 'HCP5-NEW01', model: 'TEST', fwVersion: '1', protoVersion: 1, capabilities: 1, bootCount: 1, nextCounter: 1, queued: 1 });
        const { json } = await hub.api('GET', '/api/devices');
        const found = (json.devices as { deviceId: string; paired: boolean }[]).find((x) => x.deviceId === 'HCP5-NEW01');
        if (found) return found;
        await peer.next(() => true, 2000, 'any frame').catch(() => undefined);
      }
    })();
    expect(await listed).toMatchObject({ paired: false, kind: 'evaluator' });
    // The hub's first frame to this device (the ACK) starts with 0x00, so the device's freshly
    // opened decoder does not discard it as line noise.
    expect(await peer.evaluate({ counter: 1, level: 5 })).toMatchObject({ status: AckStatus.REJECTED, reason: AckReason.NOT_PAIRED });
    const welcome = peer.next((x) => x.message.type === 'WELCOME', 10_000, 'WELCOME after pairing');
    expect((await hub.api('POST', '/api/devices/HCP5-NEW01/pair', { windowId: 'A01' })).json).toMatchObject({ kind: 'evaluator', windowId: 'A01' });
    await welcome;
    expect(await peer.evaluate({ counter: 1, level: 5 })).toMatchObject({ status: AckStatus.OK });
  });

  it('garbage, oversized and truncated frames and a flood on one pty: the other device loses nothing', async () => {
    const d = dir();
    const good = await pty();
    const bad = await pty();
    const hub = await hubWith(d, [good, bad], [
      { id: 'A01', deviceId: 'HCP5-GOOD1' },
      { id: 'A02', deviceId: 'HCP5-BAD01' },
    ]);
    const a = await DevicePeer.open(good.a, 'HCP5-GOOD1');
    const b = await DevicePeer.open(bad.a, 'HCP5-BAD01');
    cleanups.push(() => a.close(), () => b.close());
    await a.hello();
    await b.hello();

    let flooding = true;
    const flood = (async () => {
      const oversized = new Uint8Array(2000).fill(0x41);
      const truncated = encodeMessage({ type: 'EVAL', counter: 9, level: 5, origin: 1, txnId: 'X', deviceTime: 0, promptMs: 0 }, 7).subarray(0, 20);
      const badPayload = encodeFrame({ type: 0x20, seq: 8, payload: new Uint8Array([1, 2, 3]) });
      const unknownType = encodeFrame({ type: 0x7f, seq: 0, payload: new Uint8Array(10) });
      let i = 0;
      while (flooding) {
        const noise = Uint8Array.from({ length: 300 }, (_, k) => (k * 37 + i) & 0xff);
        await b.raw(Uint8Array.from([...noise, 0, ...oversized, 0, ...truncated, 0, ...badPayload, ...unknownType]));
        i++;
      }
    })();

    const acked: number[] = [];
    for (let counter = 1; counter <= 40; counter++) {
      const ack = await a.evaluate({ counter, level: (counter % 5) + 1 });
      if (ack.status === AckStatus.OK) acked.push(counter);
    }
    flooding = false;
    await flood;
    expect(acked).toHaveLength(40);
    for (const counter of acked) expect(onDisk(d, `HCP5-GOOD1-${counter}`)).toBeDefined();

    const { json } = await hub.api('GET', '/api/devices');
    const devices = json.devices as { deviceId: string; linkErrors: number; link?: { drops: Record<string, number>; refused: number } }[];
    const flooder = devices.find((x) => x.deviceId === 'HCP5-BAD01')!;
    const victim = devices.find((x) => x.deviceId === 'HCP5-GOOD1')!;
    expect(flooder.linkErrors).toBeGreaterThan(10);
    expect(flooder.link!.drops['long']).toBeGreaterThan(0);
    expect(flooder.link!.refused).toBeGreaterThan(0);
    expect(victim.linkErrors).toBe(0);
    expect(hub.proc.child.exitCode).toBeNull();
  });
});
