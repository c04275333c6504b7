/**
 * `npm run hub -- --config FILE [command]`: the hub and its technician CLI, over one store.
 *
 *   init FILE                        write a starting configuration with a random admin token
 *   (no command)                     run the hub (logs: one JSON object per line on stdout)
 *   devices                          evaluators and tablets, paired and pending
 *   pair DEVICE WINDOW [--tablet|--evaluator]  bind a device to a window (a tablet's token is printed once)
 *   unpair DEVICE                    release a device
 *   status                           backlog and devices, in words
 *   export --format csv|json|gb39046 [--from ISO] [--to ISO]
 *   audit                            the latest configuration changes
 *   report --month YYYY-MM --format json|csv|xlsx|pdf   the 月度通报 on stdout (`> report.pdf`)
 *   users [add NAME ROLE | revoke NAME]  people and their roles (a new token is printed once)
 *
 * A configuration problem is one line naming the key, exit 2; any other failure one line, exit 1.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type HubConfig } from './config.js';
import { syncSummary } from './evaluations.js';
import { EXPORT_FORMATS, writeExport } from './export.js';
import { Hub, type LogEntry } from './hub.js';
import { DEVICE_ID_RULE, isValidDeviceId } from '../protocol/index.js';
import { pairDevice, readDevices, unpairDevice } from './registry.js';
import { Store, StoreError } from './store.js';
import { systemClock } from './clock.js';
import { HttpError, ROLES, type Role } from './http.js';
import { Users } from './users.js';
import { Hall } from './hall.js';
import { MONTH, REPORT_FORMATS, Reports, type ReportFormat } from './reports.js';

const USAGE = `usage: npm run hub -- init FILE | --config FILE [devices | pair DEVICE WINDOW [--tablet|--evaluator] | unpair DEVICE | status | export --format csv|json|gb39046 [--from ISO] [--to ISO] | audit | users [add NAME queue|handler|manager|admin | revoke NAME] | report --month YYYY-MM --format json|csv|xlsx|pdf]`;
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;

class UsageError extends Error {}

function logger(): (entry: LogEntry) => void {
  const min = LEVELS[(process.env['HCP_LOG_LEVEL'] as keyof typeof LEVELS) ?? 'info'] ?? LEVELS.info;
  return (entry) => {
    if (LEVELS[entry.level] < min) return;
    const { contact, ...rest } = entry as LogEntry & { contact?: unknown };
    void contact; // phone numbers never reach the log
    process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), ...rest })}\n`);
  };
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      format: { type: 'string', default: 'csv' },
      from: { type: 'string' },
      to: { type: 'string' },
      month: { type: 'string' },
      tablet: { type: 'boolean', default: false },
      evaluator: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals[0] === 'init') return init(positionals[1] ?? values.config);
  if (!values.config) throw new UsageError('--config FILE is required (or `init FILE` to write one)');
  const config = loadConfig(values.config);
  const [command, ...args] = positionals;
  if (!command || command === 'start') return serve(config);
  const store = new Store({ dataDir: config.dataDir });
  try {
    return await cli(store, config, command, args, values);
  } finally {
    store.close();
  }
}

/** Writes a commented starting configuration (JSON with `//` comment lines) and says what comes next. */
function init(file: string | undefined): number {
  if (!file) throw new UsageError('usage: init FILE (for example /etc/haochaping/hall.json)');
  if (existsSync(file)) throw new UsageError(`${file} exists; init never overwrites a configuration`);
  const token = randomBytes(18).toString('base64url');
  const text = `// 好差评 hall hub configuration. Every key is explained in docs/configuration.md.
// Lines starting with // are comments. Change what is marked CHANGE, then start the hub.
{
  // CHANGE: the hall's id at the city platform, and its name
  "hallId": "430300-001",
  "hallName": "湘潭市政务服务中心",
  "areaCode": "430300",
  // where the database lives (the service user must be able to write here)
  "dataDir": "./data/hub",
  // role admin: keep it secret; the queue system and staff get their own tokens later
  "adminToken": "${token}",
  // 0.0.0.0 to serve the hall's LAN (tablets, the big screen); 127.0.0.1 for this machine only
  "http": { "host": "127.0.0.1", "port": 8080 },
  // CHANGE: the city platform's broker, or null to keep evaluations on this hub for now
  "platform": { "url": null, "username": null, "password": null, "caFile": null },
  // evaluators: found by USB id; list a serial port here to open it explicitly
  "devices": { "serial": [], "discover": { "serial": true, "hid": true }, "autoPair": false },
  // CHANGE: the hall's windows
  "windows": [
    { "id": "A01", "name": "A01 综合受理", "deviceId": null }
  ]
}
`;
  writeFileSync(file, text, { mode: 0o600 });
  process.stdout.write(`wrote ${file} with a random admin token (readable by you only).
next:
  1. edit the lines marked CHANGE (hallId, platform, windows)
  2. start the hub:            node dist/hub/cli.js --config ${file}    (or npm run hub -- --config ${file})
  3. plug in an evaluator, then pair it:   npm run hub -- --config ${file} pair DEVICE-ID A01 --evaluator
  4. put a clerk on duty:      curl -X PUT -H "Authorization: Bearer $TOKEN" -d '{"duty":"on","staffId":"S001","staffName":"李明"}' http://127.0.0.1:8080/api/windows/A01/staff
  5. open http://127.0.0.1:8080/dashboard (token from step 1's file)
`);
  return 0;
}

