/**
 * Ingest: evaluations per second committed (ACKed with status 0) by a real hub from 64
 * simulated evaluators, each on its own in-memory byte pipe, each keeping up to 8 EVALs
 * unacknowledged (PROTOCOL 1.3). Baseline: better-sqlite3 inserting the same rows into the
 * same schema (triggers included) in a copy of the store as it was before the run (WAL,
 * synchronous=FULL), in transactions of the size the hub's group commit reached.
 * HCP_BENCH_INGEST_SEEDED=N first fills the store with N ratings (scripts/bench/backlog.ts
 * `seedBacklog`, a rating every 2 s before the run), so the figure is that of a store with
 * a year's data in it; both the hub and the baseline insert into that.
 */
import Database from 'better-sqlite3';
import { EventEmitter } from 'node:events';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  AckStatus,
  DuplicateFilter,
  FrameDecoder,
  FrameError,
  Origin,
  ReliableSender,
  type Level,
  decodeMessage,
  encodeMessage,
  type Eval,
  type Message,
  type Welcome,
} from '../../protocol/index.js';
import type { ByteTransport } from '../../device/transport.js';
import { parseConfig } from '../../hub/config.js';
import { Hub } from '../../hub/hub.js';
import { migrate, Store } from '../../hub/store.js';
import { seedBacklog } from './backlog.js';
import { bytePipePair } from '../../simulators/memory-link.js';
import { tempDir, waitFor } from '../../simulators/pty.js';
import { median, result, type BenchResult } from './measure.js';

export interface BenchEvaluatorEvents {
  /** An ACK of one of our EVALs: `message` is undefined for an ACK of nothing in flight. */
  ack: [seq: number, status: number, reason: number, message: Eval | undefined];
  welcome: [welcome: Welcome];
}

/**
 * An evaluator at the frame level, for benchmarks: HELLO, WELCOME, EVALs through the protocol's
 * `ReliableSender` (window 8, retransmission after 250 ms doubling), PONG to PING, and ACK of
 * the hub's reliable messages (STAFF) with a `DuplicateFilter`. No firmware, no queue log.
 */
export class BenchEvaluator extends EventEmitter<BenchEvaluatorEvents> {
  readonly sender = new ReliableSender<Eval>();
  readonly counts = { acked: 0, duplicate: 0, rejected: 0, retransmits: 0, nacks: 0 };
  private readonly decoder = new FrameDecoder();
  private readonly filter = new DuplicateFilter();
  private counter = 0;

  constructor(
    readonly deviceId: string,
    readonly transport: ByteTransport,
  ) {
    super();
    transport.on('data', (chunk) => {
      for (const out of this.decoder.push(chunk)) {
        if (out.kind !== 'frame') continue;
        try {
          const { seq, message } = decodeMessage(out.frame);
          this.onMessage(seq, message);
        } catch (error) {
          if (!(error instanceof FrameError)) throw error;
        }
      }
    });
  }

  /** Sends HELLO (after a lone 0x00 so the hub's decoder is in sync) and waits for WELCOME. */
  async hello(ms = 10_000): Promise<Welcome> {
    const welcomed = waitFor<Welcome>(
      (l) => {
        this.on('welcome', l);
        return () => this.off('welcome', l);
      },
      () => true,
      ms,
      `WELCOME for ${this.deviceId}`,
    );
    this.write(Uint8Array.of(0));
    this.send({ type: 'HELLO', deviceId: this.deviceId, model: 'HCP-5', fwVersion: 'bench', protoVersion: 1, capabilities: 0, bootCount: 1, nextCounter: 1, queued: 0 });
    return welcomed;
  }

  /** Queues one rating; it goes on the wire at the next `pump` with room in the window. */
  evaluate(level: number, txnId: string): number {
    this.counter++;
    this.sender.enqueue({ type: 'EVAL', counter: this.counter, level: level as Level, origin: Origin.PROMPTED, txnId, deviceTime: Date.now(), promptMs: 1500 + (this.counter % 7) * 250 });
    return this.counter;
  }

