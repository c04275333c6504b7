import { describe, expect, it } from 'vitest';
import { NATIONAL_COLUMNS, gbCodeToLevel, isDissatisfied, levelToGbCode, toCstStamp, toCsv, toNationalRow } from './index.js';

describe('level conversions (PROTOCOL 4.1)', () => {
  it('map the contract levels to GB/T 39046 Table A.8 codes, which run the other way', () => {
    expect([5, 4, 3, 2, 1].map(levelToGbCode)).toEqual(['1', '2', '3', '4', '5']);
  });

  it('never turn "not evaluated" into a rating', () => {
    expect(levelToGbCode(0)).toBeNull();
  });

  it('convert back by name and refuse anything else', () => {
    for (const level of [1, 2, 3, 4, 5]) expect(gbCodeToLevel(levelToGbCode(level)!)).toBe(level);
    expect(() => gbCodeToLevel('0')).toThrow(TypeError);
    expect(() => levelToGbCode(6)).toThrow(/level/);
  });

  it('差评 is level 1 or 2', () => {
    expect([0, 1, 2, 3, 4, 5].filter(isDissatisfied)).toEqual([1, 2]);
  });
});

describe('national export row (PROTOCOL 4.2)', () => {
  const base = { txnId: 'T-1', channel: 'evaluator' as const, evaluatedAt: '2026-11-27T16:30:05.200Z', level: 2, comment: '等候时间长', areaCode: '430300' };

  it('fills the GB/T 39046 Table 9 fields, time in China Standard Time', () => {
    expect(toNationalRow(base)).toEqual({
      办件编号: 'T-1',
      评价渠道: '政务大厅其他终端',
      评价人: '',
      评价时间: '20261128T003005',
      评价次数: '1',
      满意度: '不满意',
      满意度代码: '4',
      文字评价: '等候时间长',
      行政区划: '430300',
    });
    expect(toNationalRow({ ...base, channel: 'tablet' }).评价渠道).toBe('政务大厅平板电脑');
  });

  it('exports level 0 as not evaluated, with no code', () => {
    const row = toNationalRow({ ...base, level: 0 });
    expect(row.满意度).toBe('未评价');
    expect(row.满意度代码).toBe('');
  });

  it('CST stamps cross midnight and year ends correctly', () => {
    expect(toCstStamp('2026-12-31T16:00:00Z')).toBe('20270101T000000');
  });

  it('CSV quotes commas, quotes and line breaks', () => {
    const csv = toCsv(NATIONAL_COLUMNS, [toNationalRow({ ...base, comment: '慢, 说"下次"\n再来' })]);
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe(NATIONAL_COLUMNS.join(','));
    expect(lines[1]).toContain('"慢, 说""下次""\n再来"');
  });
});
