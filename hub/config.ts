/**
 * The hub configuration file (PROTOCOL 6): validated once at start. An unknown key, a wrong
 * type or a missing required value is a `ConfigError` naming the key; the CLI prints it on one
 * line and exits 2.
 */
import { readFileSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { z } from 'zod';
import { ConfigError, DEFAULT_USB_IDS, DEVICE_ID_RULE, issueLine, isTopicSegment, isValidDeviceId } from '../protocol/index.js';

export { ConfigError } from '../protocol/index.js';


/** Tokens from examples and habits, refused whatever their length. */
const WEAK_TOKEN = /change-?me|changeit|^(password|secret|admin|token|hub|123456.*)$|^(.)\2+$/i;

const segment = z.string().min(1).max(64).refine(isTopicSegment, 'must not contain /, + or #');
const usbId = z.object({ vendorId: z.int().min(0).max(0xffff), productId: z.int().min(0).max(0xffff) }).strict();

export const configSchema = z
  .object({
    hallId: segment,
    hallName: z.string().max(64).default(''),
    areaCode: z.string().max(12).default(''),
    deptCode: z.string().max(64).default(''),
    dataDir: z.string().min(1).default('./data/hub'),
    adminToken: z
      .string()
      .min(16, 'must be at least 16 characters (`npm run hub -- init` writes a random one)')
      .refine((t) => !WEAK_TOKEN.test(t), 'is a placeholder; put a random token here (`openssl rand -base64 24`)'),
    http: z.object({ host: z.string().min(1).default('127.0.0.1'), port: z.int().min(0).max(65535).default(8080) }).strict().default({ host: '127.0.0.1', port: 8080 }),
    platform: z
      .object({
        url: z.string().regex(/^(mqtts?|wss?):\/\//, 'must start with mqtt://, mqtts://, ws:// or wss://').nullable().default(null),
        username: z.string().nullable().default(null),
        password: z.string().nullable().default(null),
        caFile: z.string().nullable().default(null),
      })
      .strict()
      .default({ url: null, username: null, password: null, caFile: null }),
    devices: z
      .object({
        serial: z.array(z.object({ path: z.string().min(1), baudRate: z.int().positive().default(115200) }).strict()).default([]),
        discover: z.object({ serial: z.boolean().default(true), hid: z.boolean().default(true) }).strict().default({ serial: true, hid: true }),
        autoPair: z.boolean().default(false),
        /** Extension: USB ids to discover, beyond the defaults of `protocol/`. */
        usbIds: z.object({ serial: z.array(usbId), hid: z.array(usbId) }).strict().optional(),
      })
      .strict()
      .default({ serial: [], discover: { serial: true, hid: true }, autoPair: false }),
    windows: z
      .array(
        z
          .object({
            id: segment,
            name: z.string().max(64).default(''),
            deviceId: z.string().refine(isValidDeviceId, `must be ${DEVICE_ID_RULE}`).nullable().default(null),
          })
          .strict(),
      )
      .default([]),
    /** Extension: evaluation rules. */
    evaluation: z
      .object({
        /** Unsolicited presses closer than this on one device are flagged `misuse`, seconds. */
        misuseWindowS: z.int().min(1).max(3600).default(10),
      })
      .strict()
      .default({ misuseWindowS: 10 }),
    /** Extension: platform sync tuning. */
    sync: z
      .object({
        /** A sent batch without a receipt is published again after this, seconds. */
        republishAfterS: z.int().min(1).max(86_400).default(60),
        /** Items per batch, at most 500 (PROTOCOL 3). */
        batchItems: z.int().min(1).max(500).default(500),
      })
      .strict()
      .default({ republishAfterS: 60, batchItems: 500 }),
    /** Extension: disk safety. */
    storage: z
      .object({
        /** Below this much free space the hub refuses new ratings (devices keep them), MiB. */
        minFreeMiB: z.int().min(0).default(200),
        /** Confirmed evaluations older than this are pruned; unsynced ones never are, days. */
        retentionDays: z.int().min(1).default(730),
      })
      .strict()
      .default({ minFreeMiB: 200, retentionDays: 730 }),
    /** Extension: the hall's complaint phone (投诉举报电话) shown on tablets. */
    complaintPhone: z.string().max(32).default('12345'),
  })
  .strict();

export type HubConfig = z.infer<typeof configSchema>;
export type HubConfigInput = z.input<typeof configSchema>;

/** Validates a parsed config; relative `dataDir` resolves against `baseDir`. */
export function parseConfig(value: unknown, baseDir = process.cwd()): HubConfig {
  const result = configSchema.safeParse(value, { reportInput: true });
  if (!result.success) {
    const { key, line } = issueLine('config', result.error.issues[0]!);
    if (key === '') throw new ConfigError('', 'config: expected a JSON object with at least "hallId" and "adminToken"');
    throw new ConfigError(key, line);
  }
  const config = result.data;
  const ids = new Set<string>();
  const devices = new Map<string, string>();
  config.windows.forEach((w, i) => {
    if (ids.has(w.id)) throw new ConfigError(`windows.${i}.id`, `config: "windows.${i}.id" repeats window ${w.id}`);
    ids.add(w.id);
    if (!w.deviceId) return;
    const other = devices.get(w.deviceId);
    if (other) throw new ConfigError(`windows.${i}.deviceId`, `config: "windows.${i}.deviceId" pairs evaluator ${w.deviceId} to ${w.id}, but it is already paired to ${other}: one evaluator serves one window`);
    devices.set(w.deviceId, w.id);
  });
  return { ...config, dataDir: resolve(baseDir, config.dataDir) };
}

export function loadConfig(file: string): HubConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('', `config: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError('', `config: ${file} is not valid JSON (${(error as Error).message})`);
  }
  return parseConfig(value, dirname(resolve(file)));
}

export function usbIds(config: HubConfig) {
  return config.devices.usbIds ?? { serial: [...DEFAULT_USB_IDS.serial], hid: DEFAULT_USB_IDS.hid.map(({ vendorId, productId }) => ({ vendorId, productId })) };
}
