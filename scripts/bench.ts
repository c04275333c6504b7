/**
 * `npm run bench [-- NAME...]`: one JSON line per benchmark, each with the project's figure, a
 * baseline measured in the same run on the same machine, and their ratio. See docs/performance.md.
 */
import { backlog } from './bench/backlog.js';
import { exportBench } from './bench/export.js';
import { pruneBench } from './bench/prune.js';
import { frameCodec } from './bench/frame-codec.js';
import { ingest } from './bench/ingest.js';
import type { BenchResult } from './bench/measure.js';
import { pressToAck } from './bench/press-to-ack.js';
import { pressToEval } from './bench/press-to-eval.js';
import { idleRss } from './bench/idle-rss.js';
import { sms } from './bench/sms.js';
import { statsBench } from './bench/stats.js';
import { tablet } from './bench/tablet.js';

const BENCHES: Record<string, () => BenchResult | Promise<BenchResult>> = {
  'frame-codec': frameCodec,
  'press-to-eval': () => pressToEval(),
  'idle-rss': () => idleRss(),
  ingest: () => ingest(),
  'press-to-ack': () => pressToAck(),
  backlog: () => backlog(),
  sms: () => sms(),
  stats: () => statsBench(),
  tablet: () => tablet(),
  export: () => exportBench(),
  prune: () => pruneBench(),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in BENCHES));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
for (const [name, bench] of Object.entries(BENCHES)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  console.log(JSON.stringify(await bench()));
}
process.exit(0); // johnny-five keeps timers of its own
