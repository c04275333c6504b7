import { describe, expect, it } from 'vitest';
import { fuzz } from './fuzz.js';

describe('decoder fuzz', () => {
  it('100,000 random and mutated inputs: only protocol errors escape, the decoder keeps working', () => {
    const seed = Number(process.env['FUZZ_SEED'] ?? Date.now() % 2 ** 31);
    const report = fuzz({ iterations: 100_000, seed });
    expect(report.inputs).toBe(100_000);
    // The mutations must actually exercise every path, or the test proves nothing.
    expect(report.frames).toBeGreaterThan(10_000);
    expect(report.drops).toBeGreaterThan(10_000);
    expect(report.refusedMessages).toBeGreaterThan(5_000);
    expect(report.failures.slice(0, 3), `seed ${seed}`).toEqual([]);
  });
});
