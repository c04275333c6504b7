/**
 * Satisfaction levels and their conversions (PROTOCOL 4.1, 4.2).
 *
 * This contract's `level` runs 5 非常满意 .. 1 非常不满意 (0 = not evaluated). GB/T 39046-2020
 * Table A.8 满意度代码 runs the other way, 1 非常满意 .. 5 非常不满意. Conversion goes by name,
 * here and only here, at the export boundary.
 */
import type { Evaluation } from './schemas.js';

export const LEVEL_NAMES = ['notEvaluated', 'veryDissatisfied', 'dissatisfied', 'basicallySatisfied', 'satisfied', 'verySatisfied'] as const;
export type LevelName = (typeof LEVEL_NAMES)[number];
export type RatingName = Exclude<LevelName, 'notEvaluated'>;

/** Words for each level, Chinese first (the words printed on the evaluator's buttons). */
export const LEVEL_WORDS: Readonly<Record<LevelName, { zh: string; en: string }>> = {
  notEvaluated: { zh: '未评价', en: 'Not evaluated' },
  veryDissatisfied: { zh: '非常不满意', en: 'Very dissatisfied' },
  dissatisfied: { zh: '不满意', en: 'Dissatisfied' },
  basicallySatisfied: { zh: '基本满意', en: 'Basically satisfied' },
  satisfied: { zh: '满意', en: 'Satisfied' },
  verySatisfied: { zh: '非常满意', en: 'Very satisfied' },
};

/** GB/T 39046-2020 Table A.8 满意度代码, by name. */
export const GB_SATISFACTION_CODE: Readonly<Record<RatingName, string>> = {
  verySatisfied: '1',
  satisfied: '2',
  basicallySatisfied: '3',
  dissatisfied: '4',
  veryDissatisfied: '5',
};

export function levelName(level: number): LevelName {
  const name = LEVEL_NAMES[level];
  if (!Number.isInteger(level) || name === undefined) throw new TypeError(`level must be an integer 0..5, got ${level}`);
  return name;
}

/** The GB/T 39046 code of a level, or `null` for level 0 (not evaluated is not a rating). */
export function levelToGbCode(level: number): string | null {
  const name = levelName(level);
  return name === 'notEvaluated' ? null : GB_SATISFACTION_CODE[name];
}

/** The contract level of a GB/T 39046 code. Throws `TypeError` for anything but '1'..'5'. */
export function gbCodeToLevel(code: string): number {
  const entry = (Object.entries(GB_SATISFACTION_CODE) as [RatingName, string][]).find(([, c]) => c === code);
  if (!entry) throw new TypeError(`code must be a GB/T 39046 满意度代码 '1'..'5', got ${JSON.stringify(code)}`);
  return LEVEL_NAMES.indexOf(entry[0]);
}

/** 评价渠道 text for each channel (PROTOCOL 4.2). */
export const NATIONAL_CHANNEL: Readonly<Record<Evaluation['channel'], string>> = {
  evaluator: '政务大厅其他终端',
  tablet: '政务大厅平板电脑',
  qr: '二维码',
  sms: '短信',
  phone: '电话',
};

/** The columns of GB/T 39046-2020 Table 9 (政务服务绩效评价) that the hub exports, in order. */
export const NATIONAL_COLUMNS = ['办件编号', '评价渠道', '评价人', '评价时间', '评价次数', '满意度', '满意度代码', '文字评价', '行政区划'] as const;
export type NationalRow = Record<(typeof NATIONAL_COLUMNS)[number], string>;

const CST_OFFSET_MS = 8 * 3600_000; // China Standard Time, UTC+8, no daylight saving

/** An instant as YYYYMMDDThhmmss in China Standard Time. */
export function toCstStamp(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new TypeError(`iso must be an ISO-8601 time, got ${JSON.stringify(iso)}`);
  const d = new Date(ms + CST_OFFSET_MS);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/**
 * One row of the national export (PROTOCOL 4.2). A level-0 record is exported as 未评价 with
 * an empty code: a system-made default rating is what the national rules forbid.
 */
export function toNationalRow(e: Pick<Evaluation, 'txnId' | 'channel' | 'evaluatedAt' | 'level' | 'comment' | 'areaCode'> & { ratingNo?: 1 | 2 | undefined }): NationalRow {
  const name = levelName(e.level);
  return {
    办件编号: e.txnId ?? '',
    评价渠道: NATIONAL_CHANNEL[e.channel],
    评价人: '',
    评价时间: toCstStamp(e.evaluatedAt),
    评价次数: String(e.ratingNo ?? 1),
    满意度: LEVEL_WORDS[name].zh,
    满意度代码: levelToGbCode(e.level) ?? '',
    文字评价: e.comment,
    行政区划: e.areaCode,
  };
}

/** RFC 4180 CSV of rows with a header line, CRLF line ends. */
export function toCsv<K extends string>(columns: readonly K[], rows: Iterable<Record<K, string>>): string {
  const cell = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  const lines = [columns.map(cell).join(',')];
  for (const row of rows) lines.push(columns.map((c) => cell(row[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
