import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, type Eval, type Level } from '../protocol/index.js';
import { cleanupsAfterEach, tempDir } from '../tests/support/cleanup.js';
import type { QueuedItem } from './core.js';
import { QueueLog, parseLog } from './queue-log.js';

const cleanups = cleanupsAfterEach();

const evalItem = (qid: number, counter: number): QueuedItem => ({
  qid,
  message: { type: 'EVAL', counter, level: ((counter % 5) + 1) as Level, origin: 1, txnId: `T-${counter}`, deviceTime: 1795751400000 + counter, promptMs: 900 } satisfies Eval,
});

/** A recorded run: appends, some acknowledged, a settings change, more appends. */
function recordRun(dir: string) {
  const { log } = QueueLog.open(dir);
  const states: { bytes: number; pending: number[]; nextCounter: number }[] = [];
  const pending = new Set<number>();
  let counter = 1;
  const snapshot = () => states.push({ bytes: log.bytes, pending: [...pending].sort((a, b) => a - b), nextCounter: counter });
  snapshot();
  for (let qid = 1; qid <= 12; qid++) {
    log.append(evalItem(qid, counter), counter + 1);
    counter++;
    pending.add(qid);
    snapshot();
    if (qid % 3 === 0) {
      log.remove(qid - 2);
      pending.delete(qid - 2);
      snapshot();
    }
    if (qid === 6) {
      log.saveSettings({ ...DEFAULT_SETTINGS, promptTimeoutS: 45 });
      snapshot();
    }
  }
  log.close();
  return states;
}

describe('QueueLog', () => {
  it('recovers exactly what was pending, and the counter, after a clean stop', () => {
    const dir = tempDir(cleanups, 'queue');
    recordRun(dir);
    const { log, recovered } = QueueLog.open(dir);
    expect(recovered.queued.map((i) => i.qid)).toEqual([2, 3, 5, 6, 8, 9, 11, 12]);
    expect(recovered.queued[0]?.message).toEqual(evalItem(2, 2).message);
    expect(recovered.nextCounter).toBe(13);
    expect(recovered.settings?.promptTimeoutS).toBe(45);
    expect(recovered.droppedBytes).toBe(0);
    log.close();
  });

  it('power lost at every byte offset: every complete record survives, only a torn tail goes', () => {
    const dir = tempDir(cleanups, 'queue');
    const states = recordRun(dir);
    const image = readFileSync(join(dir, 'queue.log'));
    // A boot record is appended at each open, so the recorded states are offsets within `image`.
    states.unshift({ bytes: 0, pending: [], nextCounter: 1 });
    for (let cut = 0; cut <= image.length; cut++) {
      const recovered = parseLog(new Uint8Array(image.subarray(0, cut)));
      const complete = [...states].reverse().find((s) => s.bytes <= cut)!;
      expect(recovered.queued.map((i) => i.qid), `cut at ${cut}`).toEqual(complete.pending);
      expect(recovered.nextCounter, `cut at ${cut}`).toBeGreaterThanOrEqual(complete.nextCounter);
      expect(recovered.goodBytes, `cut at ${cut}`).toBe(complete.bytes); // every record boundary is a state
    }
  });

  it('truncates a torn tail on open, and appends cleanly after it', () => {
    const dir = tempDir(cleanups, 'queue');
    recordRun(dir);
    const path = join(dir, 'queue.log');
    const full = readFileSync(path).length;
    truncateSync(path, full - 3); // the last record is torn
    const { log, recovered } = QueueLog.open(dir);
    expect(recovered.droppedBytes).toBeGreaterThan(0);
    log.append(evalItem(100, recovered.nextCounter), recovered.nextCounter + 1);
    log.close();
    const again = QueueLog.open(dir);
    expect(again.recovered.droppedBytes).toBe(0);
    expect(again.recovered.queued.at(-1)?.qid).toBe(100);
    again.log.close();
  });

  it('garbage appended to the file is dropped, not parsed', () => {
    const dir = tempDir(cleanups, 'queue');
    recordRun(dir);
    const path = join(dir, 'queue.log');
    writeFileSync(path, Buffer.concat([readFileSync(path), Buffer.from([0xa7, 0x01, 0xff, 0x00, 1, 2, 3])]));
    const { log, recovered } = QueueLog.open(dir);
    expect(recovered.queued).toHaveLength(8);
    expect(recovered.droppedBytes).toBe(7);
    log.close();
  });

  it('the counter never goes back across restarts, and the boot count rises', () => {
    const dir = tempDir(cleanups, 'queue');
    let last = 0;
    let boots = 0;
    for (let run = 0; run < 5; run++) {
      const { log, recovered } = QueueLog.open(dir, { compactBytes: 200 });
      expect(recovered.nextCounter).toBeGreaterThan(last);
      expect(recovered.bootCount).toBe(boots + 1);
      boots = recovered.bootCount;
      let counter = recovered.nextCounter;
      for (let i = 0; i < 7; i++) {
        const qid = recovered.nextQid + i;
        log.append(evalItem(qid, counter), counter + 1);
        last = counter;
        counter++;
        log.remove(qid); // acknowledged at once: compaction keeps only the counter
      }
      log.close();
    }
    expect(readFileSync(join(dir, 'queue.log')).length).toBeLessThan(400);
  });

  it('compaction keeps every pending message and the settings', () => {
    const dir = tempDir(cleanups, 'queue');
    const { log } = QueueLog.open(dir, { compactBytes: 300 });
    log.saveSettings({ ...DEFAULT_SETTINGS, volume: 2 });
    for (let qid = 1; qid <= 40; qid++) {
      log.append(evalItem(qid, qid), qid + 1);
      if (qid !== 7 && qid !== 33) log.remove(qid);
    }
    log.close();
    const { log: reopened, recovered } = QueueLog.open(dir);
    expect(recovered.queued.map((i) => i.qid)).toEqual([7, 33]);
    expect(recovered.settings?.volume).toBe(2);
    expect(recovered.nextCounter).toBe(41);
    reopened.close();
  });
});
