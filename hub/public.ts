/**
 * 结果全公开: the hall's public big screen (PROTOCOL 5 [r2] `GET /public`) and its data,
 * `GET /api/public`, open to anyone on the hall's network. Satisfaction today and this month,
 * per window with the clerk on duty, and how the hall handles its 差评. Only counts and rates:
 * never a contact, a comment or an evaluation id (the answer is built from aggregates, field
 * by field, never from a record).
 *
 * The rates are the statistics' own (`stats` in evaluations.ts: refused and misuse-flagged
 * ratings do not count). The handling figures fold each 差评's steps as the 差评 loop does
 * (handling.ts): a 差评 is open until a step closes it (`resolved`, or the citizen's second
 * rating), overdue when open past its deadline, and handled on time when closed by its deadline.
 */
import type { PublicAnswer, PublicPeriod, StatRow } from '../protocol/api.js';
import type { Clock } from './clock.js';
import { stats } from './evaluations.js';
import { foldSteps, type StepFact } from './handling.js';
import type { Hall } from './hall.js';
import { HttpError, type Route } from './http.js';
import type { Registry } from './registry.js';
import type { Db, Store } from './store.js';

export interface PublicBoardDeps {
  store: Store;
  hall: Pick<Hall, 'hallName' | 'deadline'>;
  registry: Pick<Registry, 'windows' | 'staffAt'>;
  clock: Clock;
  /** How long one computed answer is served again, ms (a screen polls; anyone may call). Default 2000. */
  cacheMs?: number;
}

const DEFAULTS = { cacheMs: 2000 } as const;
const HOUR = 3_600_000;
/** China Standard Time, UTC+8 all year: the hall's days and months. */
const CST = 8 * HOUR;

/** The windows' figures: today's (the default) or this month's (`?period=month`, an extension). */
export type WindowPeriod = 'today' | 'month';

/** Midnight (China time) starting the day and the month of `now`, and the next midnight, as ISO instants. */
export function periodsOf(now: number): { dayStart: string; monthStart: string; dayEnd: string } {
  const day = new Date(now + CST).toISOString().slice(0, 10);
  const dayStart = Date.parse(`${day}T00:00:00+08:00`);
  return {
    dayStart: new Date(dayStart).toISOString(),
    monthStart: new Date(Date.parse(`${day.slice(0, 7)}-01T00:00:00+08:00`)).toISOString(),
    dayEnd: new Date(dayStart + 24 * HOUR).toISOString(),
  };
}

/** Share of ratings at 基本满意 or better, as the statistics round it; null with none. */
const rateOf = (rated: number, dissatisfied: number) => (rated ? Number(((rated - dissatisfied) / rated).toFixed(4)) : null);

/** The totals of grouped statistics. */
export function totalOf(rows: readonly StatRow[]): PublicPeriod {
  let rated = 0;
  let dissatisfied = 0;
  for (const r of rows) {
    rated += r.rated;
    dissatisfied += r.dissatisfied;
  }
  return { rated, satisfactionRate: rateOf(rated, dissatisfied), dissatisfied };
}

/** One 差评 as the handling figures need it. */
export interface LoopFacts {
  deadlineAt: string;
  /** When a step closed it; null while open. */
  closedAt: string | null;
  /** Received this month: counts towards the on-time rate. */
  thisMonth: boolean;
}

/**
 * Open and overdue count every open 差评 however old; the on-time rate is over this month's
 * 差评 whose outcome is known (closed, or open past the deadline), null when there is none.
 */
export function handlingOf(loops: readonly LoopFacts[], now: number): PublicAnswer['handling'] {
  let open = 0;
  let overdue = 0;
  let decided = 0;
  let onTime = 0;
  for (const l of loops) {
    const deadline = Date.parse(l.deadlineAt);
    if (l.closedAt === null) {
      open++;
      if (now >= deadline) overdue++;
    }
    if (!l.thisMonth) continue;
    if (l.closedAt !== null) {
      decided++;
      if (Date.parse(l.closedAt) <= deadline) onTime++;
    } else if (now >= deadline) decided++;
  }
  return { open, overdue, onTimeRate: decided ? Number((onTime / decided).toFixed(4)) : null };
}

