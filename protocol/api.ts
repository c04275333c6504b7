/**
 * The hub's HTTP answers (PROTOCOL 5) and the dashboard's live MQTT payloads, as types: what
 * `hub/http.ts` sends today and what the pages in `kiosk-ui/pages/` read. Types only, so a
 * browser page imports them for nothing. When the hub annotates its views with these, a
 * renamed field fails the pages' build instead of showing an empty cell.
 *
 * Every answer is JSON; times are ISO-8601 strings; a failure is `ApiErrorBody` with a
 * 4xx/5xx status.
 */
import type { AnyHandlingStep, DeviceStateName, DutyName, HandlingStepName, ServiceEventName, STAT_GROUP_NAMES }  from './constants.js';
import type { DropReason } from './frame.js';
import type { Settings } from './messages.js';
import type { DashboardLeaf } from './topics.js';
import type { Evaluation, HallConfig } from './schemas.js';

/** Every failure (PROTOCOL 5): a stable `code` to tell errors apart, and words for a person. */
export interface ApiErrorBody {
  error: { code: string; message: string };
}

/** `GET /api/health` (anyone). */
export interface Health {
  ok: boolean;
  hallId: string;
  version: string;
  uptimeS: number;
  /** Evaluations not yet confirmed by the platform: pending + sent. */
  backlog: number;
  platformConnected: boolean;
  /** Paired devices, and how many of them are online. */
  devices: { online: number; total: number };
}

export type DeviceKind = 'evaluator' | 'tablet';

/** Link counters of an evaluator with an open port (`DeviceListItem.link`). */
export interface LinkCounters {
  framesIn: number;
  framesOut: number;
  /** Frames dropped by the decoder, by reason (PROTOCOL 1.1). */
  drops: Record<DropReason, number>;
  /** Frames refused with NACK. */
  refused: number;
  retransmits: number;
}

/** One device of `GET /api/devices`: evaluators and tablets, paired and pending. */
export interface DeviceListItem {
  deviceId: string;
  kind: DeviceKind;
  paired: boolean;
  windowId: string | null;
  online: boolean;
  model: string;
  fwVersion: string;
  /** The last STATE by name (a `DeviceStateName`); null before the first. */
  state: DeviceStateName | (string & {}) | null;
  queued: number | null;
  lastSeenAt: string | null;
  /** Dropped and refused frames, resynchronisation after an open not counted. */
  linkErrors: number;
  /** Evaluators only: the settings a technician or the platform set, null for the factory ones. */
  settings?: Settings | null;
  /**
   * Evaluators that have reported a self-test (EVENT 4): the latest result, when the hub stored
   * it, and the parts that failed, empty when all passed. Parts: `led1`..`led5` (the buttons'
   * LEDs), `status` (the status LED), `buzzer`; `bit{n}` for a bit the hub does not know.
   */
  selfTest?: { at: string; failed: string[] };
  /** Evaluators with an open port only. */
  link?: LinkCounters;
  /**
   * [r2] A second device said HELLO with this id while it was online on another port: the port
   * of the first. The second gets no WELCOME (PROTOCOL 1.3) until the technician resolves it.
   */
  conflict?: string;
}

/** `GET /api/devices`. */
export interface DeviceList {
  devices: DeviceListItem[];
}

/** `POST /api/devices/{deviceId}/pair` body. */
export interface PairRequest {
  windowId: string;
  /** Default: what the hub knows the device as, or a tablet. */
  kind?: DeviceKind;
}

/** `POST /api/devices/{deviceId}/pair`: a tablet's token is in the answer, once. */
export interface PairAnswer {
  deviceId: string;
  windowId: string;
  kind: DeviceKind;
  token?: string;
}

/** `DELETE /api/devices/{deviceId}/pair`. */
export interface UnpairAnswer {
  deviceId: string;
  paired: false;
}

