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
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD');
const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time HH:MM');
/** Documentation of a key: what it means and an example (the reference is generated from these). */
const doc = (description: string, ...examples: unknown[]) => ({ description, ...(examples.length ? { examples } : {}) });
const usbId = z
  .object({ vendorId: z.int().min(0).max(0xffff).meta(doc('USB vendor id.', 0x2341)), productId: z.int().min(0).max(0xffff).meta(doc('USB product id.', 0x8036)) })
  .strict();

export const configSchema = z
  .object({
    hallId: segment.meta(doc('The hall\'s id at the city platform: the MQTT client id and the topic root `hcp/v1/{hallId}`.', '430300-001')),
    hallName: z.string().max(64).default('').meta(doc('The hall\'s name, shown on the tablets and the big screen (the platform may push another).', '湘潭市政务服务中心')),
    areaCode: z.string().max(12).default('').meta(doc('行政区划 code, exported with every evaluation.', '430300')),
    deptCode: z.string().max(64).default('').meta(doc('The department code, exported with every evaluation.')),
    dataDir: z.string().min(1).default('./data/hub').meta(doc('Directory of the database (`hub.sqlite`) and the hub\'s lock, relative to the config file. One hub per directory.', '/var/lib/haochaping')),
    adminToken: z
      .string()
      .min(16, 'must be at least 16 characters (`npm run hub -- init` writes a random one)')
      .refine((t) => !WEAK_TOKEN.test(t), 'is a placeholder; put a random token here (`openssl rand -base64 24`)')
      .meta(doc('The token of role `admin` (`Authorization: Bearer …`): at least 16 characters, not a placeholder. `hub init` writes a random one.', 'q3Xk9v2LrT8wYp4Zs6Nd1Hc')),
    http: z
      .object({
        host: z.string().min(1).default('127.0.0.1').meta(doc('Address the HTTP API, the pages and the tablets\' MQTT-over-WebSocket listen on; `0.0.0.0` for the hall\'s LAN.', '0.0.0.0')),
        port: z.int().min(0).max(65535).default(8080).meta(doc('TCP port (0: any free one, for tests).', 8080)),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8080 })
      .meta(doc('The one HTTP server of the hub.')),
    platform: z
      .object({
        url: z.string().regex(/^(mqtts?|wss?):\/\//, 'must start with mqtt://, mqtts://, ws:// or wss://').nullable().default(null).meta(doc('The city platform\'s broker; null: no platform, evaluations stay on the hub.', 'mqtts://platform.example.gov.cn:8883')),
        username: z.string().nullable().default(null).meta(doc('MQTT username at the platform broker.')),
        password: z.string().nullable().default(null).meta(doc('MQTT password at the platform broker.')),
        caFile: z.string().nullable().default(null).meta(doc('PEM file of the CA that signed the broker\'s certificate (mqtts, wss).', '/etc/haochaping/platform-ca.pem')),
      })
      .strict()
      .default({ url: null, username: null, password: null, caFile: null })
      .meta(doc('The city platform (PROTOCOL 3).')),
    devices: z
      .object({
        serial: z
          .array(z.object({ path: z.string().min(1).meta(doc('Serial port path.', '/dev/ttyACM0')), baudRate: z.int().positive().default(115200).meta(doc('Baud rate.', 115200)) }).strict())
          .default([])
          .meta(doc('Serial ports opened explicitly (and reopened after an unplug), e.g. a pty in a trial.', [{ path: '/dev/ttyACM0', baudRate: 115200 }])),
        discover: z
          .object({ serial: z.boolean().default(true).meta(doc('Find serial evaluators by USB id.')), hid: z.boolean().default(true).meta(doc('Find USB HID evaluators by USB id.')) })
          .strict()
          .default({ serial: true, hid: true })
          .meta(doc('Discovery by USB vendor/product id, polled every 2 s.')),
        autoPair: z.boolean().default(false).meta(doc('Pair a new evaluator to the first window without one, instead of listing it as pending.')),
        usbIds: z.object({ serial: z.array(usbId).meta(doc('Ids of serial (CDC-ACM) evaluators.')), hid: z.array(usbId).meta(doc('Ids of USB HID evaluators.')) }).strict().optional().meta(doc('USB ids to discover instead of the defaults of protocol/constants.ts.')),
      })
      .strict()
      .default({ serial: [], discover: { serial: true, hid: true }, autoPair: false })
      .meta(doc('Evaluators: how the hub finds them.')),
    windows: z
      .array(
        z
          .object({
            id: segment.meta(doc('Window id: a topic segment.', 'A01')),
            name: z.string().max(64).default('').meta(doc('Window name.', 'A01 综合受理')),
            deviceId: z.string().refine(isValidDeviceId, `must be ${DEVICE_ID_RULE}`).nullable().default(null).meta(doc('Pre-pairs this evaluator to the window; one evaluator serves one window.', 'HCP5-000123')),
          })
          .strict(),
      )
      .default([])
      .meta(doc('The hall\'s windows (the platform may push more).')),
    evaluation: z
      .object({
        misuseWindowS: z.int().min(1).max(3600).default(10).meta(doc('Unsolicited presses closer than this on one device are flagged `misuse` (kept, not counted), seconds.')),
      })
      .strict()
      .default({ misuseWindowS: 10 })
      .meta(doc('Evaluation rules.')),
    sync: z
      .object({
        republishAfterS: z.int().min(1).max(86_400).default(60).meta(doc('A sent batch without a receipt is published again after this, seconds.')),
        batchItems: z.int().min(1).max(500).default(500).meta(doc('Evaluations per batch, at most 500 (PROTOCOL 3).')),
      })
      .strict()
      .default({ republishAfterS: 60, batchItems: 500 })
      .meta(doc('Platform sync tuning.')),
    storage: z
      .object({
        minFreeMiB: z.int().min(0).default(200).meta(doc('Below this much free disk the hub refuses new ratings (devices and tablets keep them) and /api/health says not ok, MiB.')),
        retentionDays: z.int().min(1).default(730).meta(doc('Confirmed evaluations, rejected payloads, suggestions and device events older than this are pruned; nothing unsynced ever is, days.')),
      })
      .strict()
      .default({ minFreeMiB: 200, retentionDays: 730 })
      .meta(doc('Disk safety and retention.')),
    calendar: z
      .object({
        workdays: z.array(day).default([]).meta(doc('Adjusted working days (调休 Saturdays and Sundays that are worked).', ['2026-10-10'])),
        holidays: z.array(day).default([]).meta(doc('Public holidays on weekdays.', ['2026-10-01', '2026-10-02'])),
      })
      .strict()
      .default({ workdays: [], holidays: [] })
      .meta(doc('[r2] The hall\'s working-day calendar for 差评 deadlines (2 working days, 10 for complex matters); the platform may push the same.')),
    sms: z
      .object({
        modem: z
          .object({ path: z.string().min(1).meta(doc('Serial port of the GSM/LTE modem.', '/dev/ttyUSB2')), baudRate: z.int().positive().default(115200).meta(doc('Baud rate.', 115200)) })
          .strict()
          .meta(doc('The modem (PROTOCOL 7).')),
        delayS: z.int().min(0).max(86_400).default(600).meta(doc('An invitation is sent this long after `done` if the transaction is still unrated, seconds.')),
        quietHours: z.tuple([clockTime, clockTime]).default(['21:00', '08:00']).meta(doc('No SMS between these local times (China Standard Time): invitations and the 差评 loop\'s feedback wait for the end; two equal times: no quiet hours.', ['21:00', '08:00'])),
        signature: z.string().max(16).default('【政务服务】').meta(doc('The message\'s signature, as the carrier registered it.', '【湘潭政务】')),
        replyWindowH: z.int().min(1).max(720).default(48).meta(doc('A reply within this many hours rates the transaction.')),
      })
      .strict()
      .optional()
      .meta(doc('[r2] SMS follow-up through a GSM modem (PROTOCOL 7); absent: no SMS.')),
    qr: z
      .object({
        baseUrl: z.string().regex(/^https?:\/\/[^/]+/, 'must be an http(s) URL').nullable().default(null).meta(doc('Base of `rateUrl` (`{baseUrl}/r/{token}`); null: the hub\'s own address.', 'https://pj.example.gov.cn')),
        secret: z.string().min(16, 'must be at least 16 characters').meta(doc('HMAC-SHA256 key of the QR tokens (PROTOCOL 8), shared with the platform if it collects QR ratings.', 'hD3kQ9sP0vX7mB2nL5tR8wY1')),
        validH: z.int().min(1).max(720).default(72).meta(doc('A QR token expires this many hours after `done`.')),
      })
      .strict()
      .optional()
      .meta(doc('[r2] QR code per transaction (PROTOCOL 8); absent: no `rateUrl`.')),
    complaintPhone: z.string().max(32).default('12345').meta(doc('The complaint phone (投诉举报电话) shown on tablets.', '12345')),
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
    // whole-line // comments are allowed (`hub init` writes them); nothing inside a line is touched
    value = JSON.parse(text.replace(/^[ \t]*\/\/.*$/gm, ''));
  } catch (error) {
    throw new ConfigError('', `config: ${file} is not valid JSON (${(error as Error).message})`);
  }
  return parseConfig(value, dirname(resolve(file)));
}

export function usbIds(config: HubConfig) {
  return config.devices.usbIds ?? { serial: [...DEFAULT_USB_IDS.serial], hid: DEFAULT_USB_IDS.hid.map(({ vendorId, productId }) => ({ vendorId, productId })) };
}
