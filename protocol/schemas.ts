/**
 * JSON payloads of PROTOCOL 2-4: one schema each (zod, which also gives the TypeScript type
 * and the JSON Schema documents in `protocol/json-schema/`), and one way to validate them.
 *
 * Receivers ignore unknown fields: PROTOCOL allows new optional JSON fields as an extension.
 *
 * This is the one protocol file that needs zod at run time, so `protocol/index.ts` re-exports
 * only its types: code that validates JSON imports `parsePayload`, `parseJson` and the schemas
 * from here, and a browser page that imports `protocol/index.ts` never bundles zod. The limits
 * and name lists the schemas use live in `constants.ts`, importable anywhere.
 */
import { z } from 'zod';
import {
  ACK_STATUS_NAMES,
  CHANNELS,
  ALL_HANDLING_STEPS,
  EVALUATION_ID,
  MAX_BATCH_BYTES,
  MAX_BATCH_ITEMS,
  MAX_COMMENT_CHARS,
  MAX_DEVICE_ID_BYTES,
  MAX_STR_BYTES,
  MOBILE_PHONE,
  ORIGINS,
  SETTINGS_RANGES,
  STEP_ID,
  utf8Bytes,
  type AckStatusName,
} from './constants.js';
import { PayloadError, describeIssue } from './errors.js';

const isoTime = z.iso.datetime({ offset: true });
const text = (max: number) => z.string().max(max);
/** A string field that may be absent or null ("string?" in PROTOCOL 4). */
const optionalText = (max: number) => text(max).nullish();
/** A transaction id: at most 64 UTF-8 bytes, as on the wire; refused, never cut (PROTOCOL 1.3). */
const txnText = z.string().min(1).refine((t) => utf8Bytes(t) <= MAX_STR_BYTES, `at most ${MAX_STR_BYTES} UTF-8 bytes`);
const contactText = z.string().regex(MOBILE_PHONE, 'expected a mainland mobile number');
const count = z.int().min(0);
const commentText = z.string().refine((s) => [...s].length <= MAX_COMMENT_CHARS, `at most ${MAX_COMMENT_CHARS} characters`);

export const evaluationId = z.string().regex(EVALUATION_ID, 'expected {deviceId}-{counter}');

export const level = z.int().min(0).max(5);

/** PROTOCOL 4: the evaluation record the hub sends to the platform. */
export const evaluationSchema = z.object({
  id: evaluationId,
  hallId: text(64).min(1),
  areaCode: text(12),
  deptCode: text(64),
  channel: z.enum(CHANNELS),
  level,
  reasons: z.array(text(32).min(1)).max(16),
  comment: commentText,
  contact: contactText.nullish(),
  txnId: txnText.nullish(),
  matterCode: optionalText(64),
  matterName: optionalText(128),
  windowId: optionalText(64),
  staffId: optionalText(64),
  staffName: optionalText(64),
  origin: z.enum(ORIGINS),
  evaluatedAt: isoTime,
  receivedAt: isoTime,
  deviceId: text(MAX_DEVICE_ID_BYTES).min(1),
  fwVersion: text(64),
  promptMs: count.nullish(),
  flags: z.array(text(32)).max(8),
  /** [r2] The citizen agreed to be contacted; `contact` is present only when true. */
  consent: z.boolean().default(false),
  /** [r2] 评价次数: 2 for the one re-rating after a rectified 差评. */
  ratingNo: z.union([z.literal(1), z.literal(2)]).default(1),
  /** [r2] For `ratingNo` 2: the id of the first rating. */
  followUpOf: text(160).nullish(),
}).refine((e) => !e.contact || e.consent, { message: 'a contact needs the citizen\'s consent', path: ['consent'] });
export type Evaluation = z.infer<typeof evaluationSchema>;

/** PROTOCOL 3 `evaluations`: a batch of at most 500 items and 256 KiB. */
export const batchSchema = z.object({
  batchId: text(64).min(1),
  hallId: text(64).min(1),
  sentAt: isoTime,
  items: z.array(evaluationSchema).min(1).max(MAX_BATCH_ITEMS),
});
export type Batch = z.infer<typeof batchSchema>;

/** [r2] A handling step's id, `{evaluationId}#{n}` (PROTOCOL 3 `handling`). */
export const stepId = z.string().regex(STEP_ID, 'expected {evaluationId}#{n}');

/** PROTOCOL 3 `receipts`: ids of evaluations, and [r2] of handling steps. */
export const receiptSchema = z.object({
  batchId: text(64).min(1),
  accepted: z.array(z.union([evaluationId, stepId])),
  rejected: z.array(z.object({ id: z.union([evaluationId, stepId]), reason: text(200) })),
});
export type Receipt = z.infer<typeof receiptSchema>;

