import { describe, expect, it } from 'vitest';
import {
  ACK_STATUS_CODES,
  ACK_STATUS_NAMES,
  AckStatus,
  DEVICE_STATE_CODES,
  DEVICE_STATE_NAMES,
  DUTY_CODES,
  DUTY_NAMES,
  DeviceState,
  Duty,
  ORIGINS,
  ORIGIN_CODES,
  ORIGIN_NAMES,
  Origin,
  SERVICE_EVENT_CODES,
  SERVICE_EVENT_NAMES,
  ServiceEvent,
} from './index.js';

/** Each table: the named set of wire codes, code -> name, name -> code, and the names in code order. */
const TABLES = [
  ['device state', DeviceState, DEVICE_STATE_NAMES, DEVICE_STATE_CODES, ['boot', 'idle', 'prompt', 'thanks', 'paused', 'config', 'fault', 'signed-out']],
  ['origin', Origin, ORIGIN_NAMES, ORIGIN_CODES, ['prompted', 'invited', 'unsolicited']],
  ['duty', Duty, DUTY_NAMES, DUTY_CODES, ['off', 'on', 'paused']],
  ['service event', ServiceEvent, SERVICE_EVENT_NAMES, SERVICE_EVENT_CODES, ['started', 'done', 'cancelled']],
  ['ack status', AckStatus, ACK_STATUS_NAMES, ACK_STATUS_CODES, ['ok', 'duplicate', 'rejected']],
] as const satisfies readonly (readonly [string, Record<string, number>, Record<number, string>, Record<string, number>, readonly string[]])[];

describe('code <-> name tables (PROTOCOL 1.3 numbers, PROTOCOL 2-5 names)', () => {
  it.each(TABLES)('%s: every code has one name, and back', (_label, codes, names, byName, expected) => {
    const all = Object.values(codes).sort((a, b) => a - b);
    expect(all.map((code) => (names as Record<number, string>)[code])).toEqual(expected);
    for (const code of all) expect((byName as Record<string, number>)[(names as Record<number, string>)[code]!]).toBe(code);
    expect(Object.keys(byName)).toHaveLength(all.length);
  });

  it('the PROTOCOL 1.3 numbers of the names the API takes', () => {
    expect(DUTY_CODES).toEqual({ on: 1, paused: 2, off: 0 });
    expect(SERVICE_EVENT_CODES).toEqual({ started: 1, done: 2, cancelled: 3 });
    expect(ORIGIN_CODES).toEqual({ prompted: 1, invited: 2, unsolicited: 3 });
  });

  it("an evaluation's origin is an EVAL origin by name, or the tablet", () => {
    expect([...Object.values(ORIGIN_NAMES), 'tablet']).toEqual([...ORIGINS]);
  });
});
