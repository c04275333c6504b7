/**
 * `npm run modem -- [--port PATH] [--model SIM800|EC20] [--answer]`: a simulated GSM modem
 * for the hub's SMS follow-up (PROTOCOL 7), by hand.
 *
 * Without `--port` it makes a socat pty pair and prints the path to give the hub as
 * `sms.modem.path` (`unplug` and `plug` then pull and plug that cable); with `--port` it
 * serves one end of a pair you made (`socat -d -d pty,raw,echo=0 pty,raw,echo=0`). It prints
 * each command the hub sends and each message that goes out; with `--answer` the simulated
 * citizens answer invitations (mostly 4 or 5, sometimes a 差评, a TD, a remark, or nothing).
 * Lines on stdin:
 *
 *   sms NUMBER TEXT…   NUMBER texts the hub (e.g. `sms 13812345678 5`)
 *   fail [N] [CODE]    the next N sends get +CMS ERROR: CODE (default 1, 500)
 *   error PREFIX [N]   the next N commands starting with PREFIX get ERROR (e.g. `error AT+CSCS`)
 *   hold / release     hold the answers to sends (they go out; the hub hears nothing) / let them go
 *   mute / unmute      a hung modem: no answers at all
 *   rssi N             the signal AT+CSQ reports (0..31, 99 unknown)
 *   noise              a burst of garbage on the line
 *   answer on|off      the simulated citizens answer, or not
 *   unplug / plug      pull the cable and plug it back (without --port)
 *   sim                what is on the SIM
 *   quit
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { serialTransport } from '../device/transport.js';
import { citizenAnswer, ModemLine, SimulatedModem, type ModemModel } from './gsm-modem.js';
import { tempDir } from './pty.js';
import { quitting, readCommands, runProgram, say, UsageError } from './terminal.js';

const USAGE = `usage: npm run modem -- [--port PATH] [--model SIM800|EC20] [--answer]

  --port    the modem's end of a pty pair you made (default: make one and print the hub's end)
  --model   SIM800 (storage from index 1) or EC20 (from 0) (default SIM800)
  --answer  simulated citizens answer the invitations

stdin lines: sms NUMBER TEXT | fail [N] [CODE] | error PREFIX [N] | hold | release | mute | unmute
             rssi N | noise | answer on|off | unplug | plug | sim | quit`;

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      model: { type: 'string', default: 'SIM800' },
      answer: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const model = values.model.toUpperCase();
  if (model !== 'SIM800' && model !== 'EC20') throw new UsageError(`--model must be SIM800 or EC20, got ${values.model}`);
  return { port: values.port, model: model as ModemModel, answer: values.answer };
}

async function main(args: NonNullable<ReturnType<typeof parse>>): Promise<number> {
  let answering = args.answer;
  const modem = new SimulatedModem({ model: args.model, onMessage: () => (answering ? citizenAnswer(Math.random) : undefined), replyDelayMs: 2000 });
  modem.on('command', (line) => say(`  hub: ${line}`));
  modem.on('sent', (m) => say(`→ to ${m.number} (mr ${m.mr}): ${m.text}`));
  modem.on('refused', (code) => say(`✗ send refused: +CMS ERROR: ${code}`));
  modem.on('reply', (number, text) => say(`← ${number} answers: ${text}`));
  modem.on('stored', (index) => say(`  stored at SIM index ${index}`));
  modem.on('deleted', (index) => say(`  hub deleted SIM index ${index}`));

  let line: ModemLine | undefined;
  let dir: string | undefined;
  if (args.port) {
    await modem.attach(serialTransport(args.port));
    say(`simulated ${args.model} on ${args.port}`);
  } else {
    dir = tempDir('modem');
    line = new ModemLine(modem, join(dir, 'modem'));
    await line.plug();
    say(`simulated ${args.model}; give the hub  "sms": { "modem": { "path": "${line.hubPath}" } }`);
  }

  const { finished, quit } = quitting(async () => {
    await (line ? line.unplug() : modem.detach());
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  let release: (() => void) | undefined;

  const command = async (text: string) => {
    const [verb = '', ...rest] = text.trim().split(/\s+/);
    const int = (s: string | undefined, fallback: number) => (s === undefined ? fallback : Number.parseInt(s, 10));
    switch (verb) {
      case '':
        return;
      case 'sms': {
        const [number, ...words] = rest;
        if (!number || words.length === 0) return say('usage: sms NUMBER TEXT');
        modem.deliver(number, words.join(' '));
        return say(`${number} texts: ${words.join(' ')}${modem.plugged ? '' : ' (held by the network: the modem is unplugged)'}`);
      }
      case 'fail':
        modem.failSends(int(rest[0], 1), int(rest[1], 500));
        return say(`the next ${int(rest[0], 1)} send(s) get +CMS ERROR: ${int(rest[1], 500)}`);
      case 'error':
        if (!rest[0]) return say('usage: error PREFIX [N]');
        modem.failCommand(rest[0], int(rest[1], 1));
        return say(`the next ${int(rest[1], 1)} ${rest[0]} command(s) get ERROR`);
      case 'hold':
        release = modem.holdAnswers();
        return say('answers to sends held: messages go out, the hub hears nothing until release');
      case 'release':
        release?.();
        release = undefined;
        return say('held answers released');
      case 'mute':
      case 'unmute':
        modem.mute(verb === 'mute');
        return say(verb === 'mute' ? 'muted: the modem answers nothing' : 'answering again');
      case 'rssi':
        modem.rssi = int(rest[0], 20);
        return say(`AT+CSQ now reports ${modem.rssi}`);
      case 'noise':
        modem.noise(Uint8Array.from({ length: 32 }, () => Math.floor(Math.random() * 256)));
        return say('32 bytes of garbage sent');
      case 'answer':
        answering = rest[0] !== 'off';
        return say(answering ? 'simulated citizens answer' : 'simulated citizens stay silent');
      case 'unplug':
      case 'plug':
        if (!line) return say('--port given: pull that cable yourself');
        await (verb === 'unplug' ? line.unplug() : line.plug());
        return say(verb === 'unplug' ? 'unplugged: the hub\'s port is gone' : `plugged in again at ${line.hubPath}`);
      case 'sim': {
        if (modem.stored.size === 0) return say('the SIM is empty');
        for (const [index, m] of modem.stored) say(`  ${index}: ${m.number} ${m.scts} ${m.read ? 'read' : 'unread'}: ${m.text}`);
        return;
      }
      case 'quit':
        return quit();
      default:
        return say(`unknown command ${JSON.stringify(verb)}; try sms, fail, error, hold, release, mute, unmute, rssi, noise, answer, unplug, plug, sim, quit`);
    }
  };
  let queue: Promise<void> = Promise.resolve();
  readCommands((text) => {
    queue = queue
      .then(() => command(text))
      .catch((error: Error) => say(`modem: ${error.message}`));
  }, quit);
  return finished;
}

runProgram('modem', USAGE, () => parse(process.argv.slice(2)), main);
