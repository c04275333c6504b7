/**
 * The pages on a cheap tablet's Wi-Fi (issue 15 goal 8): the hub sends every page and asset
 * compressed when the browser accepts it, brotli first, gzip otherwise, and the very same bytes
 * uncompressed to a client that accepts neither; an ETag per coding lets a tablet revalidate
 * with a 304 instead of the bytes. This is the development hub (compression on first request);
 * tests/built-hub.test.ts checks the built hub's precompressed files.
 */
import { readFileSync } from 'node:fs';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MQTT_BROWSER_BUNDLE, acceptedCoding } from '../hub/pages.js';
import { cleanupsAfterEach } from './support/cleanup.js';
import { getBytes } from './support/http-get.js';
import { pagesHall } from './support/pages-hall.js';

const cleanups = cleanupsAfterEach();
const decode = { br: brotliDecompressSync, gzip: gunzipSync } as const;

describe('pages and assets over the wire', () => {
  it('the tablet page, its script, its style, its QR code bundle and mqtt.js: brotli, gzip or identity as accepted, each the same bytes', async () => {
    const hall = await pagesHall(cleanups, [{ id: 'A01', name: 'A01 综合受理' }]);
    for (const path of ['/tablet', '/assets/tablet.js', '/assets/tablet.css', '/assets/tablet-qr.js', '/vendor/mqtt.min.js', '/r/some-token']) {
      const plain = await getBytes(`${hall.url}${path}`);
      expect(plain.status, path).toBe(200);
      expect(plain.headers['content-encoding'], `${path} without Accept-Encoding`).toBeUndefined();
      expect(plain.headers['vary'], path).toBe('Accept-Encoding');
      expect(Number(plain.headers['content-length']), path).toBe(plain.body.length);
      if (path === '/vendor/mqtt.min.js') expect(plain.body.equals(readFileSync(MQTT_BROWSER_BUNDLE)), 'identity bytes are the file').toBe(true);
      for (const [accept, coding] of [
        ['gzip, deflate, br', 'br'],
        ['gzip', 'gzip'],
        ['br;q=0, gzip;q=0.5', 'gzip'],
        ['*', 'br'],
      ] as const) {
        const got = await getBytes(`${hall.url}${path}`, { 'accept-encoding': accept });
        expect(got.headers['content-encoding'], `${path} for ${accept}`).toBe(coding);
        expect(decode[coding](got.body).equals(plain.body), `${path} ${coding} decodes to the identity bytes`).toBe(true);
        expect(got.body.length, `${path} ${coding} is smaller`).toBeLessThan(plain.body.length);
      }
      for (const accept of ['identity', 'br;q=0, gzip;q=0', 'compress']) {
        const got = await getBytes(`${hall.url}${path}`, { 'accept-encoding': accept });
        expect(got.headers['content-encoding'], `${path} for ${accept}`).toBeUndefined();
        expect(got.body.equals(plain.body), `${path} for ${accept}: identity`).toBe(true);
      }
    }
  });

  it('a tablet that has the bytes gets a 304 for their ETag, and the bytes again for another coding\'s ETag', async () => {
    const hall = await pagesHall(cleanups, [{ id: 'A01', name: 'A01 综合受理' }]);
    const url = `${hall.url}/assets/tablet.js`;
    const br = await getBytes(url, { 'accept-encoding': 'br' });
    const gz = await getBytes(url, { 'accept-encoding': 'gzip' });
    const plain = await getBytes(url);
    const tags = [br, gz, plain].map((a) => a.headers['etag'] as string);
    expect(new Set(tags).size, 'one tag per coding').toBe(3);
    for (const tag of tags) expect(tag).toMatch(/^"[\w-]+"$/);
    const again = await getBytes(url, { 'accept-encoding': 'br', 'if-none-match': tags[0]! });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.headers['etag']).toBe(tags[0]);
    expect((await getBytes(url, { 'accept-encoding': 'br', 'if-none-match': `"other", W/${tags[0]}` })).status, 'a weak or listed tag matches too').toBe(304);
    expect((await getBytes(url, { 'accept-encoding': 'br', 'if-none-match': tags[1]! })).status, 'the gzip tag does not match brotli bytes').toBe(200);
    expect((await getBytes(url, { 'if-none-match': tags[2]! })).status).toBe(304);
    // another page's bytes have another tag
    expect((await getBytes(`${hall.url}/assets/tablet.css`, { 'accept-encoding': 'br', 'if-none-match': tags[0]! })).status).toBe(200);
  });

  it('Accept-Encoding as browsers and odd clients send it', () => {
    expect(acceptedCoding(undefined)).toBeUndefined();
    expect(acceptedCoding('')).toBeUndefined();
    expect(acceptedCoding('gzip, deflate, br, zstd')).toBe('br');
    expect(acceptedCoding('BR')).toBe('br');
    expect(acceptedCoding('gzip;q=1.0, br;q=0')).toBe('gzip');
    expect(acceptedCoding('*;q=0')).toBeUndefined();
    expect(acceptedCoding('br;q=zzz, gzip')).toBe('gzip');
    expect(acceptedCoding(['gzip', 'br'])).toBe('br');
    expect(acceptedCoding(';;;,,,q=,=;')).toBeUndefined();
  });
});
