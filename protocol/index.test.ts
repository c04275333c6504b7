/**
 * `protocol/index.ts` is what the browser pages import: it must not bring zod (the JSON
 * validators live in `schemas.ts`, re-exported here as types only). Bundled the way the hub
 * serves the pages (`hub/pages.ts`), with esbuild; the metafile lists every file that went in.
 */
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url).pathname;
const ENTRIES = ['kiosk-ui/pages/tablet.ts', 'kiosk-ui/pages/dashboard.ts', 'kiosk-ui/pages/technician.ts', 'protocol/index.ts'];

async function inputsOf(entry: string): Promise<string[]> {
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: root,
    bundle: true,
    write: false,
    format: 'esm',
    target: 'chrome100',
    metafile: true,
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs);
}

describe('the protocol entry point stays free of zod', () => {
  for (const entry of ENTRIES) {
    it(`${entry} bundles without node_modules/zod`, async () => {
      const inputs = await inputsOf(entry);
      expect(inputs.some((path) => path.startsWith('protocol/')), 'the page uses the protocol').toBe(true);
      expect(inputs.filter((path) => path.includes('node_modules/zod'))).toEqual([]);
      expect(inputs).not.toContain('protocol/schemas.ts');
    });
  }

  it('the check would notice zod: the schemas file brings it', async () => {
    const inputs = await inputsOf('protocol/schemas.ts');
    expect(inputs.some((path) => path.includes('node_modules/zod'))).toBe(true);
  });
});
