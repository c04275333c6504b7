/**
 * The pages' half of `npm run build`: bundles each page's TypeScript entry for the browser
 * with esbuild and copies the HTML, CSS and mqtt.js's browser build beside the compiled hub,
 * so `node dist/hub/cli.js` serves every page with no bundler and no sources at run time. Every
 * file is also written compressed at the highest settings, brotli and gzip, which the hub
 * sends to a browser that accepts them (hub/pages.ts).
 *
 *   dist/kiosk-ui/pages/{page}.html, {page}.css   copied
 *   dist/kiosk-ui/pages/assets/{page}.js          bundled, minified (tablet-qr.js: the tablet's QR code, on demand)
 *   dist/kiosk-ui/pages/vendor/mqtt.min.js        copied from the mqtt package
 *   … and each of them again as {file}.br and {file}.gz
 */
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { COMPRESSED_SUFFIX, MQTT_BROWSER_BUNDLE, PAGE_ENTRIES, browserBuildOptions, compress } from '../hub/pages.js';

const ROOT = new URL('../', import.meta.url).pathname;
const source = join(ROOT, 'kiosk-ui/pages');
const out = join(resolve(ROOT, process.argv[2] ?? 'dist'), 'kiosk-ui/pages');

mkdirSync(join(out, 'assets'), { recursive: true });
mkdirSync(join(out, 'vendor'), { recursive: true });
for (const file of readdirSync(source)) if (/\.(html|css)$/.test(file)) copyFileSync(join(source, file), join(out, file));
copyFileSync(MQTT_BROWSER_BUNDLE, join(out, 'vendor', 'mqtt.min.js'));
const started = Date.now();
await build({ ...browserBuildOptions, entryPoints: PAGE_ENTRIES.map((name) => join(source, `${name}.ts`)), outdir: join(out, 'assets'), write: true, logLevel: 'warning' });
const bundled = Date.now();
const served = [...readdirSync(out).filter((f) => /\.(html|css)$/.test(f)), ...readdirSync(join(out, 'assets')).filter((f) => f.endsWith('.js')).map((f) => `assets/${f}`), 'vendor/mqtt.min.js'];
await Promise.all(
  served.map(async (file) => {
    const { br, gzip } = await compress(readFileSync(join(out, file)), true);
    writeFileSync(join(out, file + COMPRESSED_SUFFIX.br), br);
    writeFileSync(join(out, file + COMPRESSED_SUFFIX.gzip), gzip);
  }),
);
process.stdout.write(`pages: ${PAGE_ENTRIES.length} bundles in ${bundled - started} ms, ${served.length} files compressed in ${Date.now() - bundled} ms -> ${out}\n`);
