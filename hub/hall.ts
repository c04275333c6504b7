/**
 * The hall: the configuration the platform pushes (PROTOCOL 3 `config`), kept in the
 * hall_config table and applied again at start; the public config tablets read (PROTOCOL 2);
 * and the handling deadlines of 差评 on the hall's working-day calendar (the configuration
 * file's `calendar`, PROTOCOL 6, with the pushed one over it). One set of handling defaults, here.
 */
import { DEFAULT_REASONS, isDissatisfied, isTopicSegment, type Evaluation, type HallConfig, type PublicConfig, type Settings } from '../protocol/index.js';
import { isoNow, type Clock } from './clock.js';
import type { HubConfig } from './config.js';
import { dueAt, mergeCalendars, type WorkCalendar } from './deadlines.js';
import type { WindowInfo } from './registry.js';
import type { Store } from './store.js';

/** Working days to handle a 差评 (DESIGN "Who uses it"): 2, or 10 when the matter is complex. */
export const HANDLING_DAYS = { normal: 2, complex: 10 } as const;
const NO_CALENDAR: WorkCalendar = { holidays: [], workdays: [] };

export interface HallDeps {
  store: Store;
  config: HubConfig;
  clock: Clock;
  /** The windows changed (a pushed config): the registry takes them. */
  setWindows(windows: WindowInfo[]): void;
  /** The public config changed: publish it to tablets. */
  publishPublicConfig(config: PublicConfig): void;
}

export class Hall {
  private pushed: HallConfig | undefined;

  constructor(private readonly deps: HallDeps) {}

  /** The windows of the configuration file, before any push. */
  configuredWindows(): WindowInfo[] {
    return this.deps.config.windows.map((w) => ({ id: w.id, name: w.name || w.id }));
  }

  /** The pushed config stored last, or undefined. */
  stored(): { version: number; config: HallConfig } | undefined {
    const row = this.deps.store.read((db) => db.prepare('SELECT version, config FROM hall_config ORDER BY version DESC LIMIT 1').get()) as { version: number; config: string } | undefined;
    return row ? { version: row.version, config: JSON.parse(row.config) as HallConfig } : undefined;
  }

  /** The version of the pushed config in effect. */
  configVersion(): number | null {
    return this.deps.store.read((db) => (db.prepare('SELECT MAX(version) AS v FROM hall_config').get() as { v: number | null }).v);
  }

  /**
   * A configuration pushed by the platform, already schema-checked: checked for consistency,
   * applied whole and stored, or refused whole by throwing (the previous one stays).
   */
  async applyPushed(config: HallConfig): Promise<void> {
    this.check(config);
    this.use(config);
    await this.deps.store.submit((db) => db.prepare('INSERT INTO hall_config (version, received_at, config) VALUES (?, ?, ?)').run(config.version, isoNow(this.deps.clock), JSON.stringify(config)));
  }

  /** At start: the configuration the platform last pushed stays in effect across restarts. */
  applyStored(): void {
    const stored = this.stored();
    if (!stored) return;
    this.check(stored.config);
    this.use(stored.config);
  }

  /** Settings the platform pushed for evaluators without a technician's own. */
  pushedSettings(): Partial<Settings> | undefined {
    const settings = this.pushed?.settings;
    return settings ? (Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as Partial<Settings>) : undefined;
  }

  private check(config: HallConfig): void {
    const windowIds = new Set(config.windows.map((w) => w.id));
    for (const w of config.windows) if (!isTopicSegment(w.id)) throw new Error(`window id ${JSON.stringify(w.id)} cannot be a topic segment`);
    for (const s of config.staff) if (s.windowId && !windowIds.has(s.windowId)) throw new Error(`staff ${s.id} is at window ${s.windowId}, which the config does not list`);
  }

  private use(config: HallConfig): void {
    this.pushed = config;
    this.deps.setWindows(this.windows());
    this.deps.publishPublicConfig(this.publicConfig());
  }

  hallName(): string {
    return this.pushed?.hallName ?? this.deps.config.hallName;
  }

  complaintPhone(): string {
    return this.pushed?.complaintPhone ?? this.deps.config.complaintPhone;
  }

  handlingDays(): { normal: number; complex: number } {
    return this.pushed?.handlingDays ?? { ...HANDLING_DAYS };
  }

  /** Adjusted working days and holidays: the configuration file's, and the platform's over them. */
  calendar(): WorkCalendar {
    return mergeCalendars(this.deps.config.calendar ?? NO_CALENDAR, this.pushed?.calendar);
  }

  staff(): HallConfig['staff'] {
    return this.pushed?.staff ?? [];
  }

  isComplex(matterCode: string | null | undefined): boolean {
    return !!(matterCode && this.pushed?.matters.find((m) => m.code === matterCode)?.complex);
  }

  /**
   * A 差评's handling deadline (PROTOCOL 3 `alerts`): the end of the 2nd working day after
   * receipt, the 10th when the matter is complex in the pushed catalogue or a handler marked it so.
   */
  deadline(e: Pick<Evaluation, 'matterCode' | 'receivedAt'>, markedComplex = false): { complex: boolean; deadlineAt: string } {
    const complex = markedComplex || this.isComplex(e.matterCode);
    const days = this.handlingDays();
    return { complex, deadlineAt: dueAt(e.receivedAt, complex ? days.complex : days.normal, this.calendar()) };
  }

  /**
   * The deadline by the matter catalogue alone, as `dueAt` (the monthly report reads it);
   * `Handling.deadlineOf` also counts a handler's complex mark.
   */
  deadlineOf(e: Pick<Evaluation, 'level' | 'matterCode' | 'receivedAt'>): { complex?: boolean; dueAt?: string } {
    if (!isDissatisfied(e.level)) return {};
    const { complex, deadlineAt } = this.deadline(e);
    return { complex, dueAt: deadlineAt };
  }

  /** What tablets read on `hall/{hallId}/public/config` (PROTOCOL 2). */
  publicConfig(windows: WindowInfo[] = this.windows()): PublicConfig {
    return {
      hallId: this.deps.config.hallId,
      hallName: this.hallName(),
      windows,
      reasons: this.pushed?.reasons.length ? this.pushed.reasons : [...DEFAULT_REASONS],
      complaintPhone: this.complaintPhone(),
      languages: ['zh-CN', 'en'],
      settings: { inactivityS: 60, thanksS: 5 },
    };
  }

  /** The configuration file's windows and the pushed ones (a pushed name wins). */
  windows(): WindowInfo[] {
    const all = new Map(this.configuredWindows().map((w) => [w.id, w]));
    for (const w of this.pushed?.windows ?? []) all.set(w.id, { id: w.id, name: w.name });
    return [...all.values()];
  }
}
