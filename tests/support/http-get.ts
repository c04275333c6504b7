/**
 * A GET with exactly the headers given and the body as the bytes that came (`fetch` adds its
 * own Accept-Encoding and decompresses, which would hide what the hub sent).
 */
import { get } from 'node:http';

export interface BytesAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export function getBytes(url: string, headers: Record<string, string> = {}): Promise<BytesAnswer> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}
