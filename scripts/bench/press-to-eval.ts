/**
 * Press to EVAL on the wire: a simulated button press on the evaluator (johnny-five Button on
 * SimIO, the real firmware, a real pty) until the EVAL frame is read at the hub's end of the
 * pty. Baseline: a bare write of the same frame bytes on the same pty, read the same way.
 */
import five from 'johnny-five';
import { rmSync } from 'node:fs';
import { DEFAULT_SETTINGS, encodeMessage } from '../../protocol/index.js';
import { Firmware } from '../../device/firmware.js';
import { JohnnyFiveHardware, SIM_PIN_MAP, boardReady } from '../../device/hardware.js';
import { serialTransport } from '../../device/transport.js';
import { HubPeer } from '../../simulators/hub-peer.js';
import { ptyPair, tempDir } from '../../simulators/pty.js';
import { SimIO } from '../../simulators/sim-io.js';
import { result, type BenchResult, percentile } from './measure.js';

export async function pressToEval(samples = 300): Promise<BenchResult> {
  const pty = await ptyPair();
  const stateDir = tempDir('bench-device');
  const io = new SimIO();
  const board = new five.Board({ io, repl: false, debug: false, sigint: false } as unknown as five.BoardOption);
  await boardReady(board);
  const hardware = new JohnnyFiveHardware(board, SIM_PIN_MAP);
  const transport = serialTransport(pty.a);
  const firmware = new Firmware({ core: { deviceId: 'HCP5-BENCH' }, stateDir, transport, hardware });
  const peer = new HubPeer(serialTransport(pty.b), { settings: { ...DEFAULT_SETTINGS, thanksS: 1 } });
  await peer.open();
  const idle = new Promise<void>((resolve) => firmware.on('state', (s) => s === 'idle' && resolve()));
  await firmware.start();
  await idle;

  const pin = SIM_PIN_MAP.buttons['5'] as number;
  const press: number[] = [];
  for (let i = 0; i < samples; i++) {
    const prompted = new Promise<void>((resolve) => {
      const l = (s: string) => s === 'prompt' && (firmware.off('state', l), resolve());
      firmware.on('state', l);
    });
    peer.service(`B-${i}`);
    await prompted;
    const arrived = peer.next((p) => p.message.type === 'EVAL' && p.message.txnId === `B-${i}` && !p.duplicate, 5000, 'EVAL');
    const t0 = performance.now();
    io.setInput(pin, 1);
    await arrived;
    press.push(performance.now() - t0);
    io.setInput(pin, 0);
  }

  const bytes = encodeMessage({ type: 'EVAL', counter: 999_999, level: 5, origin: 1, txnId: 'B-bare', deviceTime: Date.now(), promptMs: 1000 }, 65_000);
  const bare: number[] = [];
  for (let i = 0; i < samples; i++) {
    const arrived = peer.next((p) => p.seq === 65_000 && p.message.type === 'EVAL', 5000, 'bare EVAL');
    const t0 = performance.now();
    await transport.write(bytes);
    await arrived;
    bare.push(performance.now() - t0);
  }
  await firmware.stop();
  await peer.close();
  await pty.close();
  rmSync(stateDir, { recursive: true, force: true });
  const round = (v: number) => Number(v.toFixed(2));
  return result({
    bench: 'press-to-eval',
    figure: round(percentile(press, 50)),
    unit: 'ms p50, press to EVAL read at the hub end of the pty',
    baseline: round(percentile(bare, 50)),
    baselineName: 'bare write of the same frame on the same pty, p50 ms',
    p99: round(percentile(press, 99)),
    baselineP99: round(percentile(bare, 99)),
    samples,
    note: 'includes johnny-five Button debounce (7 ms) and one fdatasync of the queue log',
  });
}
