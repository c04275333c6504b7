/**
 * Exports (PROTOCOL 4.2): the accepted evaluations of a range as csv, json or the national
 * format (GB/T 39046), streamed. Rows are read in keyset pages (`evaluatedAt`, `id`) of
 * `pageRows`, each page rendered to one chunk and written to a `Writable` with backpressure,
 * with a turn of the event loop between pages: a year's export holds one page in memory, and
 * the hub keeps committing ratings while it runs. A rating committed during a long export
 * appears in it if it sorts after the page being read.
 *
 * The rows go from SQLite's raw arrays to text through one precompiled mapping per format,
 * without building an `Evaluation` per row: the national format reads 7 columns, parses no
 * JSON for a rating without flags, and converts each time stamp with integer arithmetic.
 */
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { EXPORT_FORMATS, LEVEL_NAMES, LEVEL_WORDS, NATIONAL_CHANNEL, NATIONAL_COLUMNS, levelToGbCode, toCstStamp, type ExportFormat } from '../protocol/index.js';
import { maskContact, rowToEvaluation, type EvaluationRow, type HallIdentity } from './evaluations.js';
import { stmt, type Db } from './store.js';

export { EXPORT_FORMATS, type ExportFormat };

export interface ExportRange {
  /** First `evaluatedAt` included, ISO-8601. */
  from: string;
  /** First `evaluatedAt` excluded, ISO-8601. */
  to: string;
  format: ExportFormat;
}

export interface ExportTuning {
  /** Rows read per page (one SQLite query, one chunk written). Default 2000. */
  pageRows?: number;
}

const DEFAULTS: Required<ExportTuning> = { pageRows: 2000 };

/** Where the export reads: the hub's store, or anything that runs a query on its connection. */
export interface ExportSource {
  read<T>(query: (db: Db) => T): T;
}

/** The columns of the `csv` format, in order (arrays joined by `;`). */
export const CSV_COLUMNS = ['id', 'channel', 'level', 'reasons', 'comment', 'txnId', 'matterCode', 'matterName', 'windowId', 'staffId', 'staffName', 'origin', 'evaluatedAt', 'receivedAt', 'deviceId', 'flags'] as const;

/** An export failed for a reason of the sink (closed, erroring), not of the data. */
export class ExportAborted extends Error {
  readonly code = 'aborted';
}

/**
 * Writes the export of `range` to `sink` and resolves with the number of records written once
 * the last chunk is accepted (the caller ends the sink). Rejects with `ExportAborted` if the
 * sink closes or errs first, or with the store's error; either way nothing more is written.
 */
export async function writeExport(source: ExportSource, hall: HallIdentity, range: ExportRange, sink: Writable, tuning: ExportTuning = {}): Promise<number> {
  const { pageRows } = { ...DEFAULTS, ...tuning };
  if (!Number.isInteger(pageRows) || pageRows < 1) throw new TypeError(`tuning.pageRows must be a positive integer, got ${pageRows}`);
  const format = FORMATS[range.format];
  if (!format) throw new TypeError(`range.format must be one of ${EXPORT_FORMATS.join(', ')}, got ${JSON.stringify(range.format)}`);
  const render = format.renderer(hall);

  let failure: Error | undefined;
  const onError = (error: Error) => (failure ??= new ExportAborted(`export aborted: ${error.message}`));
  const onClose = () => (failure ??= new ExportAborted('export aborted: the sink closed'));
  sink.on('error', onError);
  sink.on('close', onClose);
  try {
    let count = 0;
    let chunk = format.head;
    let after: string | undefined; // the time stamp the last page ended with
    for (;;) {
      if (failure) throw failure;
      const page = readPage(source, format, range, after, pageRows);
      for (const row of page.rows) {
        const text = render(row);
        if (text === undefined) continue;
        chunk += count === 0 ? format.first(text) : format.next(text);
        count++;
      }
      if (page.last === undefined) {
        await write(sink, chunk + (count === 0 ? format.empty : format.tail), () => failure);
        return count;
      }
      await write(sink, chunk, () => failure);
      chunk = '';
      after = page.last;
      await nextTurn(); // the hub's ingest and sync run between pages
    }
  } finally {
    sink.off('error', onError);
    sink.off('close', onClose);
  }
}

/**
 * One page: up to `pageRows` rows after the time stamp `after` (from the range's start for the
 * first), in the order of the export, `evaluatedAt` then `id`. SQLite reads them in the order of
 * the index on `evaluated_at`, with no sort; the rows of a time stamp shared by several (rare:
 * a millisecond) are put in id order here, and a page never ends inside such a group: the rows
 * of its last time stamp are read whole by a second query. `last` is that time stamp, or
 * undefined when the range is done.
 */
