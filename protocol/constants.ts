/** Named values of PROTOCOL 1.3. Wire numbers appear only here. */

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
  EVAL: 'device',
  EVENT: 'device',
  ACK: 'either',
  NACK: 'either',
};

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
