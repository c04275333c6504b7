/**
 * The 月度通报 (PROTOCOL 5 [r2] `GET /api/reports/monthly?month=YYYY-MM&format=json|csv|xlsx|pdf`,
 * managers; the CLI's `report --month YYYY-MM --format …`): windows, clerks, matters and
 * reasons ranked by satisfaction rate and 差评, the 差评 handled on time, 督办 (escalations),
 * and the change from the month before.
 *
 * The figures are those of `GET /api/stats` (evaluations.ts `stats`): refused second ratings,
 * superseded timeouts and misuse-flagged presses never count. A month is a calendar month in
 * China Standard Time. JSON is the data; CSV the tables (UTF-8 with a BOM, so Excel reads the
 * Chinese); XLSX one sheet per table (exceljs); PDF a printable document (pdfkit, with the Noto
 * Sans CJK font of Debian's fonts-noto-cjk: no browser on the hall server).
 */
import { existsSync } from 'node:fs';
import { DEFAULT_REASONS, toCsv, type StatGroup, type StatRow } from '../protocol/index.js';
import type { Clock } from './clock.js';
import { stats, type HallIdentity } from './evaluations.js';
import type { Hall } from './hall.js';
import { foldSteps, type DeadlineSource, type StepFact } from './handling.js';
import { HttpError, MANAGERS, type Route } from './http.js';
import type { Store } from './store.js';