function readPage(source: ExportSource, format: Format, range: ExportRange, after: string | undefined, pageRows: number): { rows: unknown[]; last: string | undefined } {
  return source.read((db) => {
    const rows =
      after === undefined
        ? stmt(db, format.firstPage).raw(format.raw).all({ from: range.from, to: range.to, limit: pageRows })
        : stmt(db, format.nextPage).raw(format.raw).all({ after, to: range.to, limit: pageRows });
    if (rows.length < pageRows) return { rows: inIdOrder(rows, format), last: undefined };
    const last = format.at(rows[rows.length - 1]);
    let cut = rows.length;
    while (cut > 0 && format.at(rows[cut - 1]) === last) cut--;
    const ties = stmt(db, format.ties).raw(format.raw).all({ at: last });
    return { rows: inIdOrder(rows.slice(0, cut), format).concat(ties), last };
  });
}

/** Rows in `evaluatedAt` order with each group of equal time stamps sorted by id, as SQLite compares text (bytes). */
function inIdOrder(rows: unknown[], format: Format): unknown[] {
  for (let i = 0; i < rows.length; ) {
    const at = format.at(rows[i]);
    let j = i + 1;
    while (j < rows.length && format.at(rows[j]) === at) j++;
    if (j - i > 1) {
      const group = rows.slice(i, j).sort((x, y) => Buffer.compare(Buffer.from(format.id(x)), Buffer.from(format.id(y))));
      rows.splice(i, j - i, ...group);
    }
    i = j;
  }
  return rows;
}

