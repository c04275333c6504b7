/** johnny-five's Button and Led through the simulated IO plugin, under fake timers. */
import five from 'johnny-five';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SimIO } from '../simulators/sim-io.js';
import { JohnnyFiveHardware, SIM_PIN_MAP, SELF_TEST_BIT, boardReady } from './hardware.js';

async function setup(brokenPins: number[] = []) {
  const io = new SimIO({ brokenPins });
  const board = new five.Board({ io, repl: false, debug: false, sigint: false } as unknown as five.BoardOption);
  await boardReady(board);
  const hardware = new JohnnyFiveHardware(board, SIM_PIN_MAP);
  const edges: string[] = [];
  hardware.onButton((button, down) => edges.push(`${button}${down ? 'v' : '^'}`));
  return { io, hardware, edges };
}

describe('JohnnyFiveHardware on SimIO', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a bouncing contact gives one press and one release (johnny-five debounce)', async () => {
    vi.useRealTimers();
    const { io, edges } = await setup();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const pin = SIM_PIN_MAP.buttons['4'] as number;
    for (const v of [1, 0, 1, 0, 1] as const) {
      io.setInput(pin, v);
      vi.advanceTimersByTime(1); // contact bounce: 1 ms apart
    }
    vi.advanceTimersByTime(50);
    expect(edges).toEqual(['4v']);
    for (const v of [0, 1, 0] as const) {
      io.setInput(pin, v);
      vi.advanceTimersByTime(2);
    }
    vi.advanceTimersByTime(50);
    expect(edges).toEqual(['4v', '4^']);
  });

  it('LED modes reach the pins; blink toggles over time', async () => {
    vi.useRealTimers();
    const { io, hardware } = await setup();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const pin = SIM_PIN_MAP.leds['5'] as number;
    hardware.setLed(5, 'on');
    expect(io.read(pin)).toBeGreaterThan(0); // full brightness, by PWM where the pin has it
    hardware.setLed(5, 'off');
    expect(io.read(pin)).toBe(0);
    const writes: number[] = [];
    io.on('write', (p, v) => p === pin && writes.push(v));
    hardware.setLed(5, 'blink');
    vi.advanceTimersByTime(2100);
    expect(writes.length).toBeGreaterThanOrEqual(4);
    hardware.close();
  });

  it('self-test reports a broken LED in its bitmap', async () => {
    vi.useRealTimers();
    const { hardware } = await setup([SIM_PIN_MAP.leds['2'] as number]);
    const failed = await hardware.selfTest();
    expect(failed).toBe(SELF_TEST_BIT.led(2));
    hardware.close();
  });
});
