/** The big screen's figures: China-time days and months, totals, and the handling of 差评. */
import { describe, expect, it } from 'vitest';
import { handlingOf, periodsOf, totalOf } from './public.js';

const cst = (s: string) => Date.parse(`${s}+08:00`);
const iso = (s: string) => new Date(cst(s)).toISOString();

describe('periodsOf', () => {
  it.each([
    ['2026-11-18T14:00:00', '2026-11-18T00:00:00', '2026-11-01T00:00:00', '2026-11-19T00:00:00'],
    // half past midnight on the 1st in China is still the 30th in UTC
    ['2026-12-01T00:30:00', '2026-12-01T00:00:00', '2026-12-01T00:00:00', '2026-12-02T00:00:00'],
    ['2026-11-30T23:59:59', '2026-11-30T00:00:00', '2026-11-01T00:00:00', '2026-12-01T00:00:00'],
    ['2027-01-01T07:59:00', '2027-01-01T00:00:00', '2027-01-01T00:00:00', '2027-01-02T00:00:00'],
  ])('at %s China time: the day from %s, the month from %s, to %s', (now, day, month, end) => {
    expect(periodsOf(cst(now))).toEqual({ dayStart: iso(day), monthStart: iso(month), dayEnd: iso(end) });
  });
});

describe('totalOf', () => {
  const row = (rated: number, dissatisfied: number) => ({ key: 'A01', name: null, levels: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 }, rated, notEvaluated: 0, dissatisfied, satisfactionRate: null, misuseExcluded: 0 });
  it('adds the groups and rates the sum, rounded as the statistics are; null with no ratings', () => {
    expect(totalOf([row(4, 1), row(2, 0)])).toEqual({ rated: 6, satisfactionRate: 0.8333, dissatisfied: 1 });
    expect(totalOf([])).toEqual({ rated: 0, satisfactionRate: null, dissatisfied: 0 });
  });
});

describe('handlingOf', () => {
  const now = cst('2026-11-18T14:00:00');
  const loop = (deadline: string, closed: string | null, thisMonth = true) => ({ deadlineAt: iso(deadline), closedAt: closed && iso(closed), thisMonth });
  it('counts open ones however old, overdue ones past the deadline, and rates this month\'s decided ones', () => {
    expect(
      handlingOf(
        [
          loop('2026-11-21T00:00:00', null), // open, not yet due: not decided
          loop('2026-11-10T00:00:00', '2026-11-06T16:00:00'), // closed on time
          loop('2026-11-10T00:00:00', null), // open and overdue: late
          loop('2026-11-06T00:00:00', '2026-11-10T09:00:00'), // closed late
          loop('2026-11-06T00:00:00', '2026-11-06T00:00:00'), // closed at the deadline itself: on time
          loop('2026-10-23T00:00:00', null, false), // last month's, open: open and overdue, not rated
        ],
        now,
      ),
    ).toEqual({ open: 3, overdue: 2, onTimeRate: 0.5 });
  });
  it('has no on-time rate before anything is decided', () => {
    expect(handlingOf([loop('2026-11-21T00:00:00', null)], now)).toEqual({ open: 1, overdue: 0, onTimeRate: null });
    expect(handlingOf([], now)).toEqual({ open: 0, overdue: 0, onTimeRate: null });
  });
});
