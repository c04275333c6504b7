/**
 * The 月度通报 (PROTOCOL 5 [r2] `GET /api/reports/monthly`, the CLI's `report`) and the stats
 * by reason and department, over two months of ratings committed into an in-process hub's
 * store: the JSON figures exact, the CSV parsed, the XLSX read back, the PDF rendered to PNG
 * (docs/report-page*.png, shown in the README) and checked for its text and page numbers.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../hub/config.js';
import { commitEvaluation } from '../hub/evaluations.js';
import { Hub } from '../hub/hub.js';
import { monthRange, Reports, XLSX_SHEETS } from '../hub/reports.js';
import { ManualClock } from '../simulators/manual-clock.js';
import { tempDir } from '../simulators/pty.js';
import type { Evaluation } from '../protocol/index.js';
import { evaluation } from './support/evaluation.js';
import { ROOT } from './support/processes.js';

const ADMIN = 'reports-test-admin-token';
const DEPT = '430300-ZWFW';
const NOW = Date.parse('2026-12-02T02:00:00Z'); // 10:00 on 2 December in China
const run = promisify(execFile);

let hub: Hub;
let dir: string;
let configFile: string;
let manager: string;
let handler: string;

type Json = any;

async function get(path: string, token: string | null = manager): Promise<{ status: number; type: string | null; bytes: Buffer; json: Json; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${hub.port}${path}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  const bytes = Buffer.from(await res.arrayBuffer());
  const type = res.headers.get('content-type');
  return { status: res.status, type, bytes, json: type?.startsWith('application/json') ? JSON.parse(bytes.toString('utf8')) : undefined, headers: res.headers };
}

let seq = 0;
/** One rating; `at` is when it was pressed (and received). */
function rate(at: string, level: number, fields: Partial<Evaluation> = {}): Evaluation {
  seq++;
  return evaluation({ id: `HCP5-RPT-${seq}`, level, evaluatedAt: at, origin: 'invited', ...fields });
}

const A01 = { windowId: 'A01', staffId: 'S001', staffName: '李明', matterCode: 'M01', matterName: '营业执照办理' };
const A02 = { windowId: 'A02', staffId: 'S002', staffName: '王芳', matterCode: 'M02', matterName: '不动产登记' };
const A03 = { windowId: 'A03', staffId: 'S003', staffName: '赵强', matterCode: 'M01', matterName: '营业执照办理' };

/** The 差评 whose handling the report counts, by id. */
const LOOPS: Record<string, string> = {};

