/**
 * `npm start`: until the hub lands, a live look at the evaluator link. A simulated evaluator
 * and a simulated hub talk PROTOCOL 1 over an in-memory line that loses frames and injects
 * noise; every frame on the wire is printed as the frame inspector would decode it, and the
 * run ends with the link statistics. Each later part of the system extends this into the
 * demo hall.
 */
import { parseArgs } from 'node:util';
import {
  AckStatus,
  FrameDecoder,
  Origin,
  ReliableSender,
  DuplicateFilter,
  decodeMessage,
  encodeMessage,
  packetToJson,
  type Message,
} from '../protocol/index.js';
import { bytesToHex } from '../protocol/cli/hex.js';
import { prng } from '../protocol/fuzz.js';

const { values } = parseArgs({
  options: {
    presses: { type: 'string', default: '12' },
    loss: { type: 'string', default: '0.2' },
    seed: { type: 'string', default: '7' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: npm start -- [--presses N] [--loss 0..0.9] [--seed N]\n\nA simulated evaluator rates N transactions over a lossy, noisy line to a simulated hub.');
  process.exit(0);
}
const presses = Number(values.presses);
const loss = Number(values.loss);
if (!Number.isInteger(presses) || presses < 1 || !(loss >= 0 && loss <= 0.9)) {
  console.error('--presses must be a positive integer and --loss a number from 0 to 0.9');
  process.exit(2);
}
const rand = prng(Number(values.seed));
const chance = (p: number) => rand() / 2 ** 32 < p;

type Side = 'device' | 'hub';
const decoders: Record<Side, FrameDecoder> = { device: new FrameDecoder(), hub: new FrameDecoder() };
const senders: Record<Side, ReliableSender<Message>> = { device: new ReliableSender(), hub: new ReliableSender() };
const filter = new DuplicateFilter();
const committed = new Set<string>();
let now = 0;
let lost = 0;

/** Puts bytes on the line towards `to`; sometimes they are lost or noise is added. */
function line(from: Side, bytes: Uint8Array): void {
  const to: Side = from === 'device' ? 'hub' : 'device';
  const tag = from === 'device' ? 'evaluator -> hub' : 'hub -> evaluator';
  if (chance(loss)) {
    lost++;
    console.log(`  ${tag}  ${bytesToHex(bytes)}  (lost on the line)`);
    return;
  }
  const noise = chance(loss / 2) ? Uint8Array.from({ length: 1 + (rand() % 6) }, () => rand() & 0xff) : new Uint8Array();
  for (const out of decoders[to].push(Uint8Array.of(...noise, ...bytes))) {
    if (out.kind === 'drop') {
      console.log(`  ${tag}  dropped ${out.bytes} bytes: ${out.reason}`);
      continue;
    }
    const packet = decodeMessage(out.frame);
    console.log(`  ${tag}  ${bytesToHex(bytes)}\n    ${JSON.stringify(packetToJson(packet))}`);
    receive(to, packet.seq, packet.message);
  }
}

function send(from: Side, message: Message, seq = 0): void {
  line(from, encodeMessage(message, seq));
}

function receive(side: Side, seq: number, message: Message): void {
  if (message.type === 'ACK') {
    senders[side].ack(seq);
    return;
  }
  if (side === 'hub' && message.type === 'EVAL') {
    // PROTOCOL 1.3: ACK only after commit; a retransmission is recognised and ACKed again.
    const id = `DEMO-0001-${message.counter}`;
    const duplicate = filter.accept(seq) === 'duplicate' || committed.has(id);
    committed.add(id);
    send('hub', { type: 'ACK', status: duplicate ? AckStatus.DUPLICATE : AckStatus.OK, reason: 0 }, seq);
  }
}

function pump(side: Side): void {
  for (const t of senders[side].poll(now)) send(side, t.item, t.seq);
}

console.log(`好差评 evaluator link demo: ${presses} ratings over a line losing ${Math.round(loss * 100)}% of frames\n`);
send('device', { type: 'HELLO', deviceId: 'DEMO-0001', model: 'HCP-5', fwVersion: '0.1.0', protoVersion: 1, capabilities: 0x27, bootCount: 1, nextCounter: 1, queued: 0 });
send('hub', { type: 'WELCOME', hubTime: Date.now(), windowId: 'A01', windowName: 'A01 综合受理', settings: { promptTimeoutS: 30, thanksS: 3, volume: 5, brightness: 8, language: 0, flags: 0 } });
for (let counter = 1; counter <= presses; counter++) {
  const level = [5, 5, 5, 4, 4, 3, 2, 1, 0][rand() % 9]!;
  senders.device.enqueue({ type: 'EVAL', counter, level, origin: Origin.PROMPTED, txnId: `T-${counter}`, deviceTime: Date.now(), promptMs: level ? 800 + (rand() % 4000) : 30_000 });
}
for (let step = 0; step < 10_000 && senders.device.size > 0; step++) {
  pump('device');
  now = senders.device.nextDueAt() ?? now;
}
const stats = decoders.hub.stats;
console.log(`\n${committed.size} of ${presses} ratings committed once at the hub; ${lost} frames lost on the line, ${senders.device.retransmissions} retransmissions;`);
console.log(`hub link drops by reason: ${JSON.stringify(stats.drops)}`);
console.log('\nInspect frames yourself:  echo <hex> | npm run -s frames -- decode');
process.exitCode = committed.size === presses ? 0 : 1;