async function serve(config: HubConfig): Promise<number> {
  const hub = new Hub({ config, log: logger() });
  await hub.start();
  return new Promise((resolve) => {
    const stop = () => void hub.stop().then(() => resolve(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

interface LiveSync {
  platformConnected: boolean;
  refusal: string | null;
  storageLow: boolean;
  config: { version: number | null; error: string | null };
  progress: { words: string };
}

/** Asks the running hub for catch-up progress (rate and time left live only in its memory). */
async function liveSync(config: HubConfig): Promise<LiveSync | undefined> {
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  try {
    const res = await fetch(`http://${host}:${config.http.port}/api/sync`, { headers: { authorization: `Bearer ${config.adminToken}` }, signal: AbortSignal.timeout(2000) });
    return res.ok ? ((await res.json()) as LiveSync) : undefined;
  } catch {
    return undefined;
  }
}

function iso(value: string | undefined, name: string, fallback: string): string {
  if (value === undefined) return fallback;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`--${name} must be an ISO-8601 time, got ${JSON.stringify(value)}`);
  return new Date(ms).toISOString();
}

async function cli(store: Store, config: HubConfig, command: string, args: string[], values: { format?: string; from?: string; to?: string; month?: string; tablet?: boolean; evaluator?: boolean }): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  switch (command) {
    case 'devices': {
      const devices = store.read(readDevices);
      if (devices.length === 0) out('no devices yet: plug in an evaluator, or pair a tablet with `pair TABLET-ID WINDOW --tablet`');
      for (const d of devices) {
        const where = d.paired ? `window ${d.windowId}` : 'PENDING pairing';
        out(`${d.kind.padEnd(9)} ${d.deviceId.padEnd(20)} ${where.padEnd(18)} ${d.model} ${d.fwVersion} last seen ${d.lastSeenAt ?? 'never'}${d.state ? `, ${d.state}` : ''}${d.queued ? `, ${d.queued} queued` : ''}`);
      }
      return 0;
    }
    case 'pair': {
      const [deviceId, windowId] = args;
      if (!deviceId || !windowId) throw new UsageError('usage: pair DEVICE WINDOW [--tablet | --evaluator]');
      if (!isValidDeviceId(deviceId)) throw new UsageError(`"${deviceId}" is not a device id: it must be ${DEVICE_ID_RULE}`);
      if (!config.windows.some((w) => w.id === windowId)) throw new UsageError(`no window ${windowId} in the configuration; windows: ${config.windows.map((w) => w.id).join(', ') || 'none'}`);
      const known = store.read(readDevices).find((d) => d.deviceId === deviceId);
      const kind = values.tablet ? 'tablet' : values.evaluator ? 'evaluator' : known?.kind;
      if (!kind) throw new UsageError(`${deviceId} has not been seen by this hub: say --evaluator (it will be welcomed when plugged in) or --tablet`);
      const result = await store.submit((db) => pairDevice(db, deviceId, windowId, 'cli', kind));
      out(`paired ${result.kind} ${deviceId} to window ${windowId}`);
      if (result.token) {
        out(`tablet token (shown once): ${result.token}`);
        const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '<this server\'s LAN address>' : config.http.host;
        out(`tablet URL (open it on the tablet, or put it in the kiosk's config): http://${host}:${config.http.port}/tablet?tablet=${encodeURIComponent(deviceId)}&token=${result.token}`);
      }
      return 0;
    }
    case 'unpair': {
      const [deviceId] = args;
      if (!deviceId) throw new UsageError('usage: unpair DEVICE');
      const changed = await store.submit((db) => unpairDevice(db, deviceId, 'cli'));
      out(changed ? `unpaired ${deviceId}` : `${deviceId} was not paired`);
      return changed ? 0 : 1;
    }
    case 'status': {
      const live = await liveSync(config);
      const s = store.read(syncSummary);
      const devices = store.read(readDevices);
      const recent = (d: { lastSeenAt: string | null }) => d.lastSeenAt && Date.now() - Date.parse(d.lastSeenAt) < 60_000;
      out(`hall ${config.hallId} ${config.hallName}`);
      out(`devices: ${devices.filter((d) => d.paired).length} paired, ${devices.filter((d) => !d.paired).length} waiting to be paired, ${devices.filter(recent).length} seen in the last minute`);
      out(`evaluations waiting for the platform: ${s.pending + s.sent} (${s.pending} not yet sent, ${s.sent} sent and awaiting receipt); ${s.confirmed} confirmed; ${s.rejected} rejected by the platform`);
      out(s.oldestUnsyncedAt ? `oldest not yet confirmed: received ${s.oldestUnsyncedAt}` : 'nothing waiting: the hall is in sync');
      out(config.platform.url ? `platform: ${config.platform.url}` : 'platform: none configured, evaluations stay in the local store');
      if (live) {
        out(`the hub is running: platform ${live.platformConnected ? 'connected' : 'NOT connected'}; ${live.progress.words}`);
        if (live.refusal) out(`platform refusal: ${live.refusal}`);
        if (live.config.error) out(`last pushed config: ${live.config.error}`);
        if (live.storageLow) out('DISK NEARLY FULL: the hub refuses new ratings (devices keep them) until space is freed');
      } else out('the hub is not running (or not reachable on its HTTP port): figures above are from its database');
      return 0;
    }
    case 'export': {
      const format = EXPORT_FORMATS.find((f) => f === values.format);
      if (!format) throw new UsageError(`--format must be csv, json or gb39046, got ${values.format}`);
      const hall = { hallId: config.hallId, areaCode: config.areaCode, deptCode: config.deptCode };
      // streamed page by page (hub/export.ts): a year's export is never held in memory
      await writeExport(store, hall, { format, from: iso(values.from, 'from', '1970-01-01T00:00:00.000Z'), to: iso(values.to, 'to', '9999-12-31T00:00:00.000Z') }, process.stdout);
      await new Promise<void>((resolve, reject) => process.stdout.write('', (error) => (error ? reject(error) : resolve())));
      return 0;
    }
    case 'audit': {
      const rows = store.read((db) => db.prepare('SELECT at, actor, action, detail FROM audit ORDER BY id DESC LIMIT 50').all()) as { at: string; actor: string; action: string; detail: string }[];
      for (const r of rows) out(`${r.at} ${r.actor.padEnd(9)} ${r.action.padEnd(9)} ${r.detail}`);
      return 0;
    }
    case 'users': {
      const users = new Users(store, config.adminToken, systemClock);
      const [verb, name, role] = args;
      if (verb === 'add') {
        if (!name || !role || !(ROLES as readonly string[]).includes(role)) throw new UsageError(`usage: users add NAME ${ROLES.join('|')}`);
        const created = await users.create(name, role as Role, 'cli');
        out(`${created.name} (${created.role}): token, shown once: ${created.token}`);
        return 0;
      }
      if (verb === 'revoke') {
        if (!name) throw new UsageError('usage: users revoke NAME');
        out((await users.revoke(name, 'cli')) ? `revoked ${name}` : `${name} has no active token`);
        return 0;
      }
      if (verb !== undefined) throw new UsageError(`usage: users [add NAME ROLE | revoke NAME]`);
      const list = users.list();
      if (list.length === 0) out('no people yet: `users add NAME ROLE` (the admin token of the configuration is the person admin)');
      for (const u of list) out(`${u.name.padEnd(16)} ${u.role.padEnd(8)} since ${u.createdAt}${u.revokedAt ? `, REVOKED ${u.revokedAt}` : ''}`);
      return 0;
    }
    case 'report': {
      const format = REPORT_FORMATS.find((f) => f === values.format) as ReportFormat | undefined;
      if (!format) throw new UsageError(`--format must be ${REPORT_FORMATS.join(', ')}, got ${values.format}`);
      if (!values.month || !MONTH.test(values.month)) throw new UsageError(`--month must be YYYY-MM (e.g. 2026-11), got ${values.month ?? 'nothing'}`);
      if ((format === 'xlsx' || format === 'pdf') && process.stdout.isTTY) throw new UsageError(`a ${format} file is bytes: send it to a file, e.g. report --month ${values.month} --format ${format} > report.${format}`);
      // the pushed configuration (names, reasons, working-day calendar) as the running hub has it
      const hall = new Hall({ store, config, clock: systemClock, setWindows: () => {}, publishPublicConfig: () => {} });
      hall.applyStored();
      const reports = new Reports({ store, hall, identity: { hallId: config.hallId, areaCode: config.areaCode, deptCode: config.deptCode }, clock: systemClock });
      const { body } = await reports.render(reports.monthly(values.month), format);
      if (typeof body !== 'string' && process.env['npm_lifecycle_event'] === 'hub' && process.env['npm_config_loglevel'] !== 'silent') {
        process.stderr.write(`hub: npm printed its banner before the ${format} (readers skip it); \`npm run -s hub -- …\` writes the file alone\n`);
      }
      await new Promise<void>((resolve, reject) => process.stdout.write(body, (error) => (error ? reject(error) : resolve())));
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    if (error instanceof UsageError) {
      process.stderr.write(`hub: ${error.message}\n`);
      process.exit(2);
    }
    const message = error instanceof StoreError || error instanceof HttpError || error instanceof Error ? error.message : String(error);
    process.stderr.write(`hub: ${message}\n`);
    process.exit(1);
  },
);
