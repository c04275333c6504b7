/**
 * `npm start`: the demo hall. A platform simulator, a hub, virtual evaluators running the
 * real firmware over real pseudo-terminals, and citizens rating at a realistic spread. Prints
 * the pages' URLs and the admin token, then a live summary line; keys let a person take part.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DemoHall } from '../simulators/demo-hall.js';

const HELP = `usage: npm start -- [options]

  --windows N          windows in the hall, each with a clerk and an evaluator (default 8)
  --speed X            scenario speed: 1 = a hall's real pace, 10 = ten times faster (default 10)
  --seed N             seed of the scenario, for a repeatable run (default: random)
  --http-port N        the hub's HTTP port: pages, API and /mqtt (default 8080)
  --mqtt-port N        the platform simulator's MQTT port (default 1883)
  --platform-rate N    evaluations a second the simulated platform takes, 0 = no limit
                       (default 20: a restored link drains its backlog where you can see it)
  --broker URL         use a real MQTT broker as the platform (e.g. mqtt://127.0.0.1:1883)
  --no-platform        no platform: ratings stay on the hub
  --data DIR           where the demo keeps its data (default ./data/demo)
  --token TOKEN        the admin token (default: a random one, printed)
  -h, --help           this text

keys, typed on the terminal, or one per line when stdin is a pipe
(e.g. \`printf '5\\np\\n' | npm start\`); each answers with one line, what it did or
why nothing happened:
  1-5    press that button on the selected evaluator (1 非常不满意 … 5 非常满意);
         it counts while the evaluator asks for a rating
  i      press the selected evaluator's invite key: it asks the citizen to rate
  [ ]    select the previous / next evaluator
  p      cut the link to the platform, or restore it: the backlog builds, then drains
  q      quit (Ctrl-C or SIGTERM too)
In a pipe, \`press N\` and \`invite\` work as well.

the live line: ratings, 差评, backlog (while draining: backlog at the restore → now, and
the rate confirmed), what the platform received and the link, evaluators online, the
selected evaluator and its state. A terminal redraws it twice a second; a pipe gets a line
every 5 s, and every second while the backlog drains.`;

function parse() {
  const { values } = parseArgs({
    options: {
      windows: { type: 'string', default: '8' },
      speed: { type: 'string', default: '10' },
      seed: { type: 'string' },
      'http-port': { type: 'string', default: '8080' },
      'mqtt-port': { type: 'string', default: '1883' },
      'platform-rate': { type: 'string', default: '20' },
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
    platformRate: int('platform-rate', values['platform-rate'], 0, 1_000_000),
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
  const platform = args.noPlatform
    ? 'none'
    : (args.brokerUrl ?? `embedded broker on mqtt://127.0.0.1:${hall.options.mqttPort}, taking ${args.platformRate > 0 ? `${args.platformRate} evaluations a second` : 'evaluations without limit'}`);
  process.stdout.write(
    [
      `evaluators: ${hall.evaluators.length} running the real firmware over ${hall.link === 'pty' ? 'real pseudo-terminals (socat)' : 'in-memory links (socat is not installed)'}`,
      `tablet page:      ${hall.tabletUrl}`,
      `dashboard:        ${base}/dashboard`,
      `technician pages: ${base}/tech`,
      `admin token:      ${args.adminToken}`,
      `platform:         ${platform}`,
      `SMS:              ${hall.modem ? `a simulated GSM modem on ${hall.hub.sms?.status().port}; citizens who left a number and did not rate are invited, most answer` : 'none (socat is not installed)'}`,
      `keys: 1-5 press on the selected evaluator, i invite, [ ] select, p cut/restore the platform link, q quit (${tty ? 'type them' : 'one per line'}; --help explains)`,
      '',
    ].join('\n'),
  );

  const live = new LiveLine(hall);
  /** A line above the live one (a key's answer, an event): on a terminal the live line is redrawn under it. */
  const say = (text: string) => process.stdout.write(tty ? `\r${text}\u001b[K\n${live.text}` : `${text}\n`);
  const timer = setInterval(() => {
    const { line, event, due } = live.sample(Date.now(), tty);
    if (event) say(event);
    if (tty) process.stdout.write(`\r${line}\u001b[K`);
    else if (due) process.stdout.write(`${line}\n`);
  }, SAMPLE_MS);

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
  // keys one at a time, each answered before the next: answers come in the order of the keys
  let keys = Promise.resolve();
  const key = (text: string) => {
    keys = keys.then(async () => {
      if (stopping) return;
      if (text.trim() === 'q') stop();
      else say(await hall.key(text));
    });
  };
  if (!process.stdin.isTTY) {
    // the same keys, one per line, for scripts and tests
    const { createInterface } = await import('node:readline');
    createInterface({ input: process.stdin }).on('line', (text) => {
      if (text.trim()) key(text);
    });
  } else {
    process.stdin.setRawMode(true);
    process.stdin.on('data', (data: Buffer) => {
      for (const k of data.toString()) {
        if (k === '\u0003') stop();
        else if (k.trim()) key(k);
      }
    });
  }
  const code = await finished;
  process.stdin.pause();
  return code;
}

