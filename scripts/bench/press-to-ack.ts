/**
 * Press to ACK: an EVAL written at the device end of a real socat pty until its ACK (status 0)
 * is read back there, with a real hub on the other end, so the time covers the hub's decode,
 * its group commit to SQLite (WAL, synchronous=FULL) and the ACK (PROTOCOL 1.3: ACK only after
 * commit). Baseline: the same frame echoed by a bare peer on another socat pty after one
 * fsync of a small write in the same temp dir: the least any durable ACK over a pty can cost.
 * Samples alternate between the two so drift in machine load hits both.
 */
import { closeSync, openSync, rmSync, fsyncSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FrameDecoder, Origin, encodeFrame, encodeMessage, type Frame, type Level } from '../../protocol/index.js';
import { serialTransport, type ByteTransport } from '../../device/transport.js';
import { parseConfig } from '../../hub/config.js';
import { Hub } from '../../hub/hub.js';
import { ptyPair, tempDir, waitFor, type PtyPair } from '../../simulators/pty.js';
import { BenchEvaluator } from './ingest.js';
import { result, type BenchResult, percentile } from './measure.js';

const DEVICE_ID = 'HCP5-BENCH';
const WARM_UP = 20;

/** The bare peer: reads frames on one end of a pty, fsyncs a small write, writes the frame back. */
class FsyncEcho {
  private readonly decoder = new FrameDecoder();
  private readonly fd: number;
  private readonly record = new Uint8Array(64).fill(0x5a);

  constructor(
    readonly transport: ByteTransport,
    file: string,
  ) {
    this.fd = openSync(file, 'a');
    transport.on('data', (chunk) => {
      for (const out of this.decoder.push(chunk)) {
        if (out.kind !== 'frame') continue;
        writeSync(this.fd, this.record);
        fsyncSync(this.fd);
        transport.write(encodeFrame(out.frame)).catch(() => {});
      }
    });
  }

  close(): void {
    closeSync(this.fd);
  }
}

export async function pressToAck(samples = 300): Promise<BenchResult> {
  const dir = tempDir('bench-ack');
  const ptys: PtyPair[] = [];
  const transports: ByteTransport[] = [];
  let hub: Hub | undefined;
  let echo: FsyncEcho | undefined;
  try {
    const pty = await ptyPair();
    ptys.push(pty);
    const echoPty = await ptyPair();
    ptys.push(echoPty);

    hub = new Hub({
      config: parseConfig({
        hallId: 'BENCH',
        adminToken: 'bench-admin-token',
        dataDir: join(dir, 'hub'),
        http: { host: '127.0.0.1', port: 0 },
        devices: { discover: { serial: false, hid: false } },
        windows: [{ id: 'W01', name: 'W01 综合受理' }],
      }),
    });
    await hub.start();
    await hub.pair(DEVICE_ID, 'W01', 'bench', 'evaluator');
    await hub.attach(serialTransport(pty.b), pty.b);
    const deviceEnd = serialTransport(pty.a);
    transports.push(deviceEnd);
    await deviceEnd.open();
    const device = new BenchEvaluator(DEVICE_ID, deviceEnd);
    await device.hello();

    const echoEnd = serialTransport(echoPty.b);
    const bareEnd = serialTransport(echoPty.a);
    transports.push(echoEnd, bareEnd);
    await echoEnd.open();
    await bareEnd.open();
    echo = new FsyncEcho(echoEnd, join(dir, 'fsync-probe'));
    const bareDecoder = new FrameDecoder();
    const echoed = new Set<(frame: Frame) => void>();
    bareEnd.on('data', (chunk) => {
      for (const out of bareDecoder.push(chunk)) if (out.kind === 'frame') for (const l of echoed) l(out.frame);
    });
    await bareEnd.write(Uint8Array.of(0)); // both decoders start out of sync (PROTOCOL 1.1)
    await echoEnd.write(Uint8Array.of(0));

    const hubSample = async (i: number): Promise<number> => {
      const t0 = performance.now();
      const counter = device.evaluate((i % 5) + 1, `P-${i}`);
      const acked = waitFor<{ status: number; counter: number | undefined }>(
        (l) => {
          const listener = (_seq: number, status: number, _reason: number, item: { counter: number } | undefined) => l({ status, counter: item?.counter });
          device.on('ack', listener);
          return () => device.off('ack', listener);
        },
        (a) => a.counter === counter,
        5000,
        `ACK of EVAL ${counter}`,
      );
      device.pump();
      const { status } = await acked;
      if (status !== 0) throw new Error(`press-to-ack: EVAL ${counter} got ACK status ${status}`);
      return performance.now() - t0;
    };
    const bareSample = async (i: number): Promise<number> => {
      const t0 = performance.now();
      const bytes = encodeMessage({ type: 'EVAL', counter: 1_000_000 + i, level: ((i % 5) + 1) as Level, origin: Origin.PROMPTED, txnId: `P-${i}`, deviceTime: Date.now(), promptMs: 1500 }, (i % 65_535) + 1);
      const back = waitFor<Frame>(
        (l) => {
          echoed.add(l);
          return () => echoed.delete(l);
        },
        (f) => f.seq === (i % 65_535) + 1,
        5000,
        'echoed frame',
      );
      await bareEnd.write(bytes);
      await back;
      return performance.now() - t0;
    };

    const ack: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < WARM_UP + samples; i++) {
      const a = await hubSample(i);
      const b = await bareSample(i);
      if (i < WARM_UP) continue;
      ack.push(a);
      bare.push(b);
    }
    const round = (v: number) => Number(v.toFixed(2));
    return result({
      bench: 'press-to-ack',
      figure: round(percentile(ack, 50)),
      unit: 'ms p50, EVAL written on the pty until its ACK (status 0) is read back, hub committing in between',
      baseline: round(percentile(bare, 50)),
      baselineName: 'same frame echoed on another socat pty after one fsync of a 64-byte append, p50 ms',
      p99: round(percentile(ack, 99)),
      baselineP99: round(percentile(bare, 99)),
      samples,
      retransmits: device.counts.retransmits,
    });
  } finally {
    await hub?.stop();
    echo?.close();
    for (const t of transports) await t.close();
    for (const p of ptys) await p.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
