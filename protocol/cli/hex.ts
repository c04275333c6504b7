/** Hex text <-> bytes for the inspector and the vectors. Whitespace, `0x` prefixes and `:` separators allowed. */

/** Hex digits of `text` without separators; throws `TypeError` at the first non-hex character. */
export function cleanHex(text: string): string {
  const cleaned = text.replace(/0x/gi, '').replace(/[\s:,]/g, '');
  const bad = cleaned.search(/[^0-9a-fA-F]/);
  if (bad >= 0) throw new TypeError(`not hex: ${JSON.stringify(cleaned[bad])} at digit ${bad + 1}`);
  return cleaned;
}

export function hexToBytes(text: string): Uint8Array {
  const cleaned = cleanHex(text);
  const bad = cleaned.search(/[^0-9a-fA-F]/);
  if (bad >= 0) throw new TypeError(`not hex: ${JSON.stringify(cleaned[bad])} at digit ${bad + 1}`);
  if (cleaned.length % 2 !== 0) throw new TypeError(`odd number of hex digits (${cleaned.length})`);
  const bytes = new Uint8Array(cleaned.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(cleaned.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

export function bytesToHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}
