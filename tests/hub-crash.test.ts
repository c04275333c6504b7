/**
 * Guarantee 1 and 3 (DESIGN): kill -9 of the hub process right after ACKs, many times over.
 * The device side behaves as the firmware does: it keeps everything not ACKed and resends it
 * after the hub comes back. At the end every ACKed id is in the store exactly once, and the
 * statistics rollups and sync counters (kept by triggers in each commit) match a recount of the
 * rows: no kill left a rating counted without its row or a row without its count.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AckStatus } from '../protocol/index.js';
import { stats, statsFromRows, syncSummary, syncSummaryFromRows } from '../hub/evaluations.js';
import { rollupDrift } from '../hub/rollups.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { ptyPair } from './support/processes.js';
import { DevicePeer, startHub } from './support/hub.js';

const cleanups = cleanupsAfterEach();

const ITERATIONS = 15;

describe('hub killed with SIGKILL right after ACKs', () => {
  it(`loses no ACKed evaluation and stores none twice, over ${ITERATIONS} kills`, async () => {
    const d = tempDir(cleanups, 'crash');
    const p = await ptyPair();
    cleanups.push(() => p.close());
    const config = { hallId: 'H-CRASH', devices: { serial: [{ path: p.b }], discover: { serial: false, hid: false } }, windows: [{ id: 'A01', deviceId: 'HCP5-CRASH' }] };
    const peer = await DevicePeer.open(p.a, 'HCP5-CRASH');
    cleanups.push(() => peer.close());

    const acked = new Set<number>();
    let unacked: number[] = [];
    let nextCounter = 1;
    let killsWithUnacked = 0;
    for (let round = 0; round < ITERATIONS; round++) {
      const hub = await startHub(d, config);
      cleanups.push(() => {
        if (hub.proc.child.exitCode === null) hub.proc.child.kill('SIGKILL');
      });
      await peer.hello(nextCounter);
      // A steady stream, four in flight: what was never ACKed first (oldest first), then new
      // ones, each ACK sending the next. Kill at the ACK that makes `killAfter`: the EVALs it
      // sent are on their way to the hub or in its next commit.
      const killAfter = 3 + (round % 5);
      await new Promise<void>((resolve) => {
        let seen = 0;
        const send = (counter: number) => {
          if (!unacked.includes(counter)) unacked.push(counter);
          void peer.evaluate({ counter, level: (counter % 5) + 1 }, 20_000).then(
            (ack) => {
              if (ack.status !== AckStatus.OK && ack.status !== AckStatus.DUPLICATE) return;
              acked.add(counter);
              unacked = unacked.filter((c) => c !== counter);
              seen++;
              if (seen < killAfter) send(nextCounter++);
              else if (seen === killAfter) {
                send(nextCounter++);
                resolve();
              }
            },
            () => undefined, // no ACK: the hub died first; the device keeps it
          );
        };
        const carried = [...unacked];
        carried.forEach(send);
        for (let i = carried.length; i < 4; i++) send(nextCounter++);
      });
      hub.proc.child.kill('SIGKILL');
      await hub.proc.exited(10_000);
      if (unacked.length > 0) killsWithUnacked++;
    }

    // Everything the device was told is stored must be stored, once.
    const db = new Database(join(d, 'data', 'hub.sqlite'), { readonly: true });
    const rows = db.prepare(`SELECT id FROM evaluations WHERE device_id = 'HCP5-CRASH'`).all() as { id: string }[];
    const drift = rollupDrift(db);
    const all = { from: '2000-01-01T00:00:00.000Z', to: '2100-01-01T00:00:00.000Z', by: 'window' as const, includeMisuse: true };
    const [counted, recounted] = [stats(db, all), statsFromRows(db, all)];
    const [summary, recount] = [syncSummary(db), syncSummaryFromRows(db)];
    db.close();
    const stored = rows.map((r) => Number(r.id.split('-').pop()));
    expect(acked.size).toBeGreaterThanOrEqual(ITERATIONS * 3);
    expect(killsWithUnacked, 'the kills must land while evaluations are in flight').toBeGreaterThan(ITERATIONS / 2);
    for (const counter of acked) expect(stored, `counter ${counter} was ACKed`).toContain(counter);
    expect(new Set(stored).size).toBe(stored.length);
    // the rollups moved with the rows in every commit the kills let through, and with none other
    expect(drift).toEqual([]);
    expect(counted[0]?.rated).toBe(stored.length);
    expect(counted).toEqual(recounted);
    expect(summary).toEqual(recount);
  }, 120_000); // fifteen hub starts under tsx: about 2 s each on a quiet machine, several on a loaded one
});
