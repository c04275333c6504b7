import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { cleanupsAfterEach, tempDir } from '../tests/support/cleanup.js';
import { EXPORT_HALL, EXPORT_RANGE, seedExportStore } from '../tests/support/export-store.js';
import { ExportAborted, exportText, writeExport, type ExportFormat } from './export.js';
import { createApi, type HubApi } from './http.js';
import type { LogEntry } from './hub.js';
import { Store } from './store.js';

const cleanups = cleanupsAfterEach();
let store: Store;
beforeEach(async () => {
  store = new Store({ dataDir: tempDir(cleanups, 'export') });
  cleanups.push(() => store.close());
  await seedExportStore(store);
});

const FILES: Record<ExportFormat, string> = { csv: 'csv', json: 'json', gb39046: 'gb39046.csv' };
/** What the hub exported before exports were streamed (one string built from `.all()`). */
const golden = (range: string, format: ExportFormat) => readFileSync(new URL(`../tests/fixtures/export/${range}.${FILES[format]}`, import.meta.url), 'utf8');
const RANGES = {
  month: EXPORT_RANGE,
  all: { from: '1970-01-01T00:00:00.000Z', to: '9999-12-31T00:00:00.000Z' },
  none: { from: '2000-01-01T00:00:00.000Z', to: '2000-01-02T00:00:00.000Z' },
};

/** A sink that keeps what it is given and lets the test decide when each write is done. */
function heldSink() {
  const chunks: string[] = [];
  const held: (() => void)[] = [];
  const sink = new Writable({
    highWaterMark: 1,
    decodeStrings: false,
    write(chunk: string, _encoding, done) {
      chunks.push(chunk);
      held.push(done);
    },
  });
  return { sink, chunks, held };
}

describe('writeExport', () => {
  for (const format of ['csv', 'json', 'gb39046'] as const) {
    it(`writes ${format} byte for byte as the hub exported before streaming, whatever the page size`, async () => {
      for (const [name, range] of Object.entries(RANGES)) {
        // pages of 1 and 2 end inside groups of ratings sharing a time stamp (ordered by id)
        for (const pageRows of [1, 2, 3, 7, 2000]) {
          expect(await exportText(store, EXPORT_HALL, { ...range, format }, { pageRows }), `${name}, pages of ${pageRows}`).toBe(golden(name, format));
        }
      }
    });
  }

  it('waits for the sink to drain before it writes the next page', async () => {
    const { sink, chunks, held } = heldSink();
    let done = false;
    const exported = writeExport(store, EXPORT_HALL, { ...EXPORT_RANGE, format: 'gb39046' }, sink, { pageRows: 5 }).then((n) => (done = true) && n);
    for (let page = 1; !done; page++) {
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      // one chunk handed over and not yet written: nothing more comes until it is
      expect(held.length).toBeLessThanOrEqual(1);
      held.shift()?.();
      if (page > 100) throw new Error('the export did not finish');
    }
    expect(chunks.join('')).toBe(golden('month', 'gb39046'));
    const records = JSON.parse(golden('month', 'json')) as { flags: string[] }[];
    expect(await exported).toBe(records.filter((e) => !e.flags.includes('misuse')).length);
  });

  it('lets the event loop run between pages', async () => {
    let turns = 0;
    let counting = true;
    const tick = () => {
      turns++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    await exportText(store, EXPORT_HALL, { ...EXPORT_RANGE, format: 'csv' }, { pageRows: 2 });
    counting = false;
    expect(turns).toBeGreaterThanOrEqual(10); // about 20 pages
  });

  it('stops, writing nothing more, when the sink is destroyed part way', async () => {
    const { sink, chunks, held } = heldSink();
    const exported = writeExport(store, EXPORT_HALL, { ...EXPORT_RANGE, format: 'json' }, sink, { pageRows: 3 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(chunks).toHaveLength(1);
    sink.destroy();
    await expect(exported).rejects.toBeInstanceOf(ExportAborted);
    expect(chunks).toHaveLength(1);
    expect(held).toHaveLength(1);
  });

  it('refuses a page size that is not a positive integer', async () => {
    await expect(exportText(store, EXPORT_HALL, { ...EXPORT_RANGE, format: 'csv' }, { pageRows: 0 })).rejects.toThrow(/pageRows/);
  });
});

describe('GET /api/export', () => {
  async function serve(exportImpl: HubApi['views']['export']) {
    const logged: LogEntry[] = [];
    const api = createApi({ views: { export: exportImpl }, log: (entry: LogEntry) => logged.push(entry) } as unknown as HubApi, { authenticate: () => ({ name: 'admin', role: 'admin' }) });
    const server: Server = createServer((req, res) => void api(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/export`;
    return { logged, get: (query: string) => fetch(`${url}?${query}`, { headers: { authorization: 'Bearer x' } }) };
  }

  it('streams the export as the body, chunked', async () => {
    const { get } = await serve((range, out) => writeExport(store, EXPORT_HALL, range, out, { pageRows: 4 }));
    const res = await get(`format=gb39046&from=${EXPORT_RANGE.from}&to=${EXPORT_RANGE.to}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(await res.text()).toBe(golden('month', 'gb39046'));
  });

  it('logs a failure part way and cuts the connection: the client sees a broken transfer, not a short file', async () => {
    const { get, logged } = await serve(async (_range, out) => {
      out.write('办件编号,评价渠道\r\n');
      await new Promise((resolve) => setImmediate(resolve));
      throw new Error('database disk image is malformed');
    });
    const res = await get('format=csv');
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    expect(logged).toContainEqual(expect.objectContaining({ level: 'error', msg: 'streamed answer failed part way: connection cut', path: '/api/export', error: 'database disk image is malformed' }));
  });
});
