/**
 * Named values of PROTOCOL 1.3, and the names the JSON side (PROTOCOL 2-5) gives them. Wire
 * numbers appear only here. Pure data: the browser pages import this file too.
 */

export const MessageType = {
  HELLO: 0x01,
  WELCOME: 0x02,
  PING: 0x03,
  PONG: 0x04,
  STATE: 0x05,
  SERVICE: 0x10,
  STAFF: 0x11,
  SETTINGS: 0x12,
  /** Extension of PROTOCOL 1.3: run the self-test now (technician page); answered by EVENT 4. */
  SELF_TEST: 0x13,
  /** PROTOCOL 1.3 [r2]: the hub's own health (flags), after WELCOME and on change; unreliable. */
  HUB_STATE: 0x14,
  EVAL: 0x20,
  EVENT: 0x21,
  ACK: 0x30,
  NACK: 0x31,
} as const;
export type MessageName = keyof typeof MessageType;
export const MESSAGE_NAMES = Object.keys(MessageType) as MessageName[];

const NAME_BY_TYPE = new Map<number, MessageName>(MESSAGE_NAMES.map((name) => [MessageType[name], name]));
export function messageName(type: number): MessageName | undefined {
  return NAME_BY_TYPE.get(type);
}

/** Messages that carry a non-zero seq and are answered with ACK (PROTOCOL 1.3). */
export const RELIABLE: ReadonlySet<MessageName> = new Set(['SERVICE', 'STAFF', 'SETTINGS', 'SELF_TEST', 'EVAL', 'EVENT']);

/** Who sends each message. */
export const DIRECTION: Readonly<Record<MessageName, 'device' | 'hub' | 'either'>> = {
  HELLO: 'device',
  WELCOME: 'hub',
  PING: 'either',
  PONG: 'either',
  STATE: 'device',
  SERVICE: 'hub',
  STAFF: 'hub',
  SETTINGS: 'hub',
  SELF_TEST: 'hub',
  HUB_STATE: 'hub',
  EVAL: 'device',
  EVENT: 'device',
  ACK: 'either',
  NACK: 'either',
};

/** HUB_STATE.flags (PROTOCOL 1.3 [r2]). */
export const HubStateFlag = { STORAGE_UNAVAILABLE: 1 << 0, PLATFORM_UNREACHABLE: 1 << 1 } as const;

export const AckStatus = { OK: 0, DUPLICATE: 1, REJECTED: 2 } as const;
export type AckStatus = (typeof AckStatus)[keyof typeof AckStatus];

/** ACK reasons, meaningful with status REJECTED. */
export const AckReason = {
  NONE: 0,
  /** 一事一评: the transaction already has a rating. The device drops the message. */
  ALREADY_EVALUATED: 1,
  /** A field the hub cannot accept. The device drops the message. */
  INVALID_FIELD: 2,
  /** The device is not paired to a window. The device keeps the message and retries. */
  NOT_PAIRED: 3,
  /** The hub cannot store right now. The device keeps the message and retries. */
  STORAGE_UNAVAILABLE: 4,
} as const;
export type AckReason = (typeof AckReason)[keyof typeof AckReason];

/** Whether a device keeps a message after this ACK, to send it again later (PROTOCOL 1.3). */
export function ackKeepsMessage(status: number, reason: number): boolean {
  return status === AckStatus.REJECTED && (reason === AckReason.NOT_PAIRED || reason === AckReason.STORAGE_UNAVAILABLE);
}

export const NackReason = { UNKNOWN_TYPE: 1, BAD_PAYLOAD: 2, UNSUPPORTED_VERSION: 3, NO_SESSION: 4 } as const;
export type NackReason = (typeof NackReason)[keyof typeof NackReason];

export const DeviceState = { BOOT: 0, IDLE: 1, PROMPT: 2, THANKS: 3, PAUSED: 4, CONFIG: 5, FAULT: 6, SIGNED_OUT: 7 } as const;
export type DeviceState = (typeof DeviceState)[keyof typeof DeviceState];

export const EventCode = {
  BUTTON_STUCK: 1,
  CONFIG_ENTERED: 2,
  CONFIG_LEFT: 3,
  SELF_TEST: 4,
  QUEUE_NEAR_FULL: 5,
  BOOT: 6,
  INVITE_PRESSED: 7,
} as const;
export type EventCode = (typeof EventCode)[keyof typeof EventCode];

