/**
 * `npm run hub-peer -- --port PATH`: the other end of one evaluator's link, for a person at a
 * terminal. It welcomes the evaluator, puts a clerk on duty, prints every frame, and reads
 * commands on stdin: `service TXN [MATTER]` (transaction done: the evaluator prompts),
 * `cancel TXN`, `staff on|paused|off`, `prompt SECONDS`, `quit`.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { DEFAULT_SETTINGS, DUTY_CODES, ServiceEvent, packetToJson, type DutyName, type Settings } from '../protocol/index.js';
import { serialTransport } from '../device/transport.js';
import { HubPeer } from './hub-peer.js';

const USAGE = 'usage: npm run hub-peer -- --port PATH [--baud N]\nstdin: service TXN [MATTER] | cancel TXN | staff on|paused|off | prompt SECONDS | quit';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, baud: { type: 'string', default: '115200' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help || !values.port) {
    (values.help ? process.stdout : process.stderr).write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  let settings: Settings = { ...DEFAULT_SETTINGS };
  const peer = new HubPeer(serialTransport(values.port, Number(values.baud)), { settings });
  peer.on('packet', (p) => {
    if (p.message.type === 'PING') return;
    const labels: Record<number, string> = { 0: '未评价 not evaluated', 1: '非常不满意', 2: '不满意', 3: '基本满意', 4: '满意', 5: '非常满意' };
    const note = p.message.type === 'EVAL' ? `  <- ${labels[p.message.level]}` : '';
    console.log(`${p.duplicate ? '(repeat) ' : ''}${JSON.stringify(packetToJson(p))}${note}`);
  });
  await peer.open();
  console.log(`listening on ${values.port}; waiting for the evaluator's HELLO`);
  const rl = createInterface({ input: process.stdin });
  return new Promise((resolve) => {
    rl.on('line', (line) => {
      const [verb, a, ...rest] = line.trim().split(/\s+/);
      switch (verb) {
        case undefined:
        case '':
          return;
        case 'service':
          if (!a) return console.error('usage: service TXN [MATTER]');
          peer.service(a, rest.join(' ') || '居民身份证换领');
          return;
        case 'cancel':
          if (!a) return console.error('usage: cancel TXN');
          peer.service(a, '', ServiceEvent.CANCELLED);
          return;
        case 'staff': {
          const duty = a !== undefined && Object.hasOwn(DUTY_CODES, a) ? DUTY_CODES[a as DutyName] : undefined;
          if (duty === undefined) return console.error('usage: staff on|paused|off');
          peer.send({ type: 'STAFF', duty, staffId: 'S001', staffName: '王芳', staffTitle: '' });
          return;
        }
        case 'prompt': {
          const s = Number(a);
          if (!Number.isInteger(s) || s < 5 || s > 120) return console.error('usage: prompt SECONDS (5..120)');
          settings = { ...settings, promptTimeoutS: s };
          peer.send({ type: 'SETTINGS', settings });
          return;
        }
        case 'quit':
          rl.close();
          void peer.close().then(() => resolve(0));
          return;
        default:
          console.error(`unknown command ${JSON.stringify(verb)}\n${USAGE}`);
      }
    });
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`hub-peer: ${(error as Error).message}`);
    process.exit(1);
  },
);
