/**
 * Power cuts, not only kill -9 (issue 11). kill -9 leaves the kernel's page cache behind, so
 * it cannot show a missing fsync; here the data directory sits on simulators/lazyfs.py, which
 * holds every write in memory until the file is fsynced and throws the rest away at a cut.
 *
 * - the layer itself: unsynced writes are gone after a cut, synced ones stay, reads and sizes
 *   see pending writes, torn cuts keep a prefix, a full disk refuses growth;
 * - the hub (PROTOCOL 1.3: ACK only after commit): cut with commits in flight, kill -9, remount,
 *   restart; every ACKed id is stored exactly once and `PRAGMA integrity_check` is ok;
 * - the device queue log (DESIGN "Non-volatile queue"): every append its API returned from is
 *   there after a cut, the counter never goes back, only a torn tail is dropped.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, statSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { parseLog, QueueLog } from '../device/queue-log.js';
import { prng } from '../protocol/fuzz.js';
import { AckStatus } from '../protocol/index.js';
import { cleanupsAfterEach, tempDir } from './support/cleanup.js';
import { DevicePeer, startHub, type HubProcess } from './support/hub.js';
import { LazyFs, type CutMode, type CutReport } from './support/lazyfs.js';
import { ptyPair, ROOT } from './support/processes.js';

const cleanups = cleanupsAfterEach();

/** A lazy mount in a fresh temp dir, unmounted (and the dir removed) after the test. */
async function lazyDisk(prefix: string): Promise<LazyFs> {
  const dir = tempDir(cleanups, prefix);
  const disk = await LazyFs.mount(dir);
  cleanups.push(() => disk.unmount());
  return disk;
}

const MODES: CutMode[] = ['drop', 'torn', 'reorder'];

