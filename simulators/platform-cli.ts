/**
 * `npm run platform -- [--port N] [--db FILE] [--broker URL] [--shared]`: the city platform,
 * simulated. Without `--broker` it runs its own aedes broker on `--port` (default 1883);
 * with one, the same ingest runs against that broker (Mosquitto, EMQX). Push a hall
 * configuration with `--push-config FILE --hall HALL_ID`.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PlatformIngest, startEmbeddedBroker } from './platform.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '1883' },
      db: { type: 'string', default: './data/platform.sqlite' },
      broker: { type: 'string' },
      shared: { type: 'boolean', default: false },
      'push-config': { type: 'string' },
      hall: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run platform -- [--port N] [--db FILE] [--broker URL] [--shared] [--push-config FILE --hall HALL_ID]');
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got ${values.port}`);
  const broker = values.broker ? undefined : await startEmbeddedBroker(port);
  const url = values.broker ?? `mqtt://127.0.0.1:${broker!.port}`;
  const { mkdirSync } = await import('node:fs');
  const { dirname } = await import('node:path');
  mkdirSync(dirname(values.db), { recursive: true });
  const ingest = await PlatformIngest.start({ brokerUrl: url, dbFile: values.db, shared: values.shared, log: (l) => console.error(l) });
  console.log(`platform ingest on ${url}, database ${values.db}`);
  if (values['push-config']) {
    if (!values.hall) throw new Error('--push-config needs --hall HALL_ID');
    await ingest.pushConfig(values.hall, JSON.parse(readFileSync(values['push-config'], 'utf8')));
    console.log(`pushed ${values['push-config']} to hall ${values.hall}`);
  }
  const timer = setInterval(() => {
    const c = ingest.counts;
    console.log(`stored ${c.stored} evaluations (${c.repeats} repeats ignored, ${c.rejected} rejected), ${c.alerts} alerts, ${c.batches} batches`);
  }, 5000);
  return new Promise((resolve) => {
    const stop = () => {
      clearInterval(timer);
      void ingest.close().then(() => broker?.close()).then(() => resolve(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`platform: ${(error as Error).message}`);
    process.exit(1);
  },
);
