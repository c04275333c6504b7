/**
 * `npm start`: the demo hall. A platform simulator, a hub, virtual evaluators running the
 * real firmware over real pseudo-terminals, and citizens rating at a realistic spread. Prints
 * the pages' URLs and the admin token, then a live summary line; keys let a person take part.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DemoHall } from '../simulators/demo-hall.js';

const HELP = `usage: npm start -- [options]

  --windows N       windows in the hall, each with a clerk and an evaluator (default 8)
  --speed X         scenario speed: 1 = a hall's real pace, 10 = ten times faster (default 10)
  --seed N          seed of the scenario, for a repeatable run (default: random)
  --http-port N     the hub's HTTP port: pages, API and /mqtt (default 8080)
  --mqtt-port N     the platform simulator's MQTT port (default 1883)
  --broker URL      use a real MQTT broker as the platform (e.g. mqtt://127.0.0.1:1883)
  --no-platform     no platform: ratings stay on the hub
  --data DIR        where the demo keeps its data (default ./data/demo)
  --token TOKEN     the admin token (default: a random one, printed)

keys: 1-5 press that button (5 = 非常满意) on the selected evaluator, [ and ] select an
evaluator, i its invite key, p cut / restore the link to the platform, q or Ctrl-C quit.`;

function parse() {
  const { values } = parseArgs({
    options: {
      windows: { type: 'string', default: '8' },
      speed: { type: 'string', default: '10' },
      seed: { type: 'string' },
      'http-port': { type: 'string', default: '8080' },
      'mqtt-port': { type: 'string', default: '1883' },
      broker: { type: 'string' },
      'no-platform': { type: 'boolean', default: false },
      data: { type: 'string', default: './data/demo' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const int = (name: string, v: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer ${min}..${max}, got ${v}`);
    return n;
  };
  const speed = Number(values.speed);
  if (!(speed > 0 && speed <= 1000)) throw new Error(`--speed must be a number above 0 (at most 1000), got ${values.speed}`);
  return {
    help: values.help,
    windows: int('windows', values.windows, 1, 64),
    speed,
    seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : int('seed', values.seed, 0, 2 ** 31),
    httpPort: int('http-port', values['http-port'], 0, 65535),
    mqttPort: int('mqtt-port', values['mqtt-port'], 0, 65535),
    brokerUrl: values.broker,
    noPlatform: values['no-platform'],
    dataDir: values.data,
    adminToken: values.token ?? randomBytes(12).toString('base64url'),
  };
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse();
  } catch (error) {
    process.stderr.write(`start: ${(error as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const tty = process.stdout.isTTY === true;
  const hall = new DemoHall({ ...args, log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`好差评 demo hall: ${args.windows} windows, speed ${args.speed}, seed ${args.seed}\n`);
  await hall.start();
  const base = `http://127.0.0.1:${hall.hub.port}`;
  process.stdout.write(
    [
      `evaluators: ${hall.evaluators.length} running the real firmware over ${hall.link === 'pty' ? 'real pseudo-terminals (socat)' : 'in-memory links (socat is not installed)'}`,
      `tablet page:      ${hall.tabletUrl}`,
      `dashboard:        ${base}/dashboard`,
      `technician pages: ${base}/tech`,
      `admin token:      ${args.adminToken}`,
      `platform:         ${args.noPlatform ? 'none' : (args.brokerUrl ?? `embedded broker on mqtt://127.0.0.1:${hall.options.mqttPort}`)}`,
      `keys: 1-5 press on the selected evaluator, [ ] select, i invite, p cut/restore the platform link, q quit`,
      '',
    ].join('\n'),
  );
  let selected = 0;
  const line = () => {
    const s = hall.summary();
    const sel = hall.evaluators[selected]!;
    return `ratings ${s.ratings} (+${s.notEvaluated} not evaluated) | 差评 ${s.dissatisfied} | backlog ${s.backlog} | platform received ${s.platform} ${s.platformUp ? '(linked)' : '(LINK CUT)'} | evaluators online ${s.online} | selected ${sel.windowId} [${sel.firmware.state}]`;
  };
  const timer = setInterval(() => process.stdout.write(tty ? `\r${line()}\u001b[K` : `${line()}\n`), tty ? 500 : 5000);

  let done!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (done = resolve));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    process.stdout.write('\nstopping the demo hall…\n');
    void hall.stop().then(() => done(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (!process.stdin.isTTY) {
    // the same keys, one per line, for scripts and tests: `p`, `press 5`, `invite`, `q`
    const { createInterface } = await import('node:readline');
    createInterface({ input: process.stdin }).on('line', (text) => {
      const [verb, arg] = text.trim().split(/\s+/);
      const e = hall.evaluators[selected]!;
      if (verb === 'q') stop();
      else if (verb === 'p') void hall.togglePlatform().then((up) => process.stdout.write(`platform link ${up ? 'restored' : 'cut'}\n`));
      else if (verb === 'press' && arg && /^[1-5]$/.test(arg)) hall.press(e, Number(arg));
      else if (verb === 'invite') hall.press(e, 'invite');
    });
  } else {
    process.stdin.setRawMode(true);
    process.stdin.on('data', (data: Buffer) => {
      const key = data.toString();
      const e = hall.evaluators[selected]!;
      if (key === 'q' || key === '\u0003') stop();
      else if (/^[1-5]$/.test(key)) hall.press(e, Number(key));
      else if (key === 'i') hall.press(e, 'invite');
      else if (key === ']') selected = (selected + 1) % hall.evaluators.length;
      else if (key === '[') selected = (selected - 1 + hall.evaluators.length) % hall.evaluators.length;
      else if (key === 'p') void hall.togglePlatform();
    });
  }
  const code = await finished;
  process.stdin.pause();
  return code;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`start: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