describe('the lazy layer (simulators/lazyfs.py)', () => {
  it('loses a write that was not fsynced and keeps one that was', async () => {
    const disk = await lazyDisk('lazy-basic');
    const file = join(disk.mountpoint, 'a.bin');
    const fd = openSync(file, 'w+');
    writeSync(fd, 'durable');
    fsyncSync(fd);
    writeSync(fd, ' pending');
    closeSync(fd); // close is not a sync
    expect(readFileSync(file, 'utf8'), 'reads see the pending write').toBe('durable pending');
    expect(statSync(file).size).toBe(15);
    expect(readFileSync(join(disk.backing, 'a.bin'), 'utf8'), 'the disk has only what was synced').toBe('durable');

    const report = await disk.cut('drop');
    expect(report).toMatchObject({ files: 1, kept: 0, droppedBytes: 8 });
    expect(existsSync(join(disk.mountpoint, 'a.bin')), 'the mount is dead until it is mounted again').toBe(false);
    await disk.remount();
    expect(readFileSync(file, 'utf8')).toBe('durable');
  });

  it('fsync of one file makes only that file durable', async () => {
    const disk = await lazyDisk('lazy-two');
    const a = openSync(join(disk.mountpoint, 'a'), 'w');
    const b = openSync(join(disk.mountpoint, 'b'), 'w');
    writeSync(a, 'aaaa');
    writeSync(b, 'bbbb');
    fsyncSync(b);
    closeSync(a);
    closeSync(b);
    await disk.cut('drop');
    await disk.remount();
    expect(readFileSync(join(disk.mountpoint, 'a'), 'utf8')).toBe('');
    expect(readFileSync(join(disk.mountpoint, 'b'), 'utf8')).toBe('bbbb');
  });

  it('reads and sizes follow pending truncations and writes past the end', async () => {
    const disk = await lazyDisk('lazy-trunc');
    const file = join(disk.mountpoint, 't.bin');
    const fd = openSync(file, 'w+');
    writeSync(fd, '0123456789');
    fsyncSync(fd);
    ftruncateSync(fd, 4);
    expect(statSync(file).size).toBe(4);
    writeSync(fd, 'xy', 8);
    expect(statSync(file).size).toBe(10);
    expect(readFileSync(file)).toEqual(Buffer.from('0123\0\0\0\0xy', 'latin1'));
    expect(readFileSync(join(disk.backing, 't.bin'), 'utf8'), 'nothing reached the disk yet').toBe('0123456789');
    fsyncSync(fd);
    closeSync(fd);
    expect(readFileSync(join(disk.backing, 't.bin'))).toEqual(Buffer.from('0123\0\0\0\0xy', 'latin1'));
  });

  it('a torn cut keeps a prefix of the pending writes, in order; every cut keeps what was synced', async () => {
    const disk = await lazyDisk('lazy-torn');
    const file = join(disk.mountpoint, 'log');
    const synced = 'S'.repeat(100);
    const pending = Array.from({ length: 6 }, (_, i) => String(i).repeat(50));
    const outcomes = new Set<number>();
    for (let seed = 1; seed <= 12; seed++) {
      const mode = MODES[seed % 3]!;
      const fd = openSync(file, 'w');
      writeSync(fd, synced);
      fsyncSync(fd);
      // gaps between the writes keep them apart (adjacent appends are one pending write)
      pending.forEach((p, i) => writeSync(fd, p, 100 + i * 60));
      closeSync(fd);
      await disk.cut(mode, seed);
      await disk.remount();
      const after = readFileSync(file, 'latin1');
      expect(after.slice(0, 100), `${mode} cut, seed ${seed}: the synced bytes`).toBe(synced);
      let full = synced;
      pending.forEach((p, i) => (full = full.padEnd(100 + i * 60, '\0') + p));
      if (mode === 'drop') expect(after).toBe(synced);
      if (mode === 'torn') expect(full.startsWith(after), `torn cut, seed ${seed}: ${JSON.stringify(after.slice(100))} is a prefix`).toBe(true);
      if (mode === 'reorder') for (let i = 100; i < after.length; i++) expect([full[i], '\0'], `reorder cut, seed ${seed}, byte ${i}`).toContain(after[i]);
      outcomes.add(after.length);
    }
    expect(outcomes.size, 'the cuts kept different amounts').toBeGreaterThan(2);
  });

  it('metadata passes through at once: a renamed file keeps its name, its unsynced bytes do not survive', async () => {
    const disk = await lazyDisk('lazy-rename');
    writeFileSync(join(disk.mountpoint, 'tmp'), 'not synced');
    renameSync(join(disk.mountpoint, 'tmp'), join(disk.mountpoint, 'final'));
    await disk.cut('drop');
    await disk.remount();
    expect(readFileSync(join(disk.mountpoint, 'final'), 'utf8')).toBe('');
  });

  it('a full disk refuses writes that need a new block, takes those that fit the blocks freed since, and shows it', async () => {
    const disk = await lazyDisk('lazy-full');
    const file = join(disk.mountpoint, 'f');
    const fd = openSync(file, 'w+');
    writeSync(fd, 'a'.repeat(4000), 0); // one 4 KiB block
    await disk.full(true);
    expect(statfsSync(disk.mountpoint).bavail).toBe(0);
    expect(writeSync(fd, 'b'.repeat(96), 4000), 'the rest of the last block needs no new one').toBe(96);
    expect(() => writeSync(fd, 'c', 4096)).toThrow(/ENOSPC/);
    expect(writeSync(fd, 'A', 0), 'an overwrite needs no new block').toBe(1);
    ftruncateSync(fd, 0); // gives the block back
    expect(statfsSync(disk.mountpoint).bavail * statfsSync(disk.mountpoint).bsize).toBe(4096);
    expect(writeSync(fd, 'd'.repeat(4096), 0), 'growth into the block a truncation freed').toBe(4096);
    expect(() => writeSync(fd, 'e', 4096)).toThrow(/ENOSPC/);
    await disk.full(false);
    expect(statfsSync(disk.mountpoint).bavail).toBeGreaterThan(0);
    expect(writeSync(fd, 'e', 4096)).toBe(1);
    closeSync(fd);
    expect(statSync(file).size).toBe(4097);
  });
});

const DEVICE = 'HCP5-POWER';
const HUB_CYCLES = 8;
/** EVALs the device keeps in flight at once, as a busy hall's link would. */
const IN_FLIGHT = 6;

/** What one cycle's device stream did; a stream outlives its hub only to see late ACKs. */
interface Stream {
  stopped: boolean;
  inFlight: number;
  acksSeen: number;
}