/** The first ratings that are 差评 (a re-rating is no new 差评), open ones however old and this month's. */
const LOOPS_SQL = `SELECT id, matter_code AS matterCode, received_at AS receivedAt FROM evaluations e
  WHERE dissatisfied = 1 AND rating_no = 1
    AND (received_at >= ? OR NOT EXISTS (SELECT 1 FROM handling h WHERE h.evaluation_id = e.id AND h.step IN ('resolved', 're-rated')))`;

export class PublicBoard {
  private readonly options: Required<Pick<PublicBoardDeps, 'cacheMs'>>;
  private readonly cached = new Map<WindowPeriod, { at: number; answer: PublicAnswer }>();

  constructor(private readonly deps: PublicBoardDeps) {
    this.options = { ...DEFAULTS, ...(deps.cacheMs === undefined ? {} : { cacheMs: deps.cacheMs }) };
  }

  /** The answer of `GET /api/public`, computed at most once per `cacheMs` per period. */
  answer(period: WindowPeriod = 'today'): PublicAnswer {
    const now = this.deps.clock.now();
    const hit = this.cached.get(period);
    if (hit && now - hit.at < this.options.cacheMs && now >= hit.at) return hit.answer;
    const answer = this.compute(now, period);
    this.cached.set(period, { at: now, answer });
    return answer;
  }

  private compute(now: number, period: WindowPeriod): PublicAnswer {
    const { dayStart, monthStart, dayEnd } = periodsOf(now);
    const { registry, hall } = this.deps;
    return this.deps.store.read((db) => {
      const today = stats(db, { from: dayStart, to: dayEnd, by: 'window' });
      const month = stats(db, { from: monthStart, to: dayEnd, by: 'window' });
      const byWindow = new Map((period === 'month' ? month : today).map((r) => [r.key, r]));
      const windows = [...registry.windows.values()].map((w) => {
        const row = byWindow.get(w.id);
        const staff = registry.staffAt(w.id);
        return {
          windowId: w.id,
          name: w.name,
          // the clerk at the window now; nobody when the window is closed
          staffName: staff.duty === 'off' ? '' : staff.staffName,
          rated: row?.rated ?? 0,
          satisfactionRate: row?.satisfactionRate ?? null,
        };
      });
      return {
        hallName: hall.hallName(),
        updatedAt: new Date(now).toISOString(),
        today: totalOf(today),
        month: totalOf(month),
        windows,
        handling: handlingOf(this.loops(db, monthStart), now),
      };
    });
  }

  private loops(db: Db, monthStart: string): LoopFacts[] {
    const rows = db.prepare(LOOPS_SQL).all(monthStart) as { id: string; matterCode: string | null; receivedAt: string }[];
    // `SELECT *`: the handler's complex mark is a column of newer stores only
    const steps = db.prepare('SELECT * FROM handling WHERE evaluation_id = ? ORDER BY id');
    return rows.map((e) => {
      const facts = (steps.all(e.id) as { step: string; at: string; complex?: number }[]).map((s): StepFact => ({ step: s.step, at: s.at, complex: s.complex === 1 }));
      const state = foldSteps(facts);
      return { deadlineAt: this.deps.hall.deadline(e, state.markedComplex).deadlineAt, closedAt: state.closedAt, thisMonth: e.receivedAt >= monthStart };
    });
  }

  /** `GET /api/public` (anyone, PROTOCOL 5 [r2]). */
  routes(): Route[] {
    return [
      {
        method: 'GET',
        pattern: /^\/api\/public$/,
        who: 'anyone',
        handler: async ({ url }) => {
          const given = url.searchParams.get('period') ?? 'today';
          if (given !== 'today' && given !== 'month') throw new HttpError(400, 'invalid-field', `period: expected today or month, got ${JSON.stringify(given)}`);
          return { body: this.answer(given) };
        },
      },
    ];
  }
}
