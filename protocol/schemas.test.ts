import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_BATCH_BYTES, PayloadError, type Evaluation } from './index.js';
import { SCHEMAS, encodeBatch, parseJson, parsePayload } from './schemas.js';
import { jsonSchemaDocuments } from './json-schema.js';

export const sampleEvaluation: Evaluation = {
  id: 'HCP5-000123-42',
  hallId: '430300-001',
  areaCode: '430300',
  deptCode: '',
  channel: 'evaluator',
  level: 2,
  reasons: [],
  comment: '',
  contact: null,
  txnId: '430300-20261127-0001',
  matterCode: '000105001000',
  matterName: '居民身份证换领',
  windowId: 'A01',
  staffId: 'S007',
  staffName: '李明',
  origin: 'prompted',
  evaluatedAt: '2026-11-27T02:30:05.200Z',
  receivedAt: '2026-11-27T02:30:05.260Z',
  deviceId: 'HCP5-000123',
  fwVersion: '1.0.0',
  promptMs: 1200,
  flags: [],
  consent: false,
  ratingNo: 1,
  followUpOf: null,
};

function refusal(fn: () => unknown): PayloadError {
  try {
    fn();
  } catch (error) {
    if (error instanceof PayloadError) return error;
    throw error;
  }
  throw new Error('expected a PayloadError');
}

describe('evaluation record (PROTOCOL 4)', () => {
  it('accepts a complete record and ignores unknown fields', () => {
    expect(parsePayload('evaluation', { ...sampleEvaluation, futureField: 1 })).toEqual(sampleEvaluation);
  });

  it.each([
    ['level', { level: 6 }],
    ['id', { id: 'no-counter-' }],
    ['channel', { channel: 'fax' }],
    ['evaluatedAt', { evaluatedAt: '27/11/2026' }],
    ['contact', { contact: '12345' }],
    ['comment', { comment: '长'.repeat(501) }],
  ])('refuses a bad %s, naming it', (field, patch) => {
    const error = refusal(() => parsePayload('evaluation', { ...sampleEvaluation, ...patch }));
    expect(error.path).toBe(field);
    expect(error.message).toContain(`evaluation.${field}`);
  });

  it('counts the comment limit in characters, not bytes', () => {
    expect(parsePayload('evaluation', { ...sampleEvaluation, comment: '长'.repeat(500) }).comment).toHaveLength(500);
  });
});

describe('parseJson', () => {
  it('turns malformed JSON into a PayloadError', () => {
    expect(refusal(() => parseJson('receipt', '{"batchId":')).message).toMatch(/receipt: malformed JSON/);
  });

  it('validates receipts, tablet acks, sessions and handling steps', () => {
    expect(parseJson('receipt', JSON.stringify({ batchId: 'b1', accepted: ['D-1'], rejected: [{ id: 'D-2', reason: 'unknown window' }] })).accepted).toEqual(['D-1']);
    expect(() => parseJson('tablet-ack', '{"id":"T-1","status":"maybe"}')).toThrow(PayloadError);
    expect(parseJson('tablet-session', '{}')).toEqual({});
    expect(() => parseJson('tablet-session', '{"txnId":"x"}')).toThrow(PayloadError);
    expect(() => parseJson('handling-step', JSON.stringify({ evaluationId: 'D-1', hallId: 'H', step: 'ignored', at: '2026-11-27T00:00:00Z' }))).toThrow(/step/);
  });

  it('tablet evaluations need a rating of 1..5 and a valid mobile number if any', () => {
    const base = { id: 'TAB-01-7', level: 2, reasons: ['attitude'], comment: '', evaluatedAt: '2026-11-27T02:30:00+08:00' };
    expect(parseJson('tablet-evaluation', JSON.stringify({ ...base, contact: '13812345678', consent: true })).contact).toBe('13812345678');
    // [r2] a contact without the citizen's consent is refused
    expect(() => parseJson('tablet-evaluation', JSON.stringify({ ...base, contact: '13812345678' }))).toThrow(/consent/);
    expect(() => parseJson('tablet-evaluation', JSON.stringify({ ...base, contact: '13812345678', consent: false }))).toThrow(/consent/);
    expect(() => parseJson('tablet-evaluation', JSON.stringify({ ...base, level: 0 }))).toThrow(/level/);
    expect(() => parseJson('tablet-evaluation', JSON.stringify({ ...base, contact: '0731-1234567' }))).toThrow(/contact/);
  });
});

describe('batches (PROTOCOL 3)', () => {
  it('hold at most 500 items', () => {
    const items = Array.from({ length: 501 }, (_, i) => ({ ...sampleEvaluation, id: `HCP5-000123-${i + 1}` }));
    expect(() => parsePayload('batch', { batchId: 'b', hallId: 'H', sentAt: sampleEvaluation.receivedAt, items })).toThrow(/items/);
    expect(parsePayload('batch', { batchId: 'b', hallId: 'H', sentAt: sampleEvaluation.receivedAt, items: items.slice(0, 500) }).items).toHaveLength(500);
  });

  it('are refused over 256 KiB when encoded', () => {
    const items = Array.from({ length: 400 }, (_, i) => ({ ...sampleEvaluation, id: `HCP5-000123-${i + 1}`, comment: '长'.repeat(400) }));
    const batch = { batchId: 'b', hallId: 'H', sentAt: sampleEvaluation.receivedAt, items };
    expect(() => encodeBatch(batch)).toThrow(new RegExp(`exceed ${MAX_BATCH_BYTES}`));
    expect(JSON.parse(encodeBatch({ ...batch, items: items.slice(0, 10) })).items).toHaveLength(10);
  });
});

describe('JSON Schema documents', () => {
  it('exist for every payload and match the schemas in code (run `npm run schemas` after a change)', () => {
    for (const [name, doc] of Object.entries(jsonSchemaDocuments())) {
      const committed = JSON.parse(readFileSync(new URL(`./json-schema/${name}.schema.json`, import.meta.url), 'utf8')) as unknown;
      expect(committed, name).toEqual(doc);
    }
    expect(Object.keys(jsonSchemaDocuments()).sort()).toEqual(Object.keys(SCHEMAS).sort());
  });
});