/** Bits of HELLO.capabilities. */
export const Capability = {
  FIVE_BUTTONS: 1 << 0,
  BUTTON_LEDS: 1 << 1,
  BUZZER: 1 << 2,
  DISPLAY: 1 << 3,
  VOICE: 1 << 4,
  INVITE_KEY: 1 << 5,
} as const;

export const ServiceEvent = { STARTED: 1, DONE: 2, CANCELLED: 3 } as const;
export type ServiceEvent = (typeof ServiceEvent)[keyof typeof ServiceEvent];

export const Duty = { SIGNED_OUT: 0, ON_DUTY: 1, PAUSED: 2 } as const;
export type Duty = (typeof Duty)[keyof typeof Duty];

/** EVAL.level. 0 is "not evaluated" (prompt timed out), never a rating. 差评 = 1 or 2. */
export const Level = {
  NOT_EVALUATED: 0,
  VERY_DISSATISFIED: 1,
  DISSATISFIED: 2,
  BASICALLY_SATISFIED: 3,
  SATISFIED: 4,
  VERY_SATISFIED: 5,
} as const;
export type Level = (typeof Level)[keyof typeof Level];

/** 差评: a level-1 or level-2 rating, to be handled within days. */
export function isDissatisfied(level: number): boolean {
  return level === Level.VERY_DISSATISFIED || level === Level.DISSATISFIED;
}

export const Origin = { PROMPTED: 1, INVITED: 2, UNSOLICITED: 3 } as const;
export type Origin = (typeof Origin)[keyof typeof Origin];

export const Language = { ZH_CN: 0, EN: 1 } as const;
export type Language = (typeof Language)[keyof typeof Language];

/** Bits of settings.flags. */
export const SettingsFlag = { ACCEPT_UNSOLICITED: 1 << 0, VOICE_PROMPTS: 1 << 1 } as const;
const KNOWN_SETTINGS_FLAGS = SettingsFlag.ACCEPT_UNSOLICITED | SettingsFlag.VOICE_PROMPTS;

/** Inclusive ranges of the settings fields (PROTOCOL 1.3). */
export const SETTINGS_RANGES = {
  promptTimeoutS: [5, 120],
  thanksS: [1, 30],
  volume: [0, 10],
  brightness: [0, 10],
  language: [0, 1],
  flags: [0, KNOWN_SETTINGS_FLAGS],
} as const satisfies Record<string, readonly [number, number]>;

/** Factory settings of an evaluator before its hub sends any. */
export const DEFAULT_SETTINGS = {
  promptTimeoutS: 30,
  thanksS: 3,
  volume: 5,
  brightness: 8,
  language: Language.ZH_CN,
  flags: 0,
} as const;

/** Limits of the link (PROTOCOL 1.3, 1.4). */
export const LINK = {
  window: 8,
  retransmitInitialMs: 250,
  retransmitMaxMs: 5000,
  helloIntervalMs: 2000,
  pingAfterSilenceMs: 1000,
  downAfterSilenceMs: 3000,
  maxSeq: 0xffff,
} as const;

export const MAX_STR_BYTES = 64;
export const MAX_DEVICE_ID_BYTES = 32;

/**
 * USB ids an evaluator enumerates with, for discovery (PROTOCOL 1.2). Defaults only: the hub's
 * configuration may list others. 0x1209 is pid.codes' open-source vendor id; the product ids
 * are this project's until a registered pair is assigned.
 */
export const DEFAULT_USB_IDS = {
  serial: [{ vendorId: 0x1209, productId: 0x4850 }],
  hid: [{ vendorId: 0x1209, productId: 0x4851, usagePage: 0xff00 }],
} as const;

// ---- JSON limits and names of PROTOCOL 2-5 (pure data; the zod schemas build on them) ----

/** PROTOCOL 3: a batch holds at most 500 evaluations and 256 KiB. */
export const MAX_BATCH_ITEMS = 500;
export const MAX_BATCH_BYTES = 256 * 1024;
/** PROTOCOL 4: `comment` is at most 500 characters (code points, not UTF-16 units). */
export const MAX_COMMENT_CHARS = 500;

/**
 * [r2] Ids of ratings that no device counts: `QR-{txnId}` (PROTOCOL 8), `SMS-{txnId}`,
 * `TEL-{txnId}` (the telephone follow-up), `RE-{first id}` (评价次数 2).
 */
