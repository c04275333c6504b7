/** `npm run schemas`: writes protocol/json-schema/*.schema.json from the zod schemas. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { jsonSchemaDocuments } from '../protocol/json-schema.js';

const dir = new URL('../protocol/json-schema/', import.meta.url);
mkdirSync(dir, { recursive: true });
for (const [name, doc] of Object.entries(jsonSchemaDocuments())) {
  writeFileSync(new URL(`${name}.schema.json`, dir), `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`protocol/json-schema/${name}.schema.json`);
}
