/** The SMS follow-up's pure decisions: quiet hours, the China day, what a reply says, the invitation's text. */
import { describe, expect, it } from 'vitest';
import { MAX_SMS_CHARS } from './modem.js';
import { chinaDate, classifyReply, invitationText, quietUntil, retryDelayMs } from './sms.js';

const cst = (local: string) => Date.parse(`${local}+08:00`);

describe('quietUntil', () => {
  const quiet = ['21:00', '08:00'] as const;

  it('is the end of the quiet hours around now, in China Standard Time, across midnight', () => {
    expect(quietUntil(cst('2026-12-01T20:59:59'), quiet)).toBeUndefined();
    expect(quietUntil(cst('2026-12-01T21:00:00'), quiet)).toBe(cst('2026-12-02T08:00:00'));
    expect(quietUntil(cst('2026-12-02T03:00:00'), quiet)).toBe(cst('2026-12-02T08:00:00'));
    expect(quietUntil(cst('2026-12-02T08:00:00'), quiet)).toBeUndefined();
    expect(quietUntil(cst('2026-12-02T12:00:00'), quiet)).toBeUndefined();
  });

  it('handles quiet hours within a day, and none when both ends are equal', () => {
    expect(quietUntil(cst('2026-12-01T12:30:00'), ['12:00', '14:00'])).toBe(cst('2026-12-01T14:00:00'));
    expect(quietUntil(cst('2026-12-01T14:00:00'), ['12:00', '14:00'])).toBeUndefined();
    expect(quietUntil(cst('2026-12-01T03:00:00'), ['00:00', '00:00'])).toBeUndefined();
  });
});

describe('chinaDate', () => {
  it('is the calendar day in China: 23:30 UTC is the next morning there', () => {
    expect(chinaDate(Date.parse('2026-12-01T15:59:59Z'))).toBe('2026-12-01');
    expect(chinaDate(Date.parse('2026-12-01T16:00:00Z'))).toBe('2026-12-02');
  });
});

describe('classifyReply', () => {
  it('a first character 1-5, ASCII or full-width, is a rating; what follows is its comment', () => {
    expect(classifyReply('5')).toEqual({ kind: 'rating', level: 5, comment: '' });
    expect(classifyReply(' ５ ')).toEqual({ kind: 'rating', level: 5, comment: '' });
    expect(classifyReply('１')).toEqual({ kind: 'rating', level: 1, comment: '' });
    expect(classifyReply('2，排队太久了')).toEqual({ kind: 'rating', level: 2, comment: '排队太久了' });
    expect(classifyReply('4分 不错')).toEqual({ kind: 'rating', level: 4, comment: '不错' });
  });

  it('TD in any case or width unsubscribes; anything else is text', () => {
    for (const td of ['TD', 'td', 'Td', 'ＴＤ', ' TD。']) expect(classifyReply(td)).toEqual({ kind: 'unsubscribe' });
    expect(classifyReply('6')).toEqual({ kind: 'text', text: '6' });
    expect(classifyReply('0')).toEqual({ kind: 'text', text: '0' });
    expect(classifyReply('满意')).toEqual({ kind: 'text', text: '满意' });
    expect(classifyReply('TD me')).toEqual({ kind: 'text', text: 'TD me' });
    expect(classifyReply('')).toEqual({ kind: 'text', text: '' });
  });

  it('a comment is cut at 500 characters (PROTOCOL 4)', () => {
    const r = classifyReply(`3${'很'.repeat(600)}`);
    expect(r.kind === 'rating' && [...r.comment].length).toBe(500);
  });
});

describe('invitationText', () => {
  it('is the example of PROTOCOL 7 with the configured signature, within one message', () => {
    expect(invitationText('【湘潭政务】', 'A01')).toBe('【湘潭政务】请评价A01窗口服务:回复5非常满意4满意3基本满意2不满意1非常不满意');
    const long = invitationText('【一个很长很长的签名文字】', 'W'.repeat(64));
    expect(long.length).toBeLessThanOrEqual(MAX_SMS_CHARS);
    expect(long).toBe('【一个很长很长的签名文字】请评价窗口服务:回复5非常满意4满意3基本满意2不满意1非常不满意');
  });
});

describe('retryDelayMs', () => {
  it('doubles from 30 s to at most 10 min', () => {
    expect([1, 2, 3, 4, 5, 6, 10].map(retryDelayMs)).toEqual([30_000, 60_000, 120_000, 240_000, 480_000, 600_000, 600_000]);
  });
});
