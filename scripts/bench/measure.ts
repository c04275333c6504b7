/** Helpers for `npm run bench`: interleaved timing rounds and the one-line JSON result. */
import { cpus } from 'node:os';

export interface BenchResult {
  bench: string;
  figure: number;
  unit: string;
  baseline: number;
  baselineName: string;
  /** figure / baseline. */
  ratio: number;
  machine: { cores: number; node: string };
}

/** The figures of a benchmark, plus any extra fields it reports (sizes, peak RSS...). */
export type BenchFigures = Omit<BenchResult, 'ratio' | 'machine'> & Record<string, unknown>;

export function result(fields: BenchFigures): BenchResult {
  return { ...fields, ratio: Number((fields.figure / fields.baseline).toFixed(4)), machine: { cores: cpus().length, node: process.version } };
}

/** Operations per second of `op` (which does `batch` operations per call), over about `ms`. */
export function rate(op: () => void, batch: number, ms: number): number {
  const start = performance.now();
  let calls = 0;
  let now = start;
  while (now - start < ms) {
    op();
    calls++;
    now = performance.now();
  }
  return (calls * batch * 1000) / (now - start);
}

/**
 * Measures project and baseline in alternating rounds (so drift in machine load hits both)
 * and returns the median of each.
 */
export function compareRates(project: () => void, baseline: () => void, batch: number, rounds = 7, ms = 300): { figure: number; baseline: number } {
  const a: number[] = [];
  const b: number[] = [];
  rate(project, batch, ms / 2); // warm up the JIT
  rate(baseline, batch, ms / 2);
  for (let i = 0; i < rounds; i++) {
    a.push(rate(project, batch, ms));
    b.push(rate(baseline, batch, ms));
  }
  return { figure: median(a), baseline: median(b) };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The p-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