/** PROTOCOL 3 `status` (retained). The last will carries only `{online: false}`. */
export const statusSchema = z.object({
  online: z.boolean(),
  version: text(32).optional(),
  startedAt: isoTime.optional(),
  backlog: count.optional(),
  oldestUnsyncedAt: isoTime.nullable().optional(),
  devices: z.object({ online: count, total: count }).optional(),
  lastSyncAt: isoTime.nullable().optional(),
});
export type HallStatus = z.infer<typeof statusSchema>;

/** PROTOCOL 3 `devices/{deviceId}` (retained). `state` is a state name, e.g. `idle`. */
export const deviceStatusSchema = z.object({
  online: z.boolean(),
  kind: z.enum(['evaluator', 'tablet']),
  model: text(64),
  fwVersion: text(64),
  windowId: text(64).nullable(),
  state: text(32).nullable(),
  lastSeenAt: isoTime.nullable(),
  linkErrors: count,
});
export type DeviceStatus = z.infer<typeof deviceStatusSchema>;

const settingsField = (name: keyof typeof SETTINGS_RANGES) => z.int().min(SETTINGS_RANGES[name][0]).max(SETTINGS_RANGES[name][1]);

/** The evaluator settings of PROTOCOL 1.3 as JSON (the body of `PUT /api/devices/{id}/settings`). */
export const deviceSettingsSchema = z.object({
  promptTimeoutS: settingsField('promptTimeoutS'),
  thanksS: settingsField('thanksS'),
  volume: settingsField('volume'),
  brightness: settingsField('brightness'),
  language: settingsField('language'),
  flags: settingsField('flags'),
});
export type DeviceSettings = z.infer<typeof deviceSettingsSchema>;

export const reasonSchema = z.object({ code: text(32).min(1), zh: text(32).min(1), en: text(64).min(1) });
export type Reason = z.infer<typeof reasonSchema>;

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD');

/** PROTOCOL 3 `config` (retained, platform -> hub): the hall configuration pushed down. */
export const hallConfigSchema = z.object({
  /** Increases with each push; the hub ignores an older one. */
  version: z.int().min(0),
  hallName: text(64).min(1).optional(),
  complaintPhone: text(32).optional(),
  windows: z.array(z.object({ id: text(64).min(1), name: text(64).min(1) })).max(500),
  staff: z.array(z.object({ id: text(64).min(1), name: text(64).min(1), title: text(64).optional(), windowId: text(64).optional() })).max(5000),
  matters: z.array(z.object({ code: text(64).min(1), name: text(128).min(1), complex: z.boolean().optional() })).max(20000),
  reasons: z.array(reasonSchema).max(32),
  settings: deviceSettingsSchema.partial().optional(),
  /** Working days to handle a 差评: 2, complex matters 10 (DESIGN). */
  handlingDays: z.object({ normal: z.int().min(1).max(60), complex: z.int().min(1).max(60) }).optional(),
  /** Exceptions to Monday-Friday: official holidays and make-up working days (调休). */
  calendar: z.object({ holidays: z.array(day), workdays: z.array(day) }).optional(),
});
export type HallConfig = z.infer<typeof hallConfigSchema>;

/** PROTOCOL 2 `public/config` (retained, hub -> tablets). */
export const publicConfigSchema = z.object({
  hallId: text(64).min(1),
  hallName: text(64),
  windows: z.array(z.object({ id: text(64).min(1), name: text(64) })),
  reasons: z.array(reasonSchema),
  complaintPhone: text(32),
  languages: z.array(z.enum(['zh-CN', 'en'])).min(1),
  settings: z.object({ inactivityS: z.int().min(10).max(600), thanksS: z.int().min(1).max(30) }),
});
export type PublicConfig = z.infer<typeof publicConfigSchema>;

/** PROTOCOL 2 `tablets/{tabletId}/session` (retained): the offered transaction, or `{}`. */
export const tabletSessionSchema = z.union([
  z.object({
    txnId: txnText,
    windowId: text(64).min(1),
    staffId: text(64),
    staffName: text(64),
    matterCode: text(64),
    matterName: text(128),
    offeredAt: isoTime,
    /** [r2] extension: the transaction's QR rating URL (PROTOCOL 8), for a citizen who prefers their own phone. */
    rateUrl: z.string().max(1024).optional(),
  }),
  z.object({}).strict(),
]);
export type TabletSession = z.infer<typeof tabletSessionSchema>;

/** PROTOCOL 2 `tablets/{tabletId}/evaluations`: what a tablet knows of its evaluation. */
export const tabletEvaluationSchema = z.object({
  id: evaluationId,
  level: level.min(1),
  reasons: z.array(text(32).min(1)).max(16).default([]),
  comment: commentText.default(''),
  contact: contactText.nullish(),
  /** [r2] The citizen ticked the consent to a call-back; a contact without it is refused. */
  consent: z.boolean().optional(),
  txnId: txnText.nullish(),
  windowId: optionalText(64),
  staffId: optionalText(64),
  evaluatedAt: isoTime,
}).refine((e) => !e.contact || e.consent === true, { message: 'a contact needs the citizen\'s consent', path: ['consent'] });
export type TabletEvaluation = z.infer<typeof tabletEvaluationSchema>;

