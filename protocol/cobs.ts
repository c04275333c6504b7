/**
 * Consistent Overhead Byte Stuffing (PROTOCOL 1.1). The encoded form holds no 0x00 byte, so
 * 0x00 can delimit frames. Overhead: one byte per started run of 254 bytes.
 */
import { FrameError, hexByte } from './errors.js';

/** Largest encoded size of `length` decoded bytes (without the delimiter). */
export function cobsMaxEncodedLength(length: number): number {
  return length + Math.floor(length / 254) + 1;
}

export function cobsEncode(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(cobsMaxEncodedLength(input.length));
  let codeIndex = 0;
  let code = 1;
  let o = 1;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i]!;
    if (byte === 0) {
      out[codeIndex] = code;
      codeIndex = o++;
      code = 1;
      continue;
    }
    out[o++] = byte;
    code++;
    if (code === 0xff) {
      out[codeIndex] = code;
      if (i + 1 === input.length) return out.subarray(0, o); // a full block ends the input: no trailing code byte
      codeIndex = o++;
      code = 1;
    }
  }
  out[codeIndex] = code;
  return out.subarray(0, o);
}

/** Decodes one COBS block (no delimiter). Throws `FrameError('cobs')` on malformed input. */
export function cobsDecode(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(input.length);
  let o = 0;
  let i = 0;
  while (i < input.length) {
    const code = input[i]!;
    if (code === 0) throw new FrameError('cobs', `COBS: zero byte at offset ${i}`, i);
    const end = i + code;
    if (end > input.length) {
      throw new FrameError('cobs', `COBS: code byte ${hexByte(code)} at offset ${i} runs past the end (${input.length} bytes)`, i);
    }
    for (let j = i + 1; j < end; j++) {
      const byte = input[j]!;
      if (byte === 0) throw new FrameError('cobs', `COBS: zero byte at offset ${j}`, j);
      out[o++] = byte;
    }
    i = end;
    if (code !== 0xff && i < input.length) out[o++] = 0;
  }
  return out.subarray(0, o);
}
