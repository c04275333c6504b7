/**
 * Handling deadlines of 差评 (DESIGN: handled within 2 working days, complex ones 10), counted
 * on the working-day calendar of the hall configuration: Monday to Friday, minus official
 * holidays, plus make-up working days (调休), in China Standard Time.
 */
export interface WorkCalendar {
  /** YYYY-MM-DD days off that would otherwise be working days. */
  holidays: readonly string[];
  /** YYYY-MM-DD weekend days that are working days. */
  workdays: readonly string[];
}

const CST = 8 * 3600_000;
const DAY = 86_400_000;
/** Calendar days searched for working days at most (a year of holidays would be absurd). */
const GUARD_DAYS = 400;

function cstDate(ms: number): string {
  return new Date(ms + CST).toISOString().slice(0, 10);
}

/** 24:00 China Standard Time at the end of a YYYY-MM-DD day, as epoch ms. */
function endOfDay(day: string): number {
  return Date.parse(`${day}T00:00:00Z`) - CST + DAY;
}

/**
 * The configuration file's calendar with the platform's pushed one over it: a day the push
 * names is what the push says; the file's other days stay.
 */
export function mergeCalendars(file: WorkCalendar, pushed: WorkCalendar | undefined): WorkCalendar {
  if (!pushed) return file;
  const named = new Set([...pushed.holidays, ...pushed.workdays]);
  return {
    holidays: [...pushed.holidays, ...file.holidays.filter((d) => !named.has(d))],
    workdays: [...pushed.workdays, ...file.workdays.filter((d) => !named.has(d))],
  };
}

export function isWorkingDay(day: string, calendar: WorkCalendar): boolean {
  if (calendar.holidays.includes(day)) return false;
  if (calendar.workdays.includes(day)) return true;
  const weekday = new Date(`${day}T00:00:00Z`).getUTCDay();
  return weekday !== 0 && weekday !== 6;
}

/**
 * The deadline `days` working days after `fromIso`: the end (24:00 CST) of the `days`-th
 * working day after the day of receipt, the day of receipt not counted.
 */
export function dueAt(fromIso: string, days: number, calendar: WorkCalendar): string {
  let ms = Date.parse(fromIso);
  if (Number.isNaN(ms)) throw new TypeError(`fromIso must be an ISO time, got ${JSON.stringify(fromIso)}`);
  let counted = 0;
  let day = cstDate(ms);
  for (let guard = 0; counted < days && guard < GUARD_DAYS; guard++) {
    ms += DAY;
    day = cstDate(ms);
    if (isWorkingDay(day, calendar)) counted++;
  }
  return new Date(endOfDay(day)).toISOString();
}

/**
 * The end (24:00 CST) of the working day `atIso` falls in, or of the next working day when it
 * falls on a day off: when one more working day will have passed (督办 once per working day).
 */
export function workdayEndAfter(atIso: string, calendar: WorkCalendar): string {
  const ms = Date.parse(atIso);
  if (Number.isNaN(ms)) throw new TypeError(`atIso must be an ISO time, got ${JSON.stringify(atIso)}`);
  let day = cstDate(ms);
  for (let guard = 0; !isWorkingDay(day, calendar) && guard < GUARD_DAYS; guard++) day = cstDate(endOfDay(day));
  return new Date(endOfDay(day)).toISOString();
}