async function seed(): Promise<void> {
  const october: Evaluation[] = [
    rate('2026-10-12T02:00:00Z', 5, A01),
    rate('2026-10-13T02:00:00Z', 5, A01),
    rate('2026-10-20T02:00:00Z', 1, { ...A01, reasons: ['attitude'] }), // handled on time
    rate('2026-10-14T02:00:00Z', 5, A02),
    rate('2026-10-15T02:00:00Z', 5, A02),
  ];
  LOOPS['october'] = october[2]!.id;
  const november: Evaluation[] = [
    // A01: 5 4 5 1 (0:30 on 1 November in China is November)
    rate('2026-10-31T16:30:00Z', 5, A01),
    rate('2026-11-03T02:00:00Z', 4, A01),
    rate('2026-11-04T02:00:00Z', 5, A01),
    rate('2026-11-05T02:00:00Z', 1, { ...A01, reasons: ['attitude', 'long-wait'] }), // Thursday: due the end of Monday 9th, resolved Friday
    rate('2026-11-06T02:00:00Z', 0, { ...A01, origin: 'prompted' }), // not evaluated
    // A02: 5 5 3 2
    rate('2026-11-11T02:00:00Z', 5, A02),
    rate('2026-11-12T02:00:00Z', 5, A02),
    rate('2026-11-13T02:00:00Z', 3, { ...A02, reasons: ['efficiency'] }),
    rate('2026-11-10T02:00:00Z', 2, { ...A02, reasons: ['long-wait'] }), // Tuesday: due the end of Thursday 12th, resolved late
    // A03: 5 (T-9), a timeout then 5 (T-12), a second rating of T-9 (refused), 1 with no clerk or matter
    rate('2026-11-16T02:00:00Z', 5, { ...A03, txnId: 'T-9' }),
    rate('2026-11-17T02:00:00Z', 0, { ...A03, txnId: 'T-12', origin: 'prompted' }),
    rate('2026-11-17T02:01:00Z', 5, { ...A03, txnId: 'T-12' }),
    rate('2026-11-18T02:00:00Z', 1, { ...A03, txnId: 'T-9' }),
    rate('2026-11-20T02:00:00Z', 1, { windowId: 'A03', reasons: ['system-failure'] }), // Friday: due the end of Tuesday 24th, still open
    // misuse-flagged: kept, never counted
    rate('2026-11-21T02:00:00Z', 1, { ...A03, reasons: ['attitude'], flags: ['misuse'], origin: 'unsolicited' }),
    // 00:00 on 1 December in China: December's
    rate('2026-11-30T16:00:00Z', 1, { ...A01, reasons: ['attitude'] }),
  ];
  LOOPS['onTime'] = november[3]!.id;
  LOOPS['late'] = november[8]!.id;
  LOOPS['open'] = november[13]!.id;
  for (const e of [...october, ...november]) await hub.store.submit((db) => commitEvaluation(db, e, { attachWithinMs: 0, misuseWindowMs: 0 }));
  const steps: [string, string, string][] = [
    [LOOPS['october']!, 'acknowledged', '2026-10-20T03:00:00Z'],
    [LOOPS['october']!, 'resolved', '2026-10-21T08:00:00Z'],
    [LOOPS['onTime']!, 'acknowledged', '2026-11-05T03:00:00Z'],
    [LOOPS['onTime']!, 'resolved', '2026-11-06T08:00:00Z'],
    [LOOPS['late']!, 'acknowledged', '2026-11-10T03:00:00Z'],
    [LOOPS['late']!, 'escalated', '2026-11-12T16:00:00Z'],
    [LOOPS['late']!, 'resolved', '2026-11-13T03:00:00Z'],
    [LOOPS['open']!, 'acknowledged', '2026-11-20T03:00:00Z'],
    [LOOPS['open']!, 'escalated', '2026-11-24T16:00:00Z'],
  ];
  await hub.store.submit((db) => {
    for (const [id, step, at] of steps) db.prepare('INSERT INTO handling (evaluation_id, step, at, by, note) VALUES (?, ?, ?, ?, NULL)').run(id, step, at, step === 'escalated' ? 'hub' : '王主任');
  });
}

beforeAll(async () => {
  dir = tempDir('reports');
  const raw = {
    hallId: '430300-001',
    hallName: '湘潭市政务服务中心',
    areaCode: '430300',
    deptCode: DEPT,
    dataDir: join(dir, 'data'),
    adminToken: ADMIN,
    http: { host: '127.0.0.1', port: 0 },
    devices: { discover: { serial: false, hid: false } },
    windows: [
      { id: 'A01', name: 'A01 综合受理' },
      { id: 'A02', name: 'A02 不动产登记' },
      { id: 'A03', name: 'A03 市场准入' },
    ],
  };
  configFile = join(dir, 'hall.json');
  writeFileSync(configFile, JSON.stringify(raw));
  hub = new Hub({ config: parseConfig(raw), clock: new ManualClock(NOW) });
  await hub.start();
  await seed();
  const person = async (name: string, role: string) => {
    const res = await fetch(`http://127.0.0.1:${hub.port}/api/users`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name, role }) });
    expect(res.status).toBe(201);
    return ((await res.json()) as { token: string }).token;
  };
  manager = await person('王主任', 'manager');
  handler = await person('陈办理', 'handler');
});