  /** New EVALs while the window has room, and retransmissions that are due. */
  pump(now = performance.now()): void {
    for (const t of this.sender.poll(now)) {
      if (t.retry) this.counts.retransmits++;
      this.send(t.item, t.seq);
    }
  }

  private onMessage(seq: number, message: Message): void {
    switch (message.type) {
      case 'WELCOME':
        this.filter.reset();
        this.emit('welcome', message);
        break;
      case 'PING':
        this.send({ type: 'PONG', echoedTime: message.senderTime, senderTime: Date.now() });
        break;
      case 'ACK': {
        const item = this.sender.ack(seq);
        // A retransmission's ACK (status 1) comes after the original's and finds nothing in flight.
        if (message.status === AckStatus.DUPLICATE) this.counts.duplicate++;
        else if (item && message.status === AckStatus.OK) this.counts.acked++;
        else if (message.status === AckStatus.REJECTED) this.counts.rejected++;
        this.emit('ack', seq, message.status, message.reason, item);
        this.pump();
        break;
      }
      case 'NACK':
        this.counts.nacks++; // NO_SESSION would mean the hub lost us: the deadline reports it
        break;
      case 'SERVICE':
      case 'STAFF':
      case 'SETTINGS':
      case 'SELF_TEST':
        this.send({ type: 'ACK', status: this.filter.accept(seq) === 'duplicate' ? AckStatus.DUPLICATE : AckStatus.OK, reason: 0 }, seq);
        break;
      case 'HUB_STATE':
      case 'HELLO':
      case 'PONG':
      case 'STATE':
      case 'EVAL':
      case 'EVENT':
        break; // device-to-hub messages: nothing to do on a device
      default:
        message satisfies never;
    }
  }

  private send(message: Message, seq = 0): void {
    this.write(encodeMessage(message, seq));
  }

  private write(bytes: Uint8Array): void {
    this.transport.write(bytes).catch(() => {}); // the transport queues writes in order
  }
}

const DEVICES = 64;

