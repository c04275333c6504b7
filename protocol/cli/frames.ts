/**
 * Frame inspector for technicians and tests.
 *
 *   npm run -s frames -- decode   hex on stdin (whitespace allowed) -> one JSON object per frame or drop
 *   npm run -s frames -- encode   one JSON message per line on stdin -> each frame as lowercase hex
 *
 * Bad input gets a one-line error per bad line on stderr; the exit code is 1 if anything was
 * bad, 2 for a usage error. Never a stack trace.
 */
import { FrameDecoder } from '../frame.js';
import { FrameError, PayloadError } from '../errors.js';
import { decodeMessage, encodeMessage, messageFromJson, packetToJson } from '../messages.js';
import { messageName } from '../constants.js';
import { bytesToHex, cleanHex, hexToBytes } from './hex.js';

const USAGE = 'usage: npm run -s frames -- decode|encode   (reads stdin)';

export interface InspectResult {
  out: string[];
  errors: string[];
}

/** Decodes a hex capture; each line is hex, frames may span lines. */
export function inspectDecode(input: string): InspectResult {
  const out: string[] = [];
  const errors: string[] = [];
  const decoder = new FrameDecoder({ synced: true });
  let carry = ''; // a byte's first digit at the end of a line: a capture may wrap anywhere
  input.split(/\r?\n/).forEach((line, index) => {
    let bytes: Uint8Array;
    try {
      const digits = carry + cleanHex(line);
      carry = digits.length % 2 ? digits.slice(-1) : '';
      bytes = hexToBytes(carry ? digits.slice(0, -1) : digits);
    } catch (error) {
      errors.push(`line ${index + 1}: ${(error as Error).message}`);
      return;
    }
    for (const output of decoder.push(bytes)) {
      if (output.kind === 'drop') {
        out.push(JSON.stringify({ drop: output.reason, bytes: output.bytes, message: output.message }));
        errors.push(`line ${index + 1}: dropped ${output.bytes} bytes (${output.reason}): ${output.message}`);
        continue;
      }
      try {
        out.push(JSON.stringify(packetToJson(decodeMessage(output.frame))));
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
        const { type, seq } = output.frame;
        out.push(JSON.stringify({ invalid: error.code, typeByte: type, typeName: messageName(type) ?? null, seq, message: error.message }));
        errors.push(`line ${index + 1}: frame refused (${error.code}): ${error.message}`);
      }
    }
  });
  if (carry) errors.push('end of input: odd number of hex digits');
  if (decoder.pending > 0) {
    out.push(JSON.stringify({ drop: 'incomplete', bytes: decoder.pending, message: 'bytes after the last delimiter' }));
    errors.push(`end of input: ${decoder.pending} bytes without a closing 0x00 delimiter`);
  }
  return { out, errors };
}

/** Encodes one JSON message per non-empty line. */
export function inspectEncode(input: string): InspectResult {
  const out: string[] = [];
  const errors: string[] = [];
  input.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === '') return;
    try {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        throw new PayloadError('message', '', `malformed JSON (${(error as Error).message})`);
      }
      const { message, seq } = messageFromJson(value);
      out.push(bytesToHex(encodeMessage(message, seq)));
    } catch (error) {
      if (!(error instanceof FrameError || error instanceof PayloadError)) throw error;
      errors.push(`line ${index + 1}: ${error.message}`);
    }
  });
  return { out, errors };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(argv: string[]): Promise<number> {
  const command = argv[0];
  if (command !== 'decode' && command !== 'encode') {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const input = await readStdin();
  const { out, errors } = command === 'decode' ? inspectDecode(input) : inspectEncode(input);
  for (const line of out) process.stdout.write(`${line}\n`);
  for (const line of errors) process.stderr.write(`${line}\n`);
  return errors.length > 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`frames: internal error: ${(error as Error).message}\n`);
      process.exitCode = 70;
    },
  );
}