afterAll(async () => {
  await hub?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const MONTH = '/api/reports/monthly?month=2026-11';

describe('GET /api/stats by reason and by department', () => {
  const range = `from=${encodeURIComponent(monthRange('2026-11').from)}&to=${encodeURIComponent(monthRange('2026-11').to)}`;

  it('by=reason counts each reason code of a rating (json_each), the ratings without one under null', async () => {
    const { status, json } = await get(`/api/stats?by=reason&${range}`);
    expect(status).toBe(200);
    const groups = Object.fromEntries((json.groups as Json[]).map((g) => [String(g.key), { rated: g.rated, dissatisfied: g.dissatisfied, notEvaluated: g.notEvaluated, misuseExcluded: g.misuseExcluded }]));
    expect(groups).toEqual({
      attitude: { rated: 1, dissatisfied: 1, notEvaluated: 0, misuseExcluded: 1 },
      efficiency: { rated: 1, dissatisfied: 0, notEvaluated: 0, misuseExcluded: 0 },
      'long-wait': { rated: 2, dissatisfied: 2, notEvaluated: 0, misuseExcluded: 0 },
      null: { rated: 7, dissatisfied: 0, notEvaluated: 1, misuseExcluded: 0 },
      'system-failure': { rated: 1, dissatisfied: 1, notEvaluated: 0, misuseExcluded: 0 },
    });
  });

  it('by=department puts every rating under the hall deptCode (the pushed matter catalogue names no department)', async () => {
    const { json } = await get(`/api/stats?by=department&${range}`);
    expect(json.groups).toEqual([{ key: DEPT, name: null, levels: { '1': 2, '2': 1, '3': 1, '4': 1, '5': 6 }, rated: 11, notEvaluated: 1, dissatisfied: 3, satisfactionRate: 0.7273, misuseExcluded: 1 }]);
  });

  it('a matter with a department of its own is counted there', async () => {
    const { stats } = await import('../hub/evaluations.js');
    const { from, to } = monthRange('2026-11');
    const groups = hub.store.read((db) => stats(db, { from, to, by: 'department', departments: { hall: DEPT, ofMatter: (m) => (m === 'M02' ? 'DEPT-BDC' : undefined) } }));
    expect(groups.map((g) => [g.key, g.rated, g.dissatisfied])).toEqual([
      [DEPT, 7, 2],
      ['DEPT-BDC', 4, 1],
    ]);
  });

  it('refuses a grouping that is not in the list, own-property names included', async () => {
    for (const by of ['constructor', '__proto__', 'toString', 'reasons']) {
      const { status, json } = await get(`/api/stats?by=${by}`);
      expect(status).toBe(400);
      expect(json.error.message).toContain('reason, department');
    }
  });
});

describe('GET /api/reports/monthly (managers)', () => {
  it('JSON: rankings, handling on time, 督办 and the change from October, exact', async () => {
    const { status, json } = await get(MONTH);
    expect(status).toBe(200);
    const { rankings, summary, ...head } = json;
    expect(head).toEqual({
      hallId: '430300-001',
      hallName: '湘潭市政务服务中心',
      month: '2026-11',
      previousMonth: '2026-10',
      from: '2026-10-31T16:00:00.000Z',
      to: '2026-11-30T16:00:00.000Z',
      generatedAt: '2026-12-02T02:00:00.000Z',
      handlingDays: { normal: 2, complex: 10 },
    });
    expect(summary).toEqual({
      current: {
        rated: 11,
        dissatisfied: 3,
        satisfactionRate: 0.7273,
        notEvaluated: 1,
        misuseExcluded: 1,
        handling: { dissatisfied: 3, resolved: 2, resolvedOnTime: 1, open: 1, overdue: 1, onTimeRate: 0.3333, escalated: 2 },
      },
      previous: {
        rated: 5,
        dissatisfied: 1,
        satisfactionRate: 0.8,
        notEvaluated: 0,
        misuseExcluded: 0,
        handling: { dissatisfied: 1, resolved: 1, resolvedOnTime: 1, open: 0, overdue: 0, onTimeRate: 1, escalated: 0 },
      },
      change: { rated: 6, dissatisfied: 2, satisfactionRate: -0.0727, onTimeRate: -0.6667, escalated: 2, notEvaluated: 1 },
    });
    const row = (rank: number, key: string, name: string, rated: number, dissatisfied: number, satisfactionRate: number | null, previous: Json) => ({
      rank,
      key,
      name,
      rated,
      dissatisfied,
      satisfactionRate,
      previous,
      change: previous ? { rated: rated - previous.rated, dissatisfied: dissatisfied - previous.dissatisfied, satisfactionRate: expect.any(Number) } : null,
    });
    // A01 and A02 tie (0.75, one 差评, four ratings): both first, A03 third
    expect(rankings.windows).toEqual([
      row(1, 'A01', 'A01 综合受理', 4, 1, 0.75, { rated: 3, dissatisfied: 1, satisfactionRate: 0.6667 }),
      row(1, 'A02', 'A02 不动产登记', 4, 1, 0.75, { rated: 2, dissatisfied: 0, satisfactionRate: 1 }),
      row(3, 'A03', 'A03 市场准入', 3, 1, 0.6667, null),
    ]);
    expect(rankings.windows.map((r: Json) => r.change?.satisfactionRate ?? null)).toEqual([0.0833, -0.25, null]);
    // the 差评 at A03 named no clerk or matter: it is in no clerk's or matter's row
    expect(rankings.staff).toEqual([
      row(1, 'S003', '赵强', 2, 0, 1, null),
      row(2, 'S001', '李明', 4, 1, 0.75, { rated: 3, dissatisfied: 1, satisfactionRate: 0.6667 }),
      row(2, 'S002', '王芳', 4, 1, 0.75, { rated: 2, dissatisfied: 0, satisfactionRate: 1 }),
    ]);
    expect(rankings.matters).toEqual([
      row(1, 'M01', '营业执照办理', 6, 1, 0.8333, { rated: 3, dissatisfied: 1, satisfactionRate: 0.6667 }),
      row(2, 'M02', '不动产登记', 4, 1, 0.75, { rated: 2, dissatisfied: 0, satisfactionRate: 1 }),
    ]);
    expect(rankings.matters[0].change.satisfactionRate).toBe(0.1666);
    // reasons: the most 差评 first
    expect(rankings.reasons).toEqual([
      row(1, 'long-wait', '等候时间长', 2, 2, 0, null),
      row(2, 'attitude', '服务态度', 1, 1, 0, { rated: 1, dissatisfied: 1, satisfactionRate: 0 }),
      row(2, 'system-failure', '系统故障', 1, 1, 0, null),
      row(4, 'efficiency', '服务效率', 1, 0, 1, null),
    ]);
  });

  it('a month is China Standard Time: 00:00 on 1 December belongs to December, whose report compares with November', async () => {
    const { json } = await get('/api/reports/monthly?month=2026-12&format=json');
    expect(json.summary.current).toMatchObject({ rated: 1, dissatisfied: 1 });
    expect(json.summary.previous).toMatchObject({ rated: 11, dissatisfied: 3 });
    expect(json.rankings.windows).toEqual([expect.objectContaining({ key: 'A01', rated: 1, previous: { rated: 4, dissatisfied: 1, satisfactionRate: 0.75 } }), expect.objectContaining({ key: 'A02', rated: 0, satisfactionRate: null }), expect.objectContaining({ key: 'A03', rated: 0 })]);
    expect((await get('/api/reports/monthly?month=2027-01')).json.previousMonth).toBe('2026-12');
  });

  it('CSV: UTF-8 with a BOM, the summary and each ranking a table under its title, arrows for the change', async () => {
    const { status, type, bytes, headers } = await get(`${MONTH}&format=csv`);
    expect(status).toBe(200);
    expect(type).toBe('text/csv; charset=utf-8');
    expect(headers.get('content-disposition')).toBe('attachment; filename="haochaping-430300-001-2026-11.csv"');
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const tables = sections(parseCsv(bytes.toString('utf8').slice(1)));
    expect(Object.keys(tables)).toEqual(['', '概况', '窗口排名', '工作人员排名', '事项排名', '差评原因排名']);
    expect(tables['']![1]).toEqual(['湘潭市政务服务中心 好差评月度通报', '2026-11', '2026-11-01 至 2026-11-30（北京时间）', '2026-12-02 10:00']);
    expect(tables['概况']).toEqual([
      ['指标', '本月', '上月', '较上月'],
      ['评价数', '11', '5', '↑6'],
      ['满意率', '72.73%', '80.00%', '↓7.27个百分点'],
      ['差评数', '3', '1', '↑2'],
      ['差评按时办结率', '33.33%', '100.00%', '↓66.67个百分点'],
      ['督办数', '2', '0', '↑2'],
      ['未评价数', '1', '0', '↑1'],
    ]);
    expect(tables['窗口排名']).toEqual([
      ['名次', '编号', '名称', '评价数', '差评数', '满意率', '上月评价数', '上月差评数', '上月满意率', '满意率较上月', '差评较上月'],
      ['1', 'A01', 'A01 综合受理', '4', '1', '75.00%', '3', '1', '66.67%', '↑8.33个百分点', '→0'],
      ['1', 'A02', 'A02 不动产登记', '4', '1', '75.00%', '2', '0', '100.00%', '↓25.00个百分点', '↑1'],
      ['3', 'A03', 'A03 市场准入', '3', '1', '66.67%', '', '', '', '—', '—'],
    ]);
    expect(tables['差评原因排名']!.map((r) => r.slice(0, 5))).toEqual([
      ['名次', '编号', '名称', '评价数', '差评数'],
      ['1', 'long-wait', '等候时间长', '2', '2'],
      ['2', 'attitude', '服务态度', '1', '1'],
      ['2', 'system-failure', '系统故障', '1', '1'],
      ['4', 'efficiency', '服务效率', '1', '0'],
    ]);
  });

  it('XLSX: opens, with the summary and one sheet per ranking, rates as numbers shown in %, changes with arrows', async () => {
    const { status, type, bytes } = await get(`${MONTH}&format=xlsx`);
    expect(status).toBe(200);
    expect(type).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    const book = new ExcelJS.Workbook();
    await book.xlsx.load(bytes as unknown as ArrayBuffer);
    expect(book.worksheets.map((s) => s.name)).toEqual([...XLSX_SHEETS]);
    expect(XLSX_SHEETS).toEqual(['概况', '窗口排名', '工作人员排名', '事项排名', '差评原因排名']);
    const values = (name: string) => {
      const sheet = book.getWorksheet(name)!;
      return Array.from({ length: sheet.rowCount }, (_, i) => (sheet.getRow(i + 1).values as unknown[]).slice(1));
    };
    expect(values('窗口排名')).toEqual([
      ['名次', '编号', '名称', '评价数', '差评数', '满意率', '上月评价数', '上月差评数', '上月满意率', '满意率较上月（百分点）', '差评较上月'],
      [1, 'A01', 'A01 综合受理', 4, 1, 0.75, 3, 1, 0.6667, 8.33, 0],
      [1, 'A02', 'A02 不动产登记', 4, 1, 0.75, 2, 0, 1, -25, 1],
      [3, 'A03', 'A03 市场准入', 3, 1, 0.6667],
    ]);
    const windows = book.getWorksheet('窗口排名')!;
    expect(windows.getCell('F2').numFmt).toBe('0.00%');
    expect(windows.getCell('K3').numFmt).toBe('"↑"0;"↓"0;"→"0');
    expect(values('差评原因排名').map((r) => r.slice(1, 5))).toEqual([
      ['编号', '名称', '评价数', '差评数'],
      ['long-wait', '等候时间长', 2, 2],
      ['attitude', '服务态度', 1, 1],
      ['system-failure', '系统故障', 1, 1],
      ['efficiency', '服务效率', 1, 0],
    ]);
    const summary = values('概况');
    expect(summary[0]).toEqual(['湘潭市政务服务中心 2026年11月好差评月度通报']);
    expect(summary.slice(3)).toEqual([
      ['指标', '本月', '上月', '较上月'],
      ['评价数', 11, 5, 6],
      ['满意率', 0.7273, 0.8, -7.27],
      ['差评数', 3, 1, 2],
      ['差评按时办结率', 0.3333, 1, -66.67],
      ['督办数', 2, 0, 2],
      ['未评价数', 1, 0, 1],
    ]);
  });

  it('PDF: a printable A4 document in Chinese with the hall, month, tables, charts and page numbers (rendered to docs/report-page*.png)', async () => {
    requirePoppler();
    const { status, type, bytes, headers } = await get(`${MONTH}&format=pdf`);
    expect(status).toBe(200);
    expect(type).toBe('application/pdf');
    expect(headers.get('content-disposition')).toBe('attachment; filename="haochaping-430300-001-2026-11.pdf"');
    expect(bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    const pdf = join(dir, 'report.pdf');
    writeFileSync(pdf, bytes);
    const pages = Number(/Pages:\s+(\d+)/.exec(tool('pdfinfo', [pdf]))?.[1]);
    expect(pages).toBeGreaterThanOrEqual(1);
    // pdftotext drops the spaces between Chinese and digits: compared without white space
    const text = tool('pdftotext', [pdf, '-']).replace(/[ \t\n]+/g, '');
    const perPage = text.split('\f').filter((p) => p !== '');
    expect(perPage).toHaveLength(pages);
    perPage.forEach((page, i) => expect(page).toContain(`第${i + 1}页/共${pages}页`));
    for (const words of ['湘潭市政务服务中心 2026年11月好差评月度通报', '一、总体情况', '二、各窗口满意率', '三、窗口排名', '四、工作人员排名', '五、事项排名', '六、差评原因排名', '差评原因分布', 'A01 综合受理', '营业执照办理', '等候时间长', '↓7.27个百分点', '72.73%', '33.33%', '本月差评 3 件']) {
      expect(text).toContain(words.replace(/ /g, ''));
    }
    // every page rendered: not blank, saved for the README
    tool('pdftoppm', ['-r', '80', '-png', pdf, join(dir, 'page')]);
    tool('pdftoppm', ['-r', '20', '-gray', pdf, join(dir, 'gray')]);
    const rendered = readdirSync(dir).filter((f) => /^page-\d+\.png$/.test(f)).sort();
    expect(rendered).toHaveLength(pages);
    for (const f of readdirSync(dir).filter((f) => /^gray-\d+\.pgm$/.test(f))) expect(inkShare(readFileSync(join(dir, f))), f).toBeGreaterThan(0.01);
    for (const f of readdirSync(join(ROOT, 'docs')).filter((f) => /^report-page\d+\.png$/.test(f))) rmSync(join(ROOT, 'docs', f));
    rendered.slice(0, 2).forEach((f, i) => writeFileSync(join(ROOT, 'docs', `report-page${i + 1}.png`), readFileSync(join(dir, f))));
  });

  it('a month with no ratings is still a report, and its PDF says so', async () => {
    const { json } = await get('/api/reports/monthly?month=2025-03');
    expect(json.summary.current).toEqual({ rated: 0, dissatisfied: 0, satisfactionRate: null, notEvaluated: 0, misuseExcluded: 0, handling: { dissatisfied: 0, resolved: 0, resolvedOnTime: 0, open: 0, overdue: 0, onTimeRate: null, escalated: 0 } });
    expect(json.rankings).toEqual({ windows: [], staff: [], matters: [], reasons: [] });
    requirePoppler();
    const { bytes } = await get('/api/reports/monthly?month=2025-03&format=pdf');
    const pdf = join(dir, 'empty.pdf');
    writeFileSync(pdf, bytes);
    const text = tool('pdftotext', [pdf, '-']).replace(/\s+/g, '');
    expect(text).toContain('本月与上月均无窗口评价');
    expect(text).toContain('第1页/共1页');
  });

  it('refuses a bad month or format with 400, naming the field', async () => {
    for (const query of ['', '?month=2026-13', '?month=2026-1', '?month=2026-00', '?month=202611', '?month=2026-11-01', '?month=2026-11&format=docx', '?month=2026-11&format=constructor']) {
      const { status, json } = await get(`/api/reports/monthly${query}`);
      expect(status, query).toBe(400);
      expect(json.error.code).toBe('invalid-field');
      expect(json.error.message).toMatch(query.includes('format') ? /^format: / : /^month: expected YYYY-MM/);
    }
  });

  it('managers only: a handler gets 403, no token 401, the admin may', async () => {
    expect((await get(MONTH, handler)).status).toBe(403);
    expect((await get(`${MONTH}&format=pdf`, handler)).json.error.code).toBe('forbidden');
    expect((await get(MONTH, null)).status).toBe(401);
    expect((await get(MONTH, ADMIN)).status).toBe(200);
    expect((await get(`/api/stats?by=reason`, handler)).status).toBe(403);
  });

  it('without a Chinese font the PDF is a 503 naming the package to install; the other formats still work', async () => {
    const reports = new Reports({
      store: hub.store,
      hall: { hallName: () => 'H', windows: () => [], staff: () => [], publicConfig: () => ({ reasons: [] }) as never, handlingDays: () => ({ normal: 2, complex: 10 }), deadline: () => ({ complex: false, deadlineAt: '2026-12-01T00:00:00Z' }) },
      identity: { hallId: 'H', areaCode: '', deptCode: '' },
      clock: { now: () => NOW },
      options: { regular: [{ file: '/nonexistent/font.ttc', name: 'X' }], bold: [] },
    });
    const report = reports.monthly('2026-11');
    await expect(reports.render(report, 'pdf')).rejects.toMatchObject({ status: 503, code: 'font-missing', message: expect.stringContaining('apt-get install fonts-noto-cjk') });
    expect((await reports.render(report, 'csv')).body).toContain('窗口排名');
  });
});

describe('npm run hub -- report', () => {
  it('writes the same report as the API, a PDF to a file, and refuses a bad month', async () => {
    const cli = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'hub/cli.ts', '--config', configFile, 'report', ...args], { cwd: ROOT, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
    const json = JSON.parse((await cli(['--month', '2026-11', '--format', 'json'])).stdout.toString('utf8'));
    const api = (await get(MONTH)).json;
    expect({ ...json, generatedAt: null }).toEqual({ ...api, generatedAt: null });
    const pdf = (await cli(['--month', '2026-11', '--format', 'pdf'])).stdout;
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(pdf.subarray(-6).toString('latin1')).toMatch(/%%EOF\n?$/);
    const bad = await cli(['--month', '2026-13', '--format', 'pdf']).then(
      () => undefined,
      (error: { code: number; stderr: Buffer }) => error,
    );
    expect(bad?.code).toBe(2);
    expect(bad?.stderr.toString()).toMatch(/^hub: --month must be YYYY-MM/);
  });
});

// ---- helpers ----

/** PROTOCOL-free RFC 4180: quoted fields, doubled quotes, CRLF. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field), rows.push(row), (row = []), (field = ''), i++;
    } else field += c;
  }
  if (field !== '' || row.length > 0) row.push(field), rows.push(row);
  return rows;
}

/** Tables separated by blank lines; a table's first line is its title when it has one cell. */
function sections(rows: string[][]): Record<string, string[][]> {
  const out: Record<string, string[][]> = {};
  let title = '';
  let current: string[][] | undefined;
  for (const r of rows) {
    if (r.length === 1 && r[0] === '') {
      current = undefined;
      continue;
    }
    if (!current) {
      if (r.length === 1) {
        title = r[0]!;
        current = out[title] = [];
        continue;
      }
      current = out[title] = [];
    }
    current.push(r);
  }
  return out;
}

/** poppler-utils renders and reads the PDF; a missing one fails with the install command. */
function requirePoppler(): void {
  if (spawnSync('sh', ['-c', 'command -v pdftoppm && command -v pdftotext && command -v pdfinfo']).status !== 0) {
    throw new Error('pdftoppm, pdftotext and pdfinfo are not installed: run `apt-get install -y poppler-utils`');
  }
}

function tool(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** The share of pixels of a binary PGM (P5) darker than near-white. */
function inkShare(pgm: Buffer): number {
  const header = /^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(pgm.subarray(0, 50).toString('latin1'));
  if (!header) throw new Error('not a binary PGM');
  const pixels = pgm.subarray(header[0].length);
  let ink = 0;
  for (const p of pixels) if (p < 200) ink++;
  return ink / pixels.length;
}