export async function ingest(total = 20_000, seeded = Number(process.env.HCP_BENCH_INGEST_SEEDED ?? 0)): Promise<BenchResult> {
  const dir = tempDir('bench-ingest');
  // the store as it is before the run, empty or seeded: the baseline starts from a copy of it
  const before = join(dir, 'before.sqlite');
  {
    const store = new Store({ dataDir: join(dir, 'hub') });
    if (seeded > 0) seedBacklog(store, seeded, Date.now() - seeded * 2000 - 60_000);
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    store.close();
    copyFileSync(join(dir, 'hub', 'hub.sqlite'), before);
  }
  const windows = Array.from({ length: DEVICES }, (_, i) => ({ id: `W${String(i + 1).padStart(2, '0')}`, name: `窗口 ${i + 1}` }));
  const hub = new Hub({
    config: parseConfig({
      hallId: 'BENCH',
      adminToken: 'bench-admin-token',
      dataDir: join(dir, 'hub'),
      http: { host: '127.0.0.1', port: 0 },
      devices: { discover: { serial: false, hid: false } },
      windows,
    }),
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await hub.start();
    const devices: BenchEvaluator[] = [];
    await Promise.all(windows.map((w, i) => hub.pair(`HCP5-BENCH-${String(i + 1).padStart(2, '0')}`, w.id, 'bench', 'evaluator')));
    for (let i = 0; i < DEVICES; i++) {
      const pipe = bytePipePair(`mem-${i}`);
      await hub.attach(pipe.b, `mem-${i}`);
      await pipe.a.open();
      devices.push(new BenchEvaluator(`HCP5-BENCH-${String(i + 1).padStart(2, '0')}`, pipe.a));
    }
    await Promise.all(devices.map((d) => d.hello()));
    // Let the sessions settle (STAFF ACKed, HELLO recorded) before the clock starts.
    await new Promise((resolve) => setTimeout(resolve, 200));

    devices.forEach((d, i) => {
      const share = Math.floor(total / DEVICES) + (i < total % DEVICES ? 1 : 0);
      for (let n = 1; n <= share; n++) d.evaluate(((n + i) % 5) + 1, `T-${i}-${n}`);
    });
    const commitsBefore = { ...hub.store.commits };
    // Progress marks: committed count at each quarter, to show whether the rate holds up.
    const marks = [1, 2, 3, 4].map((k) => Math.round((total * k) / 4));
    const quarters: number[] = [];
    let committed = 0;
    const done = new Promise<void>((resolve) => {
      for (const d of devices) {
        d.on('ack', (_seq, status, _reason, item) => {
          if (!item || status !== AckStatus.OK) return;
          committed++;
          if (committed === marks[quarters.length]) quarters.push(performance.now());
          if (committed === total) resolve();
        });
      }
    });
    const sumAll = () => JSON.stringify(devices.reduce((n, d) => Object.fromEntries(Object.entries(d.counts).map(([k, v]) => [k, v + (n[k] ?? 0)])), {} as Record<string, number>));
    const t0 = performance.now();
    for (const d of devices) d.pump(t0);
    timer = setInterval(() => {
      const now = performance.now();
      for (const d of devices) d.pump(now);
    }, 20);
    await Promise.race([
      done,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`ingest: ${committed} of ${total} committed after 100 s (${sumAll()})`)), 100_000).unref()),
    ]);
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    timer = undefined;
    const writes = hub.store.commits.writes - commitsBefore.writes;
    const transactions = hub.store.commits.transactions - commitsBefore.transactions;
    const groupSize = writes / transactions;
    const figure = (total * 1000) / elapsed;
    const quarterRates = quarters.map((t, i) => Math.round(((marks[i]! - (marks[i - 1] ?? 0)) * 1000) / (t - (quarters[i - 1] ?? t0))));
    const sum = (k: keyof BenchEvaluator['counts']) => devices.reduce((n, d) => n + d.counts[k], 0);

    const rows = hub.store.read((db) => db.prepare(`SELECT * FROM evaluations WHERE device_id LIKE 'HCP5-BENCH-%' ORDER BY rowid`).all()) as Record<string, unknown>[];
    const baselines = [0, 1, 2].map((round) => rawInsertRate(join(dir, `raw-${round}`), before, rows, Math.max(1, Math.round(groupSize))));
    return result({
      bench: 'ingest',
      figure: Math.round(figure),
      unit: `evaluations/s committed (ACK status 0), ${DEVICES} devices, window 8 each`,
      baseline: Math.round(median(baselines)),
      baselineName: 'better-sqlite3 insert of the same rows, same schema, WAL + synchronous=FULL, same group size',
      evaluations: total,
      storedBefore: seeded,
      seconds: Number((elapsed / 1000).toFixed(2)),
      groupSize: Number(groupSize.toFixed(1)),
      rowsPerTransaction: Number((total / transactions).toFixed(1)),
      writes,
      transactions,
      quarterRates,
      retransmits: sum('retransmits'),
      duplicates: sum('duplicate'),
      rejected: sum('rejected'),
    });
  } finally {
    clearInterval(timer);
    await hub.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Rows per second inserting `rows` into a copy of the store file `from`, `groupSize` rows a transaction. */
function rawInsertRate(dataDir: string, from: string, rows: Record<string, unknown>[], groupSize: number): number {
  mkdirSync(dataDir, { recursive: true });
  copyFileSync(from, join(dataDir, 'raw.sqlite'));
  const db = new Database(join(dataDir, 'raw.sqlite'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    migrate(db);
    const columns = Object.keys(rows[0] ?? {}).filter((c) => c !== 'dissatisfied'); // a generated column: computed, not inserted
    const insert = db.prepare(`INSERT INTO evaluations (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`);
    const group = db.transaction((batch: Record<string, unknown>[]) => {
      for (const row of batch) insert.run(row);
    });
    const start = performance.now();
    for (let i = 0; i < rows.length; i += groupSize) group(rows.slice(i, i + groupSize));
    return (rows.length * 1000) / (performance.now() - start);
  } finally {
    db.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