describe('the hub through power cuts', () => {
  it(`keeps every ACKed evaluation exactly once in a sound database, over ${HUB_CYCLES} cuts with commits in flight`, async () => {
    const dir = tempDir(cleanups, 'power-hub');
    const disk = await LazyFs.mount(join(dir, 'fs'));
    cleanups.push(() => disk.unmount());
    const p = await ptyPair();
    cleanups.push(() => p.close());
    const peer = await DevicePeer.open(p.a, DEVICE);
    cleanups.push(() => peer.close());
    const dataDir = join(disk.mountpoint, 'data');
    const config = { hallId: 'H-POWER', dataDir, devices: { serial: [{ path: p.b }], discover: { serial: false, hid: false } }, windows: [{ id: 'A01', deviceId: DEVICE }] };
    let hub: HubProcess | undefined;
    cleanups.push(() => {
      if (hub && hub.proc.child.exitCode === null) hub.proc.child.kill('SIGKILL');
    });

    const seed = Date.now() % 2 ** 31;
    const random = prng(seed);
    const acked = new Set<number>();
    const unacked = new Set<number>();
    let nextCounter = 1;
    const reports: CutReport[] = [];
    let cutsWithUnacked = 0;

    /** Reads the store as the restarted hub recovered it: every ACKed counter, once; a sound file. */
    const verify = (when: string) => {
      const db = new Database(join(dataDir, 'hub.sqlite'), { readonly: true });
      try {
        expect(db.pragma('integrity_check', { simple: true }), `integrity ${when} (seed ${seed})`).toBe('ok');
        const rows = db.prepare(`SELECT id FROM evaluations WHERE device_id = ?`).all(DEVICE) as { id: string }[];
        const stored = rows.map((r) => Number(r.id.split('-').pop()));
        expect(new Set(stored).size, `no id twice ${when}`).toBe(stored.length);
        const missing = [...acked].filter((c) => !stored.includes(c));
        expect(missing, `ACKed counters missing ${when} (seed ${seed}, cuts ${JSON.stringify(reports)})`).toEqual([]);
        for (const c of stored) expect(c, 'only counters the device sent').toBeLessThan(nextCounter);
      } finally {
        db.close();
      }
    };

    // A cut can leave `hub.lock` torn or naming a pid now reused: the hub tells a dead hub's
    // lock from a live one (pid and start time) and starts, with no hand of a technician.
    const start = () => startHub(dir, config);

    for (let cycle = 0; cycle <= HUB_CYCLES; cycle++) {
      hub = await start();
      if (cycle > 0) verify(`after cut ${cycle} (${reports[cycle - 1]!.cut})`);
      if (cycle === HUB_CYCLES) break;
      await peer.hello(nextCounter);

      // A steady stream: IN_FLIGHT EVALs outstanding, each ACK sends the next (the unACKed first).
      const stream: Stream = { stopped: false, inFlight: 0, acksSeen: 0 };
      const cutAfter = 1 + (random() % 25);
      let cutNow!: () => void;
      const cutMoment = new Promise<void>((resolve) => (cutNow = resolve));
      const pending = new Set<number>();
      const pump = () => {
        while (!stream.stopped && stream.inFlight < IN_FLIGHT) {
          const resend = [...unacked].find((c) => !pending.has(c));
          const counter = resend ?? nextCounter++;
          unacked.add(counter);
          pending.add(counter);
          stream.inFlight++;
          void peer.evaluate({ counter, level: (counter % 5) + 1 }, 8000).then(
            (ack) => {
              // ACKs seen after the cut count too: the hub may only send one after its commit
              if (ack.status === AckStatus.OK || ack.status === AckStatus.DUPLICATE) {
                acked.add(counter);
                unacked.delete(counter);
              }
              pending.delete(counter);
              stream.inFlight--;
              if (++stream.acksSeen === cutAfter) cutNow();
              pump();
            },
            () => pending.delete(counter), // no ACK: the hub is gone, the device keeps it
          );
        }
      };
      pump();
      await cutMoment;
      // The power goes: the disk keeps only what was synced (or a random part of the rest),
      // and the hub dies with it.
      const mode = MODES[cycle % MODES.length]!;
      const report = await disk.cut(mode, random());
      stream.stopped = true;
      hub.proc.child.kill('SIGKILL');
      await hub.proc.exited(10_000);
      reports.push(report);
      if (unacked.size > 0) cutsWithUnacked++;
      await disk.remount();
    }

    hub!.proc.child.kill('SIGTERM');
    await hub!.proc.exited(10_000);
    expect(acked.size, 'ratings ACKed over the run').toBeGreaterThanOrEqual(HUB_CYCLES * 5);
    expect(cutsWithUnacked, 'the cuts must land while evaluations are in flight').toBeGreaterThan(HUB_CYCLES / 2);
    expect(reports.filter((r) => r.droppedBytes > 0).length, `the cuts must throw written bytes away: ${JSON.stringify(reports)}`).toBeGreaterThan(HUB_CYCLES / 2);
  }, 120_000);
});

/**
 * Appends to a queue log in the mount as fast as it can, five at a time, then marks three of
 * them done (unsynced records, as the firmware does on an ACK); prints
 * `appended QID COUNTER` once `append` returned and `removed QID` once `remove` did.
 */