export const FOLLOW_UP_ID_PREFIXES = ['QR', 'SMS', 'TEL', 'RE'] as const;

/** `{deviceId}-{counter}` or `{tabletId}-{counter}`: the source id, then a counter from 1; or a follow-up's id. */
export const EVALUATION_ID = new RegExp(`^(?:[\\x20-\\x7e]{1,${MAX_DEVICE_ID_BYTES}}-[1-9][0-9]{0,9}|(?:${FOLLOW_UP_ID_PREFIXES.join('|')})-.{1,200})$`, 'u');

/** Every mainland mobile number in a text replaced by `1**********` (for what is kept for audit). */
export function withoutPhoneNumbers(text: string): string {
  return text.replace(/1[3-9][0-9]{9}/g, '1**********');
}

/** UTF-8 bytes of a string: the wire's `str` limit counts bytes, not characters (PROTOCOL 1.3). */
export function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** A mainland China mobile number (11 digits, 1[3-9]...), the only call-back contact accepted. */
export const MOBILE_PHONE = /^1[3-9][0-9]{9}$/;

/** PROTOCOL 4 `channel`: the counter device, the tablet, and (revision 2) the QR code, SMS and telephone follow-ups. */
export const CHANNELS = ['evaluator', 'tablet', 'qr', 'sms', 'phone'] as const;
export type Channel = (typeof CHANNELS)[number];
/** PROTOCOL 4 `origin`: the three of EVAL.origin by name (`ORIGIN_NAMES`), and `tablet`. */
export const ORIGINS = ['prompted', 'invited', 'unsolicited', 'tablet'] as const;
export type OriginName = (typeof ORIGINS)[number];
export const EVALUATION_FLAGS = ['misuse', 'clockUnsynced'] as const;
/**
 * Steps a person records in handling a 差评 (`POST /api/evaluations/{id}/handling`, PROTOCOL 5
 * [r2]): 受理, 当场裁定, 回访, 转12345, 整改, 反馈, 办结. The order they may come in is the hub's
 * (hub/handling.ts).
 */
export const HANDLING_STEPS = ['acknowledged', 'resolved-on-the-spot', 'called-back', 'handed-over', 'rectified', 'feedback-given', 'resolved'] as const;
export type HandlingStepName = (typeof HANDLING_STEPS)[number];
/** Steps the hub records itself: 督办 when the deadline passes unresolved, and the 评价次数 2 arriving. */
export const HUB_STEPS = ['escalated', 're-rated'] as const;
export type HubStepName = (typeof HUB_STEPS)[number];
/** Every step a 差评's handling may hold (PROTOCOL 3 `handling`). */
export const ALL_HANDLING_STEPS = [...HANDLING_STEPS, ...HUB_STEPS] as const;
export type AnyHandlingStep = HandlingStepName | HubStepName;
/**
 * [r2] A handling step's id (PROTOCOL 3 `handling`): `{evaluationId}#{n}`, n its place among
 * that 差评's steps from 1. It never has a device evaluation id's shape, so a receipt listing
 * both kinds of id is read without doubt.
 */
export const STEP_ID = /^.{1,240}#[1-9][0-9]{0,5}$/u;
export function stepIdOf(evaluationId: string, n: number): string {
  return `${evaluationId}#${n}`;
}

/** Default reason catalogue: the offline indicators and common complaints (issue: hall tablet). */
export const DEFAULT_REASONS: readonly { code: string; zh: string; en: string }[] = [
  { code: 'efficiency', zh: '服务效率', en: 'Efficiency' },
  { code: 'competence', zh: '服务水平', en: 'Competence' },
  { code: 'attitude', zh: '服务态度', en: 'Attitude' },
  { code: 'long-wait', zh: '等候时间长', en: 'Long wait' },
  { code: 'too-many-documents', zh: '材料要求多', en: 'Too many documents' },
  { code: 'repeat-visits', zh: '多次跑动', en: 'Repeat visits' },
  { code: 'system-failure', zh: '系统故障', en: 'System failure' },
  { code: 'other', zh: '其他', en: 'Other' },
];

// ---- code <-> name tables: the wire has numbers, JSON, the API and logs have names ----