/** `PUT /api/devices/{deviceId}/settings`: `delivered` false when the evaluator is offline (it gets them on WELCOME). */
export interface SettingsAnswer {
  deviceId: string;
  settings: Settings;
  delivered: boolean;
}

/** `POST /api/devices/{deviceId}/self-test` (202). */
export interface SelfTestAnswer {
  deviceId: string;
  delivered: boolean;
}

/** `POST /api/windows/{windowId}/service` body (PROTOCOL 5). */
export interface ServiceRequest {
  event: ServiceEventName;
  txnId: string;
  matterCode?: string;
  matterName?: string;
}

/** `POST /api/windows/{windowId}/service` (202). */
export interface ServiceAnswer {
  accepted: true;
  windowId: string;
  txnId: string;
  event: ServiceEventName;
}

/** `PUT /api/windows/{windowId}/staff` body (PROTOCOL 5). */
export interface StaffRequest {
  duty: DutyName;
  staffId?: string;
  staffName?: string;
  staffTitle?: string;
}

/** `PUT /api/windows/{windowId}/staff`: who is now at the window. */
export interface StaffAnswer {
  windowId: string;
  duty: DutyName;
  staffId: string;
  staffName: string;
  staffTitle: string;
}

/** Catch-up progress of the platform sync, in a technician's words (English). */
export interface SyncProgress {
  backlog: number;
  /** Confirmations per second over the last minute. */
  ratePerS: number;
  /** Seconds to an empty backlog at that rate; null while nothing is being confirmed. */
  etaS: number | null;
  words: string;
}

/** `GET /api/sync`. */
export interface SyncSummary {
  /** Evaluations by sync state; `notSynced` are kept only locally (refused second ratings). */
  backlog: { pending: number; sent: number; confirmed: number; rejected: number; notSynced: number };
  oldestUnsyncedAt: string | null;
  lastPubackAt: string | null;
  lastReceiptAt: string | null;
  platformConnected: boolean;
  /** The platform's URL; null when none is configured. */
  platform: string | null;
  /** Why the platform refused the hub (credentials, an ACL), if it did. */
  refusal: string | null;
  /** The configuration the platform last pushed: its version, or why it was refused. */
  config: { version: number | null; error: string | null };
  /** Free disk space is below the floor: new ratings are refused, devices keep them. */
  storageLow: boolean;
  progress: SyncProgress;
  /** [r2] The SMS follow-up's modem and outbox (PROTOCOL 7), when `sms` is configured. */
  sms?: SmsStatus;
}

/** [r2] The SMS follow-up (PROTOCOL 7) as the technician sees it; also `GET /api/sms`. */
export interface SmsStatus {
  /** The modem: `ready`; `opening`; `closed` (unplugged, reopened with a backoff); `faulty` (answered ERROR or nothing, reopened later). */
  state: 'closed' | 'opening' | 'ready' | 'faulty';
  /** `sms.modem.path`. */
  port: string;
  /** The latest `AT+CSQ`: rssi 0..31 (99 unknown) and what it means in dBm (null for unknown). */
  signal: { rssi: number; dbm: number | null; at: string } | null;
  lastError: { message: string; at: string } | null;
  /** Messages waiting to go out (quiet hours, the modem away, retries after +CMS ERROR). */
  outbox: number;
  /** Messages the modem confirmed (`+CMGS`). */
  sent: number;
  /** Replies read from the SIM. */
  received: number;
  /** Replies ignored: from a number with no open invitation, or text that follows no rating. */
  ignored: number;
  /** Messages in flight at a stop or an unplug after Ctrl-Z: they may have gone out and are never sent again. */
  uncertain: number;
  /** Messages given up: an invitation not sent within the reply window. */
  failed: number;
}

/** `GET /api/stats?by=`: `hour` is an extension (China time, `YYYY-MM-DDTHH:00`) for the dashboard's chart. */
export type StatGroup = (typeof STAT_GROUP_NAMES)[number];

