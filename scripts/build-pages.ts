/**
 * The pages' half of `npm run build`: bundles each page's TypeScript entry for the browser
 * with esbuild and copies the HTML, CSS and mqtt.js's browser build beside the compiled hub,
 * so `node dist/hub/cli.js` serves every page with no bundler and no sources at run time.
 *
 *   dist/kiosk-ui/pages/{page}.html, {page}.css   copied
 *   dist/kiosk-ui/pages/assets/{page}.js          bundled, minified
 *   dist/kiosk-ui/pages/vendor/mqtt.min.js        copied from the mqtt package
 */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { MQTT_BROWSER_BUNDLE, PAGE_ENTRIES, browserBuildOptions } from '../hub/pages.js';

const ROOT = new URL('../', import.meta.url).pathname;
const source = join(ROOT, 'kiosk-ui/pages');
const out = join(resolve(ROOT, process.argv[2] ?? 'dist'), 'kiosk-ui/pages');

mkdirSync(join(out, 'assets'), { recursive: true });
mkdirSync(join(out, 'vendor'), { recursive: true });
for (const file of readdirSync(source)) if (/\.(html|css)$/.test(file)) copyFileSync(join(source, file), join(out, file));
copyFileSync(MQTT_BROWSER_BUNDLE, join(out, 'vendor', 'mqtt.min.js'));
const started = Date.now();
await build({ ...browserBuildOptions, entryPoints: PAGE_ENTRIES.map((name) => join(source, `${name}.ts`)), outdir: join(out, 'assets'), write: true, logLevel: 'warning' });
process.stdout.write(`pages: ${PAGE_ENTRIES.length} bundles in ${Date.now() - started} ms -> ${out}\n`);
