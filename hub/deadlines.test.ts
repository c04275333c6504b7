import { describe, expect, it } from 'vitest';
import { dueAt, isWorkingDay, mergeCalendars, workdayEndAfter } from './deadlines.js';

const plain = { holidays: [], workdays: [] };

describe('handling deadlines on the working-day calendar', () => {
  it('2 working days from a Thursday end on Monday at 24:00 CST', () => {
    // 2026-11-26 is a Thursday; received 10:00 CST
    expect(dueAt('2026-11-26T02:00:00Z', 2, plain)).toBe('2026-11-30T16:00:00.000Z');
  });

  it('a holiday is skipped and a make-up working day counts', () => {
    const calendar = { holidays: ['2026-11-27'], workdays: ['2026-11-28'] };
    expect(isWorkingDay('2026-11-28', calendar)).toBe(true);
    expect(dueAt('2026-11-26T02:00:00Z', 2, calendar)).toBe('2026-11-30T16:00:00.000Z'); // Sat (make-up) + Mon
    expect(dueAt('2026-11-26T02:00:00Z', 1, calendar)).toBe('2026-11-28T16:00:00.000Z');
  });

  it('the day is taken in China Standard Time', () => {
    // 2026-11-26T20:00Z is already Friday 04:00 CST
    expect(dueAt('2026-11-26T20:00:00Z', 1, plain)).toBe('2026-11-30T16:00:00.000Z');
  });

  it('10 working days span two weekends', () => {
    expect(dueAt('2026-11-26T02:00:00Z', 10, plain)).toBe('2026-12-10T16:00:00.000Z');
  });

  it('one more working day ends at the end of this one, or of the next when this is a day off', () => {
    const calendar = { holidays: ['2026-10-01', '2026-10-02'], workdays: ['2026-10-10'] };
    expect(workdayEndAfter('2026-09-30T04:00:00Z', calendar), 'Wednesday noon: its own end').toBe('2026-09-30T16:00:00.000Z');
    expect(workdayEndAfter('2026-09-30T16:00:00Z', calendar), 'exactly 24:00 Wednesday is Thursday, a holiday: Monday').toBe('2026-10-05T16:00:00.000Z');
    expect(workdayEndAfter('2026-10-09T17:00:00Z', calendar), 'Saturday 01:00, a make-up working day').toBe('2026-10-10T16:00:00.000Z');
  });

  it('the pushed calendar goes over the file\'s day by day', () => {
    const file = { holidays: ['2026-10-01'], workdays: ['2026-10-10', '2026-09-27'] };
    expect(mergeCalendars(file, undefined)).toBe(file);
    expect(mergeCalendars(file, { holidays: ['2026-10-10'], workdays: [] })).toEqual({ holidays: ['2026-10-10', '2026-10-01'], workdays: ['2026-09-27'] });
  });
});
