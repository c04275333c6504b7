/**
 * The evaluation record of PROTOCOL 4, built once for every test: a valid record (checked
 * against the contract's schema) with the fields a test cares about overridden.
 */
import type { Evaluation } from '../../protocol/index.js';
import { parsePayload } from '../../protocol/schemas.js';

/**
 * A counter-device rating at window A01 of hall 430300-001, unless `overrides` say otherwise.
 * `deviceId` follows `id` (`{deviceId}-{counter}`) and `receivedAt` follows `evaluatedAt`.
 * Throws if the result breaks the contract: a test that wants an invalid record spreads one.
 */
export function evaluation(overrides: Partial<Evaluation> = {}): Evaluation {
  const id = overrides.id ?? 'HCP5-T0001-1';
  const evaluatedAt = overrides.evaluatedAt ?? '2026-11-27T02:30:05.200Z';
  const record: Evaluation = {
    id,
    hallId: '430300-001',
    areaCode: '430300',
    deptCode: '',
    channel: 'evaluator',
    level: 5,
    reasons: [],
    comment: '',
    contact: null,
    txnId: null,
    matterCode: null,
    matterName: null,
    windowId: 'A01',
    staffId: null,
    staffName: null,
    origin: 'prompted',
    evaluatedAt,
    receivedAt: evaluatedAt,
    deviceId: id.replace(/-\d+$/, ''),
    fwVersion: '1.0.0',
    promptMs: 1200,
    flags: [],
    consent: false,
    ratingNo: 1,
    followUpOf: null,
    ...overrides,
  };
  parsePayload('evaluation', record);
  return record;
}