/** One group of `GET /api/stats`. */
export interface StatRow {
  /** The window, staff or matter id, channel, or hour; null for ratings without one. */
  key: string | null;
  /** The staff or matter name, when grouped by those; else null. */
  name: string | null;
  /** Ratings per level 1..5 (level 0 is `notEvaluated`). */
  levels: Record<'1' | '2' | '3' | '4' | '5', number>;
  rated: number;
  notEvaluated: number;
  /** 差评: level 1 or 2. */
  dissatisfied: number;
  /** Share of ratings at 基本满意 or better, 0..1; null with no ratings. */
  satisfactionRate: number | null;
  /** Misuse-flagged ratings left out (unless `includeMisuse=true`). */
  misuseExcluded: number;
}

/** `GET /api/stats`. */
export interface StatsAnswer {
  from: string;
  to: string;
  by: StatGroup;
  groups: StatRow[];
}

/** One evaluation of `GET /api/evaluations`: the record, `contact` masked, with its state at the hub. */
export interface ListedEvaluation extends Evaluation {
  /** `accepted`, or `refused` (a second rating of a transaction, kept for audit). */
  status: string;
  refusal: string | null;
  /** `pending`, `sent`, `confirmed`, `rejected`, or `local` (never synced). */
  syncState: string;
}

/** `GET /api/evaluations`, newest first. */
export interface EvaluationList {
  evaluations: ListedEvaluation[];
}

/** A step recorded in handling a 差评 (PROTOCOL 3 `handling`, 5). */
export interface HandlingRecord {
  /** `{evaluationId}#{n}`: the id the platform's receipt lists. */
  stepId: string;
  /** A `HandlingStepName`, one the hub adds itself (`escalated`, `re-rated`), or a newer hub's. */
  step: AnyHandlingStep | (string & {});
  at: string;
  /** The person's name; `hub` for the steps the hub makes. */
  by: string | null;
  note: string | null;
}

/**
 * Where a 差评's loop stands: `new` (no step yet), `working` (acknowledged, being called back or
 * handed over), `rectified` (rectified or settled on the spot), `fed-back` (the citizen was told
 * the outcome), `resolved` or `re-rated` (closed).
 */
export type LoopPhase = 'new' | 'working' | 'rectified' | 'fed-back' | 'resolved' | 're-rated';

/** One 差评 of `GET /api/dissatisfied`, `contact` masked. */
export interface DissatisfiedItem {
  evaluation: Evaluation;
  /** The matter is complex (the catalogue says so, or a handler marked it): 10 working days instead of 2. */
  complex: boolean;
  /** End of the handling time: 24:00 China Standard Time of the 2nd (10th) working day after receipt. */
  deadlineAt: string;
  /** `deadlineAt` has passed with the loop still open: escalated (督办). */
  overdue: boolean;
  handling: HandlingRecord[];
  phase: LoopPhase;
  /** The steps a person may record now, in `HANDLING_STEPS` order; empty once closed. */
  next: HandlingStepName[];
  /** A 评价次数 2 may be recorded now (`POST /api/evaluations/{id}/re-rating`). */
  reRatable: boolean;
  /** The loop is closed: `resolved`, or the citizen's second rating arrived. */
  resolved: boolean;
}

/** `GET /api/dissatisfied`: open ones however old, and recent ones. */
export interface DissatisfiedList {
  dissatisfied: DissatisfiedItem[];
}

/** `POST /api/evaluations/{id}/handling` body; `by` is the caller's name, whatever a body says. */
export interface HandlingRequest {
  step: HandlingStepName;
  note?: string;
  /** The handler finds the matter complex: the deadline becomes 10 working days. */
  complex?: boolean;
}

/** `POST /api/evaluations/{id}/handling` (201): the step as recorded and where the loop stands. */
export interface HandlingAnswer {
  evaluationId: string;
  stepId: string;
  step: HandlingStepName;
  at: string;
  by: string;
  note: string | null;
  deadlineAt: string;
  complex: boolean;
  phase: LoopPhase;
}

