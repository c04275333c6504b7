/** JSON Schema (draft 2020-12) documents of every payload, for implementers in other languages. */
import { z } from 'zod';
import { SCHEMAS, type SchemaName } from './schemas.js';

export function jsonSchemaDocuments(): Record<SchemaName, unknown> {
  const docs = {} as Record<SchemaName, unknown>;
  for (const [name, schema] of Object.entries(SCHEMAS) as [SchemaName, (typeof SCHEMAS)[SchemaName]][]) {
    docs[name] = { $id: `https://haochaping.invalid/schemas/${name}.schema.json`, ...z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) };
  }
  return docs;
}