/** PROTOCOL 2 `tablets/{tabletId}/acks`. */
export const tabletAckSchema = z.object({
  /** Empty when the refused payload had no readable id. */
  id: text(64),
  status: z.enum(Object.values(ACK_STATUS_NAMES) as [AckStatusName, ...AckStatusName[]]),
  reason: text(200).optional(),
});
export type TabletAck = z.infer<typeof tabletAckSchema>;

/** PROTOCOL 3 `alerts` [r2]: a 差评 at once, with the end of its handling time and whether the matter is complex. */
export const alertSchema = evaluationSchema.safeExtend({
  /** The end (24:00 China Standard Time) of the 2nd working day after receipt, the 10th when complex. */
  deadlineAt: isoTime,
  complex: z.boolean(),
});
export type Alert = z.infer<typeof alertSchema>;

/**
 * PROTOCOL 3 `handling` [r2]: one step in handling a 差评, recorded at the hall (`by` is the
 * person's name, `hub` for the steps the hub makes), with the deadline in effect after it.
 */
export const handlingStepSchema = z.object({
  stepId,
  evaluationId,
  step: z.enum(ALL_HANDLING_STEPS),
  by: text(64).min(1),
  note: text(500).nullable(),
  at: isoTime,
  deadlineAt: isoTime,
});
export type HandlingStep = z.infer<typeof handlingStepSchema>;

/** PROTOCOL 3 `handling` [r2]: steps in batches like evaluations, confirmed by a receipt listing their `stepId`. */
export const handlingBatchSchema = z.object({
  batchId: text(64).min(1),
  hallId: text(64).min(1),
  sentAt: isoTime,
  items: z.array(handlingStepSchema).min(1).max(MAX_BATCH_ITEMS),
});
export type HandlingBatch = z.infer<typeof handlingBatchSchema>;

/** Every payload schema by name: the JSON Schema files and the frame inspector use this. */
export const SCHEMAS = {
  evaluation: evaluationSchema,
  batch: batchSchema,
  receipt: receiptSchema,
  status: statusSchema,
  'device-status': deviceStatusSchema,
  'device-settings': deviceSettingsSchema,
  'hall-config': hallConfigSchema,
  'public-config': publicConfigSchema,
  'tablet-session': tabletSessionSchema,
  'tablet-evaluation': tabletEvaluationSchema,
  'tablet-ack': tabletAckSchema,
  alert: alertSchema,
  'handling-step': handlingStepSchema,
  'handling-batch': handlingBatchSchema,
} as const;
export type SchemaName = keyof typeof SCHEMAS;
export type PayloadOf<N extends SchemaName> = z.infer<(typeof SCHEMAS)[N]>;

/** Validates a decoded JSON value. Throws `PayloadError` naming the first offending field. */
export function parsePayload<N extends SchemaName>(name: N, value: unknown): PayloadOf<N> {
  const result = SCHEMAS[name].safeParse(value, { reportInput: true });
  if (result.success) return result.data as PayloadOf<N>;
  const { key, problem } = describeIssue(result.error.issues[0]!);
  throw new PayloadError(name, key, `${name}${key ? `.${key}` : ''}: ${problem}`);
}

/** Parses and validates JSON text (or bytes). Malformed JSON is a `PayloadError` too. */
export function parseJson<N extends SchemaName>(name: N, input: string | Uint8Array): PayloadOf<N> {
  let value: unknown;
  try {
    // JSON is UTF-8 (RFC 8259 8.1): a payload that is not is refused, not stored with U+FFFD
    value = JSON.parse(typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input));
  } catch (error) {
    // the position only: V8's message quotes the input, which may hold a phone number
    if (error instanceof TypeError) throw new PayloadError(name, '', `${name}: not UTF-8`);
    const at = /position (\d+)/.exec((error as Error).message)?.[1];
    throw new PayloadError(name, '', `${name}: malformed JSON${at ? ` at byte ${at}` : ''}`);
  }
  return parsePayload(name, value);
}

/** Serialises a batch, refusing one over 256 KiB (PROTOCOL 3). */
export function encodeBatch(batch: Batch): string {
  const json = JSON.stringify(batch);
  const bytes = new TextEncoder().encode(json).length;
  if (bytes > MAX_BATCH_BYTES) throw new PayloadError('batch', '', `batch: ${bytes} bytes exceed ${MAX_BATCH_BYTES}`);
  return json;
}