/** The whole export as one string: for tests and small ranges (a year belongs in `writeExport`). */
export async function exportText(source: ExportSource, hall: HallIdentity, range: ExportRange, tuning: ExportTuning = {}): Promise<string> {
  const chunks: string[] = [];
  const sink = new Writable({
    decodeStrings: false,
    write(chunk: string, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  await writeExport(source, hall, range, sink, tuning);
  return chunks.join('');
}

/** Writes one chunk, waiting for `drain` when the sink's buffer is full. */
async function write(sink: Writable, chunk: string, failed: () => Error | undefined): Promise<void> {
  if (chunk === '') return;
  if (sink.destroyed || sink.writableEnded) throw failed() ?? new ExportAborted('export aborted: the sink closed');
  if (sink.write(chunk)) return;
  const ac = new AbortController();
  try {
    await Promise.race([once(sink, 'drain', { signal: ac.signal }), once(sink, 'close', { signal: ac.signal })]);
  } finally {
    ac.abort();
  }
  const failure = failed();
  if (failure) throw failure;
}

interface Format {
  /** The first page, the pages after a time stamp, the rows of one time stamp (`queries`). */
  firstPage: string;
  nextPage: string;
  ties: string;
  /** Raw rows (arrays) or objects. */
  raw: boolean;
  /** A row's `evaluated_at` and `id`. */
  at(row: unknown): string;
  id(row: unknown): string;
  head: string;
  first(text: string): string;
  next(text: string): string;
  tail: string;
  empty: string;
  /** One row's text, or undefined for a row the format leaves out. */
  renderer(hall: HallIdentity): (row: unknown) => string | undefined;
}

/**
 * The queries of a format reading `columns`: accepted, not superseded (a superseded level 0 is
 * kept for audit, never exported, PROTOCOL 1.3), in the range, through the index on
 * `evaluated_at` in its order (`readPage` orders the ties by id).
 */
function queries(columns: string): Pick<Format, 'firstPage' | 'nextPage' | 'ties'> {
  const select = `SELECT ${columns} FROM evaluations INDEXED BY evaluations_evaluated WHERE status = 'accepted' AND superseded_by IS NULL`;
  return {
    firstPage: `${select} AND evaluated_at >= @from AND evaluated_at < @to ORDER BY evaluated_at LIMIT @limit`,
    nextPage: `${select} AND evaluated_at > @after AND evaluated_at < @to ORDER BY evaluated_at LIMIT @limit`,
    ties: `${select} AND evaluated_at = @at ORDER BY id`,
  };
}

/** RFC 4180 cell: quoted when it holds a quote, comma or line end. */
const cell = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

/** A JSON array column (`reasons`, `flags`) as the csv joins it. */
const joined = (json: string) => (json === '[]' ? '' : (JSON.parse(json) as string[]).join(';'));

/** A `flags` JSON array holds `misuse` (parsed only when there are flags). */
const misused = (json: string) => json !== '[]' && (JSON.parse(json) as string[]).includes('misuse');

/** The national 满意度 and 满意度代码 of each level, as cells. */
const NATIONAL_LEVEL = LEVEL_NAMES.map((name, level) => `${cell(LEVEL_WORDS[name].zh)},${cell(levelToGbCode(level) ?? '')}`);
const NATIONAL_CHANNEL_CELL = Object.fromEntries(Object.entries(NATIONAL_CHANNEL).map(([k, v]) => [k, cell(v)])) as Record<string, string>;
const CSV_HEAD = `${CSV_COLUMNS.map(cell).join(',')}\r\n`;
const NATIONAL_HEAD = `${NATIONAL_COLUMNS.map(cell).join(',')}\r\n`;

const csvRows = {
  first: (text: string) => text,
  next: (text: string) => text,
  tail: '',
  empty: '',
};

const FORMATS: Record<ExportFormat, Format> = {
  gb39046: {
    // 0 txn_id, 1 channel, 2 evaluated_at, 3 level, 4 comment, 5 rating_no, 6 flags, 7 id
    ...queries('txn_id, channel, evaluated_at, level, comment, rating_no, flags, id'),
    raw: true,
    at: (row) => (row as unknown[])[2] as string,
    id: (row) => (row as unknown[])[7] as string,
    head: NATIONAL_HEAD,
    ...csvRows,
    renderer: (hall) => {
      const area = cell(hall.areaCode);
      return (raw) => {
        const row = raw as unknown[];
        // PROTOCOL 4.2: misuse-flagged records stay out of the national export
        if (misused(row[6] as string)) return undefined;
        const level = row[3] as number;
        const national = NATIONAL_LEVEL[level];
        const channel = NATIONAL_CHANNEL_CELL[row[1] as string];
        if (national === undefined || channel === undefined) throw new TypeError(`evaluation ${String(row[7])}: level ${level} or channel ${String(row[1])} has no national code`);
        // 办件编号, 评价渠道, 评价人 (empty), 评价时间, 评价次数, 满意度 and its code, 文字评价, 行政区划
        return `${cell((row[0] as string | null) ?? '')},${channel},,${cstStamp(row[2] as string)},${row[5] === 2 ? 2 : 1},${national},${cell(row[4] as string)},${area}\r\n`;
      };
    },
  },
  csv: {
    // the CSV_COLUMNS
    ...queries('id, channel, level, reasons, comment, txn_id, matter_code, matter_name, window_id, staff_id, staff_name, origin, evaluated_at, received_at, device_id, flags'),
    raw: true,
    at: (row) => (row as unknown[])[12] as string,
    id: (row) => (row as unknown[])[0] as string,
    head: CSV_HEAD,
    ...csvRows,
    renderer: () => (raw) => {
      const row = raw as unknown[];
      let line = '';
      for (let i = 0; i < 16; i++) {
        const v = row[i];
        const text = i === 3 || i === 15 ? joined(v as string) : v === null ? '' : String(v);
        line += i === 0 ? cell(text) : `,${cell(text)}`;
      }
      return `${line}\r\n`;
    },
  },
  json: {
    ...queries('*'),
    raw: false,
    at: (row) => (row as EvaluationRow).evaluated_at,
    id: (row) => (row as EvaluationRow).id,
    head: '',
    // `JSON.stringify(records, null, 2)`, one record at a time: each indented one level into the array
    first: (text) => `[\n  ${text}`,
    next: (text) => `,\n  ${text}`,
    tail: '\n]\n',
    empty: '[]\n',
    renderer: (hall) => (row) => {
      const e = rowToEvaluation(row as EvaluationRow, hall);
      return JSON.stringify({ ...e, contact: maskContact(e.contact) }, null, 2).replaceAll('\n', '\n  ');
    },
  },
};

/**
 * `toCstStamp` (YYYYMMDDThhmmss in China Standard Time) of a time the hub wrote
 * (`Date.toISOString`, `YYYY-MM-DDThh:mm:ss.sssZ`) by integer arithmetic on the digits when the
 * hour does not cross midnight in CST (16:00Z and later), else by `toCstStamp` itself.
 */
function cstStamp(iso: string): string {
  if (iso.length === 24 && iso.charCodeAt(23) === 90 /* Z */ && iso.charCodeAt(10) === 84 /* T */) {
    const tens = iso.charCodeAt(11) - 48;
    const ones = iso.charCodeAt(12) - 48;
    const hour = tens * 10 + ones;
    if (tens >= 0 && tens <= 2 && ones >= 0 && ones <= 9 && hour < 16) {
      const cst = hour + 8;
      return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${cst < 10 ? '0' : ''}${cst}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
    }
  }
  return toCstStamp(iso);
}