/** How often the live line is sampled (and redrawn on a terminal), ms. */
const SAMPLE_MS = 500;
/** A pipe gets the live line this often, ms; every `DRAIN_LINE_MS` while the backlog drains. */
const PIPE_LINE_MS = 5000;
const DRAIN_LINE_MS = 1000;

/**
 * The live summary line. While a backlog drains after the platform link came back (or, at
 * start, a backlog left by an earlier run) it says from how much, how much is left and the
 * rate confirmed over the last 2 s, and announces the end of the drain.
 */
class LiveLine {
  text = '';
  private drain: { from: number; startedAt: number } | undefined;
  private wasLinked = false;
  private everLinked = false;
  /** What an earlier run left unsynced in the data directory. */
  private readonly leftOver: number;
  private readonly confirmed: { at: number; n: number }[] = [];
  private printedAt = 0;

  constructor(private readonly hall: DemoHall) {
    this.leftOver = hall.summary().backlog;
  }

  sample(now: number, tty: boolean): { line: string; event?: string; due: boolean } {
    const s = this.hall.summary();
    this.confirmed.push({ at: now, n: s.confirmed });
    while (this.confirmed.length > 2 && this.confirmed[0]!.at < now - 2000) this.confirmed.shift();
    const first = this.confirmed[0]!;
    const rate = now > first.at ? Math.round(((s.confirmed - first.n) * 1000) / (now - first.at)) : 0;
    const linked = s.link === 'linked';
    // the first link of a fresh demo is no drain: a rating or two in flight, not a backlog
    if (linked && !this.wasLinked && s.backlog > 0 && (this.everLinked || this.leftOver > 0)) this.drain = { from: s.backlog, startedAt: now };
    if (!linked) this.drain = undefined;
    this.wasLinked = linked;
    this.everLinked ||= linked;
    let event: string | undefined;
    if (this.drain && s.backlog === 0) {
      const n = this.drain.from;
      event = `backlog drained: ${n} evaluation${n === 1 ? '' : 's'} in ${((now - this.drain.startedAt) / 1000).toFixed(1)} s`;
      this.drain = undefined;
    }
    const backlog = this.drain ? `backlog ${this.drain.from} → ${s.backlog}, ${rate}/s` : `backlog ${s.backlog}`;
    const link = { linked: '(linked)', cut: '(LINK CUT)', reconnecting: '(reconnecting)', none: '(no platform)' }[s.link];
    const e = this.hall.selectedEvaluator;
    this.text = `ratings ${s.ratings} (+${s.notEvaluated} not evaluated) | 差评 ${s.dissatisfied} | ${backlog} | platform received ${s.platform} ${link} | evaluators online ${s.online}${s.sms ? ` | SMS sent ${s.sms.sent}, replies ${s.sms.replies}` : ''} | selected ${e.windowId} [${e.firmware.state}]`;
    const due = !tty && (event !== undefined || now - this.printedAt >= (this.drain ? DRAIN_LINE_MS : PIPE_LINE_MS));
    if (due) this.printedAt = now;
    return event ? { line: this.text, event, due } : { line: this.text, due };
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`start: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