const APPENDER = `
import { QueueLog } from ${JSON.stringify(join(ROOT, 'device', 'queue-log.ts'))};
const { log, recovered } = QueueLog.open(process.argv[1]);
let qid = recovered.nextQid;
let counter = recovered.nextCounter;
process.stdout.write('open ' + qid + ' ' + counter + '\\n');
const tick = () => {
  for (let i = 0; i < 5; i++) {
    const item = { qid: qid++, message: { type: 'EVAL', counter, level: 1 + (counter % 5), origin: 1, txnId: 'T-' + counter, deviceTime: Date.now(), promptMs: 1200 } };
    log.append(item, ++counter);
    process.stdout.write('appended ' + item.qid + ' ' + counter + '\\n');
  }
  // acknowledged ones: their done records are not synced, the next append syncs them
  for (const done of [qid - 5, qid - 3, qid - 1]) {
    log.remove(done);
    process.stdout.write('removed ' + done + '\\n');
  }
  setImmediate(tick);
};
tick();
`;

const QUEUE_CYCLES = 15;
/** Torn cuts most often: they are the ones that leave half a record behind. */
const QUEUE_MODES: CutMode[] = ['torn', 'reorder', 'torn', 'drop'];

describe('the device queue log through power cuts', () => {
  it('keeps every append its API returned from; only a torn tail is dropped; the counter never goes back', async () => {
    const disk = await lazyDisk('power-queue');
    const stateDir = join(disk.mountpoint, 'state');
    const seed = Date.now() % 2 ** 31;
    const random = prng(seed);
    const kept = new Map<number, number>(); // qid -> nextCounter after it, for appends not removed
    let highestCounter = 1;
    let cutsWithTornTail = 0;
    for (let cycle = 0; cycle < QUEUE_CYCLES; cycle++) {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', APPENDER, stateDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
      const lines = createInterface({ input: child.stdout });
      const stderr: string[] = [];
      child.stderr.on('data', (b: Buffer) => stderr.push(b.toString()));
      const cutAfter = 20 + (random() % 400);
      let appended = 0;
      let reach!: () => void;
      const reached = new Promise<void>((resolve) => (reach = resolve));
      // Every line counts, those printed after the cut was asked for too: an append that
      // returned was synced before the cut took the disk.
      lines.on('line', (line) => {
        const [verb, a, b] = line.split(' ');
        if (verb === 'open') {
          expect(Number(b), `counter at boot ${cycle} (seed ${seed})`).toBeGreaterThanOrEqual(highestCounter);
        } else if (verb === 'appended') {
          kept.set(Number(a), Number(b));
          highestCounter = Math.max(highestCounter, Number(b));
          appended++;
        } else if (verb === 'removed') {
          kept.delete(Number(a));
          // right after unsynced records were written: the cut may catch them half done
          if (appended >= cutAfter) reach();
        }
      });
      const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no ${cutAfter} appends within 30 s: ${stderr.join('')}`)), 30_000).unref());
      await Promise.race([reached, deadline, exited.then(() => Promise.reject(new Error(`the appender exited: ${stderr.join('')}`)))]);
      const report = await disk.cut(QUEUE_MODES[cycle % QUEUE_MODES.length]!, random());
      child.kill('SIGKILL');
      await exited;
      await disk.remount();

      // The next boot's recovery: QueueLog.open reads up to the first bad record and cuts there.
      const image = new Uint8Array(readFileSync(join(stateDir, 'queue.log')));
      const { log, recovered } = QueueLog.open(stateDir);
      log.close();
      const queued = new Set(recovered.queued.map((q) => q.qid));
      const lost = [...kept.keys()].filter((qid) => !queued.has(qid));
      expect(lost, `appends lost at cut ${cycle} (${report.cut}, seed ${seed})`).toEqual([]);
      expect(recovered.nextCounter, 'the counter never goes back').toBeGreaterThanOrEqual(highestCounter);
      // Only bytes that were never synced may be dropped, as a tail.
      expect(recovered.droppedBytes, `torn tail at cut ${cycle}: ${JSON.stringify(report)}`).toBeLessThanOrEqual(report.pendingBytes);
      if (report.cut === 'drop') expect(recovered.droppedBytes).toBe(0);
      expect(parseLog(image.subarray(0, image.length - recovered.droppedBytes)).droppedBytes, 'what is kept parses to its end').toBe(0);
      if (recovered.droppedBytes > 0) cutsWithTornTail++;
    }
    expect(kept.size, 'appends outstanding at the end').toBeGreaterThan(0);
    expect(cutsWithTornTail, `some cuts must leave a torn tail to recover from (seed ${seed})`).toBeGreaterThan(0);
  }, 90_000);
});
