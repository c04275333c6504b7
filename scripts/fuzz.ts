/** `npm run fuzz [-- ITERATIONS [SEED]]`: the decoder fuzz campaign, longer than in `npm test`. */
import { fuzz } from '../protocol/fuzz.js';

const iterations = Number(process.argv[2] ?? 5_000_000);
const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31);
const started = performance.now();
const report = fuzz({ iterations, seed });
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ seed, ...report, failures: report.failures.length, seconds: Number(seconds.toFixed(1)) }));
for (const failure of report.failures.slice(0, 10)) console.error(`${failure.problem}\n  input: ${failure.input}`);
process.exitCode = report.failures.length > 0 ? 1 : 0;