/** The other direction of a code -> name table. */
function invert<C extends number, N extends string>(names: Readonly<Record<C, N>>): Readonly<Record<N, C>> {
  return Object.fromEntries(Object.entries(names).map(([code, name]) => [name, Number(code)])) as Record<N, C>;
}

/** STATE.state by name, as the hub reports a device's state (`GET /api/devices`, PROTOCOL 3 `devices/{id}`). */
export const DEVICE_STATE_NAMES = {
  [DeviceState.BOOT]: 'boot',
  [DeviceState.IDLE]: 'idle',
  [DeviceState.PROMPT]: 'prompt',
  [DeviceState.THANKS]: 'thanks',
  [DeviceState.PAUSED]: 'paused',
  [DeviceState.CONFIG]: 'config',
  [DeviceState.FAULT]: 'fault',
  [DeviceState.SIGNED_OUT]: 'signed-out',
} as const satisfies Record<DeviceState, string>;
export type DeviceStateName = (typeof DEVICE_STATE_NAMES)[DeviceState];
export const DEVICE_STATE_CODES = /* @__PURE__ */ invert<DeviceState, DeviceStateName>(DEVICE_STATE_NAMES);

/** EVAL.origin by name, as the evaluation record has it (PROTOCOL 4 `origin`). */
export const ORIGIN_NAMES = {
  [Origin.PROMPTED]: 'prompted',
  [Origin.INVITED]: 'invited',
  [Origin.UNSOLICITED]: 'unsolicited',
} as const satisfies Record<Origin, OriginName>;
export type EvalOriginName = (typeof ORIGIN_NAMES)[Origin];
export const ORIGIN_CODES = /* @__PURE__ */ invert<Origin, EvalOriginName>(ORIGIN_NAMES);

/** STAFF.duty by name, as `PUT /api/windows/{windowId}/staff` has it. */
export const DUTY_NAMES = {
  [Duty.SIGNED_OUT]: 'off',
  [Duty.ON_DUTY]: 'on',
  [Duty.PAUSED]: 'paused',
} as const satisfies Record<Duty, string>;
export type DutyName = (typeof DUTY_NAMES)[Duty];
export const DUTY_CODES = /* @__PURE__ */ invert<Duty, DutyName>(DUTY_NAMES);

/** SERVICE.event by name, as `POST /api/windows/{windowId}/service` has it. */
export const SERVICE_EVENT_NAMES = {
  [ServiceEvent.STARTED]: 'started',
  [ServiceEvent.DONE]: 'done',
  [ServiceEvent.CANCELLED]: 'cancelled',
} as const satisfies Record<ServiceEvent, string>;
export type ServiceEventName = (typeof SERVICE_EVENT_NAMES)[ServiceEvent];
export const SERVICE_EVENT_CODES = /* @__PURE__ */ invert<ServiceEvent, ServiceEventName>(SERVICE_EVENT_NAMES);

/** ACK.status by name, as the tablet's ack has it (PROTOCOL 2 `acks`, PROTOCOL 3 `channel-acks`). */
export const ACK_STATUS_NAMES = {
  [AckStatus.OK]: 'ok',
  [AckStatus.DUPLICATE]: 'duplicate',
  [AckStatus.REJECTED]: 'rejected',
} as const satisfies Record<AckStatus, string>;
export type AckStatusName = (typeof ACK_STATUS_NAMES)[AckStatus];
export const ACK_STATUS_CODES = /* @__PURE__ */ invert<AckStatus, AckStatusName>(ACK_STATUS_NAMES);

/**
 * The groupings of `GET /api/stats?by=` (PROTOCOL 5). The project's extensions: `reason` (each
 * reason code of a rating), `department` (the matter's department, else the hall's deptCode)
 * for the 月度通报, and `hour` for the dashboard's chart.
 */
export const STAT_GROUP_NAMES = ['window', 'staff', 'matter', 'channel', 'reason', 'department', 'hour'] as const;

/** `GET /api/export?format=` and the CLI's `export --format` (PROTOCOL 4.2): the national format is GB/T 39046's. */
export const EXPORT_FORMATS = ['csv', 'json', 'gb39046'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** A request-chosen key looked up as an own property only (`constructor`, `__proto__` are not keys). */
export function ownKey<T extends object>(table: T, key: string): key is Extract<keyof T, string> {
  return Object.hasOwn(table, key);
}