export const REPORT_FORMATS = ['json', 'csv', 'xlsx', 'pdf'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** `YYYY-MM`, month 01..12. */
export const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

const CST = 8 * 3600_000;

/** A month's bounds in China Standard Time as ISO instants, and the month before. */
export function monthRange(month: string): { from: string; to: string; previous: string } {
  const m = MONTH.exec(month);
  if (!m) throw new TypeError(`month: expected YYYY-MM, got ${JSON.stringify(month)}`);
  const [y, mo] = [Number(m[1]), Number(m[2])];
  const start = (year: number, monthIndex: number) => new Date(Date.UTC(year, monthIndex, 1) - CST);
  const previous = start(y, mo - 2); // Date.UTC carries month -1 into the year before
  const cstPrevious = new Date(previous.getTime() + CST);
  return {
    from: start(y, mo - 1).toISOString(),
    to: start(y, mo).toISOString(),
    previous: `${cstPrevious.getUTCFullYear()}-${String(cstPrevious.getUTCMonth() + 1).padStart(2, '0')}`,
  };
}

/** Ratings, 差评 and the satisfaction rate (share at 基本满意 or better, 0..1; null with no ratings). */
export interface Figures {
  rated: number;
  dissatisfied: number;
  satisfactionRate: number | null;
}

/** This month minus the month before; the rate in fractions (0.025 = 2.5 个百分点), null when either month has no rate. */
export interface Change {
  rated: number;
  dissatisfied: number;
  satisfactionRate: number | null;
}

/** One window, clerk, matter or reason. */
export interface RankedRow extends Figures {
  /** 1 = best (for reasons: the most 差评); equal figures share a rank. */
  rank: number;
  key: string;
  name: string;
  /** The month before; null when it had no rating here. */
  previous: Figures | null;
  change: Change | null;
}

/**
 * The 差评 of a month and their handling loops (handling.ts): a loop is resolved when `resolved`
 * or the citizen's second rating (`re-rated`) closed it; its deadline is `Hall.deadline`, 10
 * working days when the matter is complex or a handler marked it so. A second rating that is a
 * 差评 opens no loop, so it is not counted here.
 */
export interface HandlingFigures {
  dissatisfied: number;
  /** Closed (`resolved` or `re-rated`). */
  resolved: number;
  /** Closed by the deadline. */
  resolvedOnTime: number;
  /** Not closed yet. */
  open: number;
  /** Not closed and past the deadline when the report was made. */
  overdue: number;
  /** resolvedOnTime / dissatisfied; null without 差评. */
  onTimeRate: number | null;
  /** `escalated` steps (督办) on these 差评. */
  escalated: number;
}

export interface MonthSummary extends Figures {
  notEvaluated: number;
  misuseExcluded: number;
  handling: HandlingFigures;
}

export interface MonthlyReport {
  hallId: string;
  hallName: string;
  month: string;
  previousMonth: string;
  /** The month in China Standard Time, [from, to). */
  from: string;
  to: string;
  generatedAt: string;
  /** Working days to handle a 差评, as the deadlines were counted. */
  handlingDays: { normal: number; complex: number };
  summary: {
    current: MonthSummary;
    previous: MonthSummary;
    change: Change & { onTimeRate: number | null; escalated: number; notEvaluated: number };
  };
  rankings: { windows: RankedRow[]; staff: RankedRow[]; matters: RankedRow[]; reasons: RankedRow[] };
}

export type RankingName = keyof MonthlyReport['rankings'];

/** A font face: a file, and the face's PostScript name inside a .ttc collection. */
export interface ReportFont {
  file: string;
  name: string;
}

export interface ReportOptions {
  /** CJK fonts for the PDF, the first present is used. Default: Noto Sans CJK SC where Debian, Fedora and Arch put it. */
  regular: readonly ReportFont[];
  /** The same for headings; falls back to `regular`. */
  bold: readonly ReportFont[];
}

const NOTO_DIRS = ['/usr/share/fonts/opentype/noto', '/usr/share/fonts/google-noto-cjk', '/usr/share/fonts/noto-cjk'];
const DEFAULTS: ReportOptions = {
  regular: NOTO_DIRS.map((dir) => ({ file: `${dir}/NotoSansCJK-Regular.ttc`, name: 'NotoSansCJKsc-Regular' })),
  bold: NOTO_DIRS.map((dir) => ({ file: `${dir}/NotoSansCJK-Bold.ttc`, name: 'NotoSansCJKsc-Bold' })),
};

export interface ReportDeps {
  store: Store;
  hall: Pick<Hall, 'hallName' | 'windows' | 'staff' | 'publicConfig' | 'handlingDays'> & Pick<DeadlineSource, 'deadline'>;
  identity: HallIdentity;
  clock: Pick<Clock, 'now'>;
  options?: Partial<ReportOptions>;
}

const round4 = (x: number) => Number(x.toFixed(4));
const rateOf = (rated: number, dissatisfied: number) => (rated ? round4((rated - dissatisfied) / rated) : null);
const rateChange = (a: number | null, b: number | null) => (a === null || b === null ? null : round4(a - b));

export class Reports {
  private readonly options: ReportOptions;

  constructor(private readonly deps: ReportDeps) {
    this.options = { ...DEFAULTS, ...deps.options };
  }

  /** The data of the 月度通报 for `month` (YYYY-MM). */
  monthly(month: string): MonthlyReport {
    const { from, to, previous: previousMonth } = monthRange(month);
    const before = monthRange(previousMonth);
    const { hall, identity } = this.deps;
    const now = this.deps.clock.now();
    const current = this.summary(from, to, now);
    const previous = this.summary(before.from, before.to, now);

    const group = (by: StatGroup, range: { from: string; to: string }) => this.deps.store.read((db) => stats(db, { from: range.from, to: range.to, by }));
    const rank = (by: StatGroup, nameOf: (key: string, row: StatRow | undefined) => string, order: 'rate' | 'dissatisfied') =>
      ranking(group(by, { from, to }), group(by, before), nameOf, order);
    const windowNames = new Map(hall.windows().map((w) => [w.id, w.name]));
    const staffNames = new Map(hall.staff().map((s) => [s.id, s.name]));
    const reasonNames = new Map([...DEFAULT_REASONS, ...hall.publicConfig().reasons].map((r) => [r.code, r.zh]));

    return {
      hallId: identity.hallId,
      hallName: hall.hallName(),
      month,
      previousMonth,
      from,
      to,
      generatedAt: new Date(now).toISOString(),
      handlingDays: hall.handlingDays(),
      summary: {
        current,
        previous,
        change: {
          rated: current.rated - previous.rated,
          dissatisfied: current.dissatisfied - previous.dissatisfied,
          satisfactionRate: rateChange(current.satisfactionRate, previous.satisfactionRate),
          onTimeRate: rateChange(current.handling.onTimeRate, previous.handling.onTimeRate),
          escalated: current.handling.escalated - previous.handling.escalated,
          notEvaluated: current.notEvaluated - previous.notEvaluated,
        },
      },
      rankings: {
        windows: rank('window', (key) => windowNames.get(key) ?? key, 'rate'),
        staff: rank('staff', (key, row) => row?.name ?? staffNames.get(key) ?? key, 'rate'),
        matters: rank('matter', (key, row) => row?.name ?? key, 'rate'),
        reasons: rank('reason', (key) => reasonNames.get(key) ?? key, 'dissatisfied'),
      },
    };
  }

  /** The report as the format asks: bytes for XLSX and PDF, text for CSV and JSON. */
  async render(report: MonthlyReport, format: ReportFormat): Promise<{ body: string | Buffer; contentType: string; filename: string }> {
    const filename = `haochaping-${report.hallId.replace(/[^\w.-]/g, '_')}-${report.month}.${format}`;
    switch (format) {
      case 'json':
        return { body: `${JSON.stringify(report, null, 2)}\n`, contentType: 'application/json; charset=utf-8', filename };
      case 'csv':
        return { body: reportCsv(report), contentType: 'text/csv; charset=utf-8', filename };
      case 'xlsx':
        return { body: await reportXlsx(report), contentType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', filename };
      case 'pdf':
        return { body: await reportPdf(report, this.font('regular'), this.font('bold') ?? this.font('regular')), contentType: 'application/pdf', filename };
      default:
        format satisfies never;
        throw new TypeError(`format: unknown ${String(format)}`);
    }
  }

  /** `GET /api/reports/monthly?month=YYYY-MM&format=json|csv|xlsx|pdf`: managers. */
  routes(): Route[] {
    return [
      {
        method: 'GET',
        pattern: /^\/api\/reports\/monthly$/,
        who: MANAGERS,
        handler: async ({ url }) => {
          const month = url.searchParams.get('month');
          if (month === null || !MONTH.test(month)) throw new HttpError(400, 'invalid-field', `month: expected YYYY-MM (e.g. 2026-11), got ${JSON.stringify(month?.slice(0, 20) ?? null)}`);
          const given = url.searchParams.get('format') ?? 'json';
          // a request-chosen value is matched against the list, never looked up on an object
          const format = REPORT_FORMATS.find((f) => f === given);
          if (!format) throw new HttpError(400, 'invalid-field', `format: expected one of ${REPORT_FORMATS.join(', ')}, got ${JSON.stringify(given.slice(0, 20))}`);
          const report = this.monthly(month);
          if (format === 'json') return { body: report };
          const out = await this.render(report, format);
          return { body: out.body, contentType: out.contentType, headers: { 'content-disposition': `attachment; filename="${out.filename}"` } };
        },
      },
    ];
  }

  /** The first font of a kind that is installed; for `regular`, a 503 naming the package when none is. */
  private font(kind: 'regular'): ReportFont;
  private font(kind: 'bold'): ReportFont | undefined;
  private font(kind: 'regular' | 'bold'): ReportFont | undefined {
    const found = this.options[kind].find((f) => existsSync(f.file));
    if (!found && kind === 'regular') {
      throw new HttpError(503, 'font-missing', `the PDF report needs a Chinese font and none is installed (looked for ${this.options.regular.map((f) => f.file).join(', ')}): apt-get install fonts-noto-cjk`);
    }
    return found;
  }

  /** Totals of a range, and the handling of its 差评 as of `now`. */
  private summary(from: string, to: string, now: number): MonthSummary {
    const { hall } = this.deps;
    return this.deps.store.read((db) => {
      let rated = 0;
      let dissatisfied = 0;
      let notEvaluated = 0;
      let misuseExcluded = 0;
      // every rating has exactly one channel: the channel groups add up to the month
      for (const g of stats(db, { from, to, by: 'channel' })) {
        rated += g.rated;
        dissatisfied += g.dissatisfied;
        notEvaluated += g.notEvaluated;
        misuseExcluded += g.misuseExcluded;
      }
      // the month's 差评 loops (a second rating opens none), and their steps oldest first
      const loops = `SELECT id FROM evaluations WHERE dissatisfied = 1 AND rating_no = 1 AND superseded_by IS NULL AND flags NOT LIKE '%"misuse"%' AND evaluated_at >= ? AND evaluated_at < ?`;
      const rows = db.prepare(`SELECT id, matter_code AS matterCode, received_at AS receivedAt FROM evaluations WHERE id IN (${loops})`).all(from, to) as { id: string; matterCode: string | null; receivedAt: string }[];
      const steps = new Map<string, StepFact[]>();
      for (const h of db.prepare(`SELECT evaluation_id AS id, step, at, complex FROM handling WHERE evaluation_id IN (${loops}) ORDER BY id`).all(from, to) as { id: string; step: string; at: string; complex: number }[]) {
        const list = steps.get(h.id) ?? [];
        list.push({ step: h.step, at: h.at, complex: h.complex === 1 });
        steps.set(h.id, list);
      }
      const handling: HandlingFigures = { dissatisfied: rows.length, resolved: 0, resolvedOnTime: 0, open: 0, overdue: 0, onTimeRate: null, escalated: 0 };
      for (const r of rows) {
        const loop = foldSteps(steps.get(r.id) ?? []);
        const due = Date.parse(hall.deadline(r, loop.markedComplex).deadlineAt);
        handling.escalated += loop.escalations;
        if (loop.closedAt === null) {
          handling.open++;
          if (now >= due) handling.overdue++;
        } else {
          handling.resolved++;
          if (Date.parse(loop.closedAt) <= due) handling.resolvedOnTime++;
        }
      }
      handling.onTimeRate = rows.length ? round4(handling.resolvedOnTime / rows.length) : null;
      return { rated, dissatisfied, satisfactionRate: rateOf(rated, dissatisfied), notEvaluated, misuseExcluded, handling };
    });
  }
}

const figures = (g: StatRow): Figures => ({ rated: g.rated, dissatisfied: g.dissatisfied, satisfactionRate: g.satisfactionRate });

/**
 * Ranks the groups rated in either month (a group only the month before had stays, with no rate
 * now). `rate`: best satisfaction rate first, then fewer 差评, then more ratings; `dissatisfied`:
 * most 差评 first, then more ratings. Equal figures share a rank (1, 1, 3); the key orders them.
 */
export function ranking(current: StatRow[], previous: StatRow[], nameOf: (key: string, row: StatRow | undefined) => string, order: 'rate' | 'dissatisfied'): RankedRow[] {
  const now = new Map(current.filter((g) => g.key !== null && g.rated > 0).map((g) => [g.key!, g]));
  const before = new Map(previous.filter((g) => g.key !== null && g.rated > 0).map((g) => [g.key!, g]));
  const rows = [...new Set([...now.keys(), ...before.keys()])].map((key) => {
    const g = now.get(key);
    const p = before.get(key);
    const f: Figures = g ? figures(g) : { rated: 0, dissatisfied: 0, satisfactionRate: null };
    const prev = p ? figures(p) : null;
    return {
      rank: 0,
      key,
      name: nameOf(key, g ?? p),
      ...f,
      previous: prev,
      change: prev ? { rated: f.rated - prev.rated, dissatisfied: f.dissatisfied - prev.dissatisfied, satisfactionRate: rateChange(f.satisfactionRate, prev.satisfactionRate) } : null,
    };
  });
  const compare = (a: Figures, b: Figures) =>
    order === 'rate' ? (b.satisfactionRate ?? -1) - (a.satisfactionRate ?? -1) || a.dissatisfied - b.dissatisfied || b.rated - a.rated : b.dissatisfied - a.dissatisfied || b.rated - a.rated;
  rows.sort((a, b) => compare(a, b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  rows.forEach((r, i) => (r.rank = i > 0 && compare(rows[i - 1]!, r) === 0 ? rows[i - 1]!.rank : i + 1));
  return rows;
}

// ---- words and numbers, one way for every format ----

const RANKINGS: readonly { name: RankingName; title: string; what: string }[] = [
  { name: 'windows', title: '窗口排名', what: '窗口' },
  { name: 'staff', title: '工作人员排名', what: '工作人员' },
  { name: 'matters', title: '事项排名', what: '事项' },
  { name: 'reasons', title: '差评原因排名', what: '原因' },
];

/** `2026-11` -> `2026年11月`. */
const monthWords = (month: string) => `${month.slice(0, 4)}年${Number(month.slice(5, 7))}月`;
const percent = (rate: number | null) => (rate === null ? '—' : `${(rate * 100).toFixed(2)}%`);
const arrow = (delta: number) => (delta > 0 ? '↑' : delta < 0 ? '↓' : '→');
/** A count's change with its arrow: `↑2`, `↓1`, `→0`. */
const countChange = (delta: number | null | undefined) => (delta === null || delta === undefined ? '—' : `${arrow(delta)}${Math.abs(delta)}`);
/** A rate's change in percentage points with its arrow: `↑2.50个百分点`. */
const rateChangeWords = (delta: number | null | undefined) => (delta === null || delta === undefined ? '—' : `${arrow(delta)}${Math.abs(delta * 100).toFixed(2)}个百分点`);
/** China Standard Time, to the minute. */
const cstTime = (iso: string) => new Date(Date.parse(iso) + CST).toISOString().slice(0, 16).replace('T', ' ');
const lastDay = (report: MonthlyReport) => new Date(Date.parse(report.to) + CST - 1).toISOString().slice(0, 10);

/** The summary table: label, this month, the month before, the change. */
function summaryLines(report: MonthlyReport): [string, string, string, string][] {
  const { current: c, previous: p, change } = report.summary;
  return [
    ['评价数', String(c.rated), String(p.rated), countChange(change.rated)],
    ['满意率', percent(c.satisfactionRate), percent(p.satisfactionRate), rateChangeWords(change.satisfactionRate)],
    ['差评数', String(c.dissatisfied), String(p.dissatisfied), countChange(change.dissatisfied)],
    ['差评按时办结率', percent(c.handling.onTimeRate), percent(p.handling.onTimeRate), rateChangeWords(change.onTimeRate)],
    ['督办数', String(c.handling.escalated), String(p.handling.escalated), countChange(change.escalated)],
    ['未评价数', String(c.notEvaluated), String(p.notEvaluated), countChange(change.notEvaluated)],
  ];
}

const RANK_COLUMNS = ['名次', '编号', '名称', '评价数', '差评数', '满意率', '上月评价数', '上月差评数', '上月满意率', '满意率较上月', '差评较上月'] as const;

/** A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`) is made text. */
const textCell = (v: string) => (/^[=+\-@\t\r]/.test(v) ? `'${v}` : v);

/** CSV: a title line, then each table under its title, a blank line between. UTF-8 with a BOM. */
function reportCsv(report: MonthlyReport): string {
  const parts = [
    toCsv(['通报', '月份', '统计时段', '生成时间'] as const, [{ 通报: `${report.hallName} 好差评月度通报`, 月份: report.month, 统计时段: `${report.month}-01 至 ${lastDay(report)}（北京时间）`, 生成时间: cstTime(report.generatedAt) }]),
    `概况\r\n${toCsv(['指标', '本月', '上月', '较上月'] as const, summaryLines(report).map(([指标, 本月, 上月, 较上月]) => ({ 指标, 本月, 上月, 较上月 })))}`,
  ];
  for (const { name, title } of RANKINGS) {
    const rows = report.rankings[name].map((r) => ({
      名次: String(r.rank),
      编号: textCell(r.key),
      名称: textCell(r.name),
      评价数: String(r.rated),
      差评数: String(r.dissatisfied),
      满意率: percent(r.satisfactionRate),
      上月评价数: r.previous ? String(r.previous.rated) : '',
      上月差评数: r.previous ? String(r.previous.dissatisfied) : '',
      上月满意率: r.previous ? percent(r.previous.satisfactionRate) : '',
      满意率较上月: rateChangeWords(r.change?.satisfactionRate),
      差评较上月: countChange(r.change?.dissatisfied),
    }));
    parts.push(`${title}\r\n${toCsv(RANK_COLUMNS, rows)}`);
  }
  return `\uFEFF${parts.join('\r\n')}`;
}

/** The sheet of each ranking, in order (the summary sheet `概况` comes first). */
export const XLSX_SHEETS = ['概况', ...RANKINGS.map((r) => r.title)] as const;

/** XLSX: a summary sheet and one sheet per ranking; rates are numbers shown as %, changes with arrows. */
async function reportXlsx(report: MonthlyReport): Promise<Buffer> {
  const { default: ExcelJS } = await import('exceljs');
  const book = new ExcelJS.Workbook();
  book.creator = report.hallName;
  book.created = new Date(report.generatedAt);
  const RATE = '0.00%';
  // custom formats: the arrow is the sign, the value stays a number
  const COUNT_CHANGE = '"↑"0;"↓"0;"→"0';
  const POINTS_CHANGE = '"↑"0.00;"↓"0.00;"→"0.00';
  const points = (delta: number | null | undefined) => (delta === null || delta === undefined ? null : round4(delta * 100));

  const summary = book.addWorksheet(XLSX_SHEETS[0]);
  summary.columns = [{ width: 22 }, { width: 14 }, { width: 14 }, { width: 22 }];
  summary.addRow([`${report.hallName} ${monthWords(report.month)}好差评月度通报`]).font = { bold: true, size: 14 };
  summary.addRow([`统计时段 ${report.month}-01 至 ${lastDay(report)}（北京时间），生成于 ${cstTime(report.generatedAt)}`]);
  summary.addRow([]);
  summary.addRow(['指标', '本月', '上月', '较上月']).font = { bold: true };
  const { current: c, previous: p, change } = report.summary;
  const lines: [string, number | null, number | null, number | null, string, string][] = [
    ['评价数', c.rated, p.rated, change.rated, '0', COUNT_CHANGE],
    ['满意率', c.satisfactionRate, p.satisfactionRate, points(change.satisfactionRate), RATE, `${POINTS_CHANGE}"个百分点"`],
    ['差评数', c.dissatisfied, p.dissatisfied, change.dissatisfied, '0', COUNT_CHANGE],
    ['差评按时办结率', c.handling.onTimeRate, p.handling.onTimeRate, points(change.onTimeRate), RATE, `${POINTS_CHANGE}"个百分点"`],
    ['督办数', c.handling.escalated, p.handling.escalated, change.escalated, '0', COUNT_CHANGE],
    ['未评价数', c.notEvaluated, p.notEvaluated, change.notEvaluated, '0', COUNT_CHANGE],
  ];
  for (const [label, now, before, delta, format, changeFormat] of lines) {
    const row = summary.addRow([label, now, before, delta]);
    row.getCell(2).numFmt = format;
    row.getCell(3).numFmt = format;
    row.getCell(4).numFmt = changeFormat;
  }

  for (const { name, title } of RANKINGS) {
    const sheet = book.addWorksheet(title, { views: [{ state: 'frozen', ySplit: 1 }] });
    sheet.columns = [
      { header: '名次', key: 'rank', width: 6 },
      { header: '编号', key: 'key', width: 16 },
      { header: '名称', key: 'name', width: 28 },
      { header: '评价数', key: 'rated', width: 9 },
      { header: '差评数', key: 'dissatisfied', width: 9 },
      { header: '满意率', key: 'rate', width: 10, style: { numFmt: RATE } },
      { header: '上月评价数', key: 'previousRated', width: 11 },
      { header: '上月差评数', key: 'previousDissatisfied', width: 11 },
      { header: '上月满意率', key: 'previousRate', width: 11, style: { numFmt: RATE } },
      { header: '满意率较上月（百分点）', key: 'rateChange', width: 22, style: { numFmt: POINTS_CHANGE } },
      { header: '差评较上月', key: 'dissatisfiedChange', width: 11, style: { numFmt: COUNT_CHANGE } },
    ];
    sheet.getRow(1).font = { bold: true };
    for (const r of report.rankings[name]) {
      sheet.addRow({
        rank: r.rank,
        key: r.key,
        name: r.name,
        rated: r.rated,
        dissatisfied: r.dissatisfied,
        rate: r.satisfactionRate,
        previousRated: r.previous?.rated ?? null,
        previousDissatisfied: r.previous?.dissatisfied ?? null,
        previousRate: r.previous?.satisfactionRate ?? null,
        rateChange: points(r.change?.satisfactionRate),
        dissatisfiedChange: r.change?.dissatisfied ?? null,
      });
    }
  }
  return Buffer.from(await book.xlsx.writeBuffer());
}

// ---- the PDF ----

const PAGE = { width: 595.28, height: 841.89, margin: 48 } as const;
const INK = '#1f2328';
const MUTED = '#59636e';
const RULE = '#d0d7de';
const CURRENT = '#1f5fa8';
const PREVIOUS = '#b6c2cf';
const GOOD = '#1a7f37';
const BAD = '#c62828';

interface Cell {
  text: string;
  color?: string;
}
interface Column {
  header: string;
  width: number;
  align: 'left' | 'right' | 'center';
}

/** A change's colour: a rise in the rate is good, a rise in 差评 bad. */
const tone = (delta: number | null | undefined, goodWhenUp: boolean) => (!delta ? MUTED : delta > 0 === goodWhenUp ? GOOD : BAD);

/**
 * PDF (A4): title with the hall and month, the summary, a chart of the windows' rates and one of
 * the 差评 reasons, the four rankings as tables (headers repeated on each page), page numbers.
 */
async function reportPdf(report: MonthlyReport, regular: ReportFont, bold: ReportFont): Promise<Buffer> {
  const { default: PDFDocument } = await import('pdfkit');
  const title = `${report.hallName} ${monthWords(report.month)}好差评月度通报`;
  const doc = new PDFDocument({ size: 'A4', margin: PAGE.margin, bufferPages: true, info: { Title: title, Author: report.hallName, Subject: '好差评月度通报', CreationDate: new Date(report.generatedAt) } });
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  doc.registerFont('regular', regular.file, regular.name);
  doc.registerFont('bold', bold.file, bold.name);
  const left = PAGE.margin;
  const width = PAGE.width - 2 * PAGE.margin;
  const bottom = PAGE.height - PAGE.margin - 14; // room for the page number
  const ensure = (height: number) => {
    if (doc.y + height > bottom) doc.addPage();
  };
  const heading = (text: string) => {
    ensure(60);
    doc.moveDown(0.6).font('bold').fontSize(13).fillColor(INK).text(text, left, doc.y, { width });
    doc.moveDown(0.3);
  };
  /** Text cut to a width with an ellipsis (a long matter name stays on its line). */
  const fit = (text: string, w: number) => {
    if (doc.widthOfString(text) <= w) return text;
    let cut = text;
    while (cut.length > 1 && doc.widthOfString(`${cut}…`) > w) cut = cut.slice(0, -1);
    return `${cut}…`;
  };
  const table = (columns: Column[], rows: Cell[][], empty: string) => {
    const rowH = 17;
    const header = () => {
      const y = doc.y;
      doc.rect(left, y, width, rowH).fill('#eef1f4');
      doc.font('bold').fontSize(8.5).fillColor(INK);
      let x = left;
      for (const c of columns) {
        doc.text(fit(c.header, c.width - 6), x + 3, y + 4.5, { width: c.width - 6, align: c.align, lineBreak: false });
        x += c.width;
      }
      doc.y = y + rowH;
    };
    ensure(rowH * 2);
    header();
    if (rows.length === 0) {
      doc.font('regular').fontSize(9).fillColor(MUTED).text(empty, left + 3, doc.y + 4, { width: width - 6, lineBreak: false });
      doc.y += rowH;
    }
    rows.forEach((row, i) => {
      if (doc.y + rowH > bottom) {
        doc.addPage();
        header();
      }
      const y = doc.y;
      if (i % 2 === 1) doc.rect(left, y, width, rowH).fill('#f7f8fa');
      doc.font('regular').fontSize(9);
      let x = left;
      row.forEach((cell, j) => {
        const c = columns[j]!;
        doc.fillColor(cell.color ?? INK).text(fit(cell.text, c.width - 6), x + 3, y + 4.5, { width: c.width - 6, align: c.align, lineBreak: false });
        x += c.width;
      });
      doc.moveTo(left, y + rowH).lineTo(left + width, y + rowH).lineWidth(0.4).strokeColor(RULE).stroke();
      doc.y = y + rowH;
    });
    doc.x = left;
  };
  /** Horizontal bars, this month over the month before, with each value written at its bar's end. */
  const barChart = (bars: { label: string; current: number | null; previous: number | null }[], max: number, words: (v: number) => string, empty: string) => {
    const labelW = 120;
    const plotW = width - labelW - 70;
    const pair = 26;
    ensure(Math.min(bars.length, 6) * pair + 40);
    if (bars.length === 0) {
      doc.font('regular').fontSize(9).fillColor(MUTED).text(empty, left, doc.y, { width });
      return;
    }
    // legend
    let y = doc.y;
    doc.rect(left + labelW, y + 2, 10, 8).fill(CURRENT);
    doc.font('regular').fontSize(8.5).fillColor(INK).text(`本月（${monthWords(report.month)}）`, left + labelW + 14, y + 1, { lineBreak: false });
    doc.rect(left + labelW + 130, y + 2, 10, 8).fill(PREVIOUS);
    doc.fillColor(INK).text(`上月（${monthWords(report.previousMonth)}）`, left + labelW + 144, y + 1, { lineBreak: false });
    y += 18;
    const axisTop = y;
    for (const bar of bars) {
      if (y + pair > bottom) {
        doc.moveTo(left + labelW, axisTop).lineTo(left + labelW, y).lineWidth(0.8).strokeColor(MUTED).stroke();
        doc.addPage();
        y = doc.y;
      }
      doc.font('regular').fontSize(9).fillColor(INK).text(fit(bar.label, labelW - 8), left, y + 6, { width: labelW - 8, align: 'right', lineBreak: false });
      const draw = (value: number | null, top: number, h: number, color: string) => {
        const w = value === null ? 0 : Math.max(0.5, (value / max) * plotW);
        if (value !== null) doc.rect(left + labelW, top, w, h).fill(color);
        doc.font('regular').fontSize(7.5).fillColor(MUTED).text(value === null ? '无评价' : words(value), left + labelW + w + 4, top + h / 2 - 4, { lineBreak: false });
      };
      draw(bar.current, y + 2, 11, CURRENT);
      draw(bar.previous, y + 13, 8, PREVIOUS);
      doc.moveTo(left + labelW, y).lineTo(left + labelW, y + pair).lineWidth(0.8).strokeColor(MUTED).stroke();
      y += pair;
    }
    doc.x = left;
    doc.y = y + 6;
  };

  // title
  doc.font('bold').fontSize(19).fillColor(INK).text(title, left, PAGE.margin, { width, align: 'center' });
  doc.moveDown(0.3);
  doc.font('regular').fontSize(9.5).fillColor(MUTED).text(`统计时段：${report.month}-01 至 ${lastDay(report)}（北京时间）　对比：${monthWords(report.previousMonth)}　生成时间：${cstTime(report.generatedAt)}`, { width, align: 'center' });
  doc.moveDown(0.4);
  doc.moveTo(left, doc.y).lineTo(left + width, doc.y).lineWidth(1).strokeColor(CURRENT).stroke();

  heading('一、总体情况');
  const change = report.summary.change;
  const tones = [tone(change.rated, true), tone(change.satisfactionRate, true), tone(change.dissatisfied, false), tone(change.onTimeRate, true), tone(change.escalated, false), tone(change.notEvaluated, false)];
  table(
    [
      { header: '指标', width: width * 0.34, align: 'left' },
      { header: monthWords(report.month), width: width * 0.2, align: 'right' },
      { header: monthWords(report.previousMonth), width: width * 0.2, align: 'right' },
      { header: '较上月', width: width * 0.26, align: 'right' },
    ],
    summaryLines(report).map(([label, now, before, delta], i) => [{ text: label }, { text: now }, { text: before }, { text: delta, color: tones[i]! }]),
    '',
  );
  const h = report.summary.current.handling;
  doc.moveDown(0.5).font('regular').fontSize(9).fillColor(INK).text(
    `本月差评 ${h.dissatisfied} 件：已办结 ${h.resolved} 件，其中按期办结 ${h.resolvedOnTime} 件；未办结 ${h.open} 件，其中已超期 ${h.overdue} 件；督办 ${h.escalated} 次。`,
    left,
    doc.y,
    { width },
  );

  heading('二、各窗口满意率');
  barChart(
    report.rankings.windows.map((r) => ({ label: r.name, current: r.satisfactionRate, previous: r.previous?.satisfactionRate ?? null })),
    1,
    percent,
    '本月与上月均无窗口评价。',
  );

  const rankColumns = (what: string): Column[] => [
    { header: '名次', width: 32, align: 'center' },
    { header: what, width: width - 32 - 46 - 40 - 56 - 56 - 86 - 50, align: 'left' },
    { header: '评价数', width: 46, align: 'right' },
    { header: '差评', width: 40, align: 'right' },
    { header: '满意率', width: 56, align: 'right' },
    { header: '上月满意率', width: 56, align: 'right' },
    { header: '满意率较上月', width: 86, align: 'right' },
    { header: '差评较上月', width: 50, align: 'right' },
  ];
  // a reason has no satisfaction rate worth reading: its table is about the 差评 that cite it
  const reasonColumns: Column[] = [
    { header: '名次', width: 32, align: 'center' },
    { header: '原因', width: width - 32 - 4 * 76, align: 'left' },
    { header: '差评数', width: 76, align: 'right' },
    { header: '上月差评数', width: 76, align: 'right' },
    { header: '差评较上月', width: 76, align: 'right' },
    { header: '涉及评价数', width: 76, align: 'right' },
  ];
  const numbers = ['三', '四', '五', '六'];
  RANKINGS.forEach(({ name, title: tableTitle, what }, i) => {
    heading(`${numbers[i]}、${tableTitle}${name === 'reasons' ? '（按差评数）' : '（按满意率、差评数）'}`);
    const dissatisfied = (n: number): Cell => ({ text: String(n), ...(n > 0 ? { color: BAD } : {}) });
    const rows = report.rankings[name].map((r): Cell[] =>
      name === 'reasons'
        ? [{ text: String(r.rank) }, { text: r.name }, dissatisfied(r.dissatisfied), { text: r.previous ? String(r.previous.dissatisfied) : '0' }, { text: countChange(r.dissatisfied - (r.previous?.dissatisfied ?? 0)), color: tone(r.dissatisfied - (r.previous?.dissatisfied ?? 0), false) }, { text: String(r.rated) }]
        : [
            { text: String(r.rank) },
            { text: r.name.includes(r.key) ? r.name : `${r.name}（${r.key}）` },
            { text: String(r.rated) },
            dissatisfied(r.dissatisfied),
            { text: percent(r.satisfactionRate) },
            { text: r.previous ? percent(r.previous.satisfactionRate) : '—' },
            { text: r.change ? rateChangeWords(r.change.satisfactionRate) : '新增', color: tone(r.change?.satisfactionRate, true) },
            { text: countChange(r.change?.dissatisfied), color: tone(r.change?.dissatisfied, false) },
          ],
    );
    table(name === 'reasons' ? reasonColumns : rankColumns(what), rows, `本月与上月均无${what}评价。`);
    if (name === 'reasons' && report.rankings.reasons.length > 0) {
      doc.moveDown(0.6);
      ensure(40);
      doc.font('bold').fontSize(10).fillColor(INK).text('差评原因分布（差评数）', left, doc.y, { width });
      doc.moveDown(0.3);
      const max = Math.max(1, ...report.rankings.reasons.flatMap((r) => [r.dissatisfied, r.previous?.dissatisfied ?? 0]));
      barChart(report.rankings.reasons.map((r) => ({ label: r.name, current: r.dissatisfied, previous: r.previous?.dissatisfied ?? 0 })), max, (v) => `${v} 件`, '');
    }
  });

  heading('说明');
  doc.font('regular').fontSize(8.5).fillColor(MUTED).text(
    [
      '满意率 =（评价数 − 差评数）÷ 评价数；差评为“不满意”“非常不满意”；未评价（超时未按键）不计入评价数。',
      '误触（短时间内连续按键）标记的评价、同一办件的重复评价不计入统计。',
      `差评按时办结率 = 在办理期限内办结（含整改后群众再次评价）的差评 ÷ 全部差评；期限为 ${report.handlingDays.normal} 个工作日，复杂事项 ${report.handlingDays.complex} 个工作日。督办数为超期未办结时系统督办的次数。`,
      '一条评价可选多个差评原因，原因排名中分别计数。',
    ].join('\n'),
    left,
    doc.y,
    { width, lineGap: 2 },
  );

  // page numbers, once the page count is known
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    doc.page.margins.bottom = 0; // writing in the margin must not open a page
    const y = PAGE.height - PAGE.margin + 10;
    doc.moveTo(left, y - 6).lineTo(left + width, y - 6).lineWidth(0.4).strokeColor(RULE).stroke();
    doc.font('regular').fontSize(8).fillColor(MUTED);
    doc.text(title, left, y, { width: width / 2, lineBreak: false });
    doc.text(`第 ${i + 1} 页 / 共 ${range.count} 页`, left + width / 2, y, { width: width / 2, align: 'right', lineBreak: false });
  }
  doc.end();
  return done;
}