/** `POST /api/evaluations/{id}/re-rating` body: what the citizen said on the phone (评价次数 2). */
export interface ReRatingRequest {
  level: 1 | 2 | 3 | 4 | 5;
  reasons?: string[];
  comment?: string;
}

/** `POST /api/evaluations/{id}/re-rating` (201): the second rating `RE-{id}` and the step `re-rated`. */
export interface ReRatingAnswer {
  evaluation: Evaluation;
  step: HandlingRecord;
}

/** One row of `GET /api/audit`, newest first. */
export interface AuditRow {
  at: string;
  actor: string;
  /** e.g. `pair`, `unpair`, `settings`, `self-test`, `handling`, `staff`. */
  action: string;
  detail: unknown;
}

/** `GET /api/audit`. */
export interface AuditList {
  audit: AuditRow[];
}

/** A tablet's suggestion (意见建议), as the dashboard lists it. */
export interface Suggestion {
  tabletId: string;
  text: string;
  at: string;
}

/** `GET /api/suggestions`, newest first. */
export interface SuggestionList {
  suggestions: Suggestion[];
}

/** What a tablet publishes on `hall/{hallId}/tablets/{tabletId}/suggestions`. */
export interface TabletSuggestion {
  /** At most 500 characters. */
  text: string;
  /** A mainland mobile number, for a call-back. */
  contact?: string;
}

/** `GET /api/hall`: what the dashboard and technician pages need to know about the hall. */
export interface HallInfo {
  hallId: string;
  hallName: string;
  windows: { id: string; name: string }[];
  staff: HallConfig['staff'];
  handlingDays: NonNullable<HallConfig['handlingDays']>;
  /** Exceptions to Monday-Friday: official holidays and make-up working days (调休), YYYY-MM-DD. */
  calendar: { holidays: readonly string[]; workdays: readonly string[] };
  complaintPhone: string;
}

/** `hall/{hallId}/dashboard/evaluation`: a committed evaluation, `contact` masked, a 差评 with its deadline. */
export type DashboardEvaluation = Evaluation & { complex?: boolean; deadlineAt?: string };

/** `hall/{hallId}/dashboard/handling`: a step just recorded (by a person or by the hub). */
export interface DashboardHandling {
  evaluationId: string;
  stepId: string;
  step: AnyHandlingStep | (string & {});
  at: string;
  by: string | null;
  note: string | null;
  deadlineAt: string;
}

/** The payload of each dashboard topic (`hallTopics.dashboard(hallId, leaf)`). */
export interface DashboardPayload {
  evaluation: DashboardEvaluation;
  handling: DashboardHandling;
  suggestion: Suggestion;
}

/** The payload of one dashboard topic; fails to compile when a leaf has no payload type above. */
export type DashboardPayloadOf<L extends DashboardLeaf> = DashboardPayload[L];

/** One period of `GET /api/public`: ratings, the share at 基本满意 or better (0..1, null with none), 差评. */
export interface PublicPeriod {
  rated: number;
  satisfactionRate: number | null;
  dissatisfied: number;
}

/** One window of `GET /api/public`, with the clerk on duty now ('' when the window is closed). */
export interface PublicWindow {
  windowId: string;
  name: string;
  staffName: string;
  rated: number;
  satisfactionRate: number | null;
}

/**
 * [r2] `GET /api/public` (anyone, no token): the hall's big screen (结果全公开). Counts and rates
 * only, never a contact, a comment or an evaluation id. Days and months in China time. `windows`
 * are today's figures; with `?period=month` (an extension) this month's.
 */
export interface PublicAnswer {
  hallName: string;
  updatedAt: string;
  today: PublicPeriod;
  month: PublicPeriod;
  windows: PublicWindow[];
  /** Open 差评 however old, the open ones past their deadline, and the share of this month's closed by their deadline. */
  handling: { open: number; overdue: number; onTimeRate: number | null };
}
