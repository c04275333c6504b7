/**
 * The hub's HTTP API (PROTOCOL 5): JSON in and out, `{error: {code, message}}` on failure,
 * never a stack trace. Admin routes need `Authorization: Bearer {adminToken}`. Bodies are
 * limited to 64 KiB.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { z } from 'zod';
import { DEVICE_ID_RULE, DUTY_NAMES, MOBILE_PHONE, HANDLING_STEPS, describeIssue, isValidDeviceId, utf8Bytes, SERVICE_EVENT_NAMES, STAT_GROUP_NAMES, EXPORT_FORMATS, isTopicSegment, type DeviceKind, type ExportFormat, type StatGroup } from '../protocol/index.js';
import { deviceSettingsSchema } from '../protocol/schemas.js';
import type { HandlingOutcome, ReRatingOutcome } from './handling.js';
import type { Logger } from './log.js';
import type { Registry, StaffOnDuty } from './registry.js';
import type { Views } from './views.js';

export const MAX_BODY_BYTES = 64 * 1024;

/** What the API may read and do: the hub passes itself, tests may pass less. */
export interface HubApi {
  readonly views: Pick<Views, 'health' | 'devices' | 'syncStatus' | 'evaluations' | 'stats' | 'export' | 'audit' | 'hallInfo' | 'dissatisfied' | 'suggestions'>;
  readonly registry: Pick<Registry, 'windows' | 'staffAt' | 'device'>;
  readonly log: Logger;
  service(windowId: string, body: { event: 'started' | 'done' | 'cancelled'; txnId: string; matterCode?: string | undefined; matterName?: string | undefined; contact?: string | undefined; contactConsent?: boolean | undefined }, actor: string): Promise<void>;
  /** [r2] The QR rating URL of a done transaction (PROTOCOL 8), or undefined without `qr` configured. */
  rateUrl(windowId: string, txnId: string): string | undefined;
  setStaff(windowId: string, staff: StaffOnDuty, actor: string): Promise<void>;
  pair(deviceId: string, windowId: string, actor: string, kind?: DeviceKind): Promise<{ kind: DeviceKind; token?: string }>;
  unpair(deviceId: string, actor: string): Promise<boolean>;
  setDeviceSettings(deviceId: string, settings: Parameters<Registry['setDeviceSettings']>[1], actor: string): Promise<boolean>;
  selfTest(deviceId: string, actor: string): Promise<boolean>;
  /** [r2] A person's step on a 差评, in the order the loop allows (hub/handling.ts). */
  recordHandling(evaluationId: string, request: { step: (typeof HANDLING_STEPS)[number]; note: string | null; complex: boolean }, by: string): Promise<HandlingOutcome>;
  /** [r2] The citizen's second rating (评价次数 2), heard on the phone. */
  reRate(evaluationId: string, request: { level: number; reasons: string[]; comment: string }, by: string): Promise<ReRatingOutcome>;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const serviceBody = z
  .object({
    event: z.enum(Object.values(SERVICE_EVENT_NAMES)),
    txnId: z.string().min(1).refine((t) => utf8Bytes(t) <= 64, 'at most 64 UTF-8 bytes (PROTOCOL 1.3: a txnId is refused, never cut)'),
    matterCode: z.string().max(64).optional(),
    matterName: z.string().max(128).optional(),
    /** [r2] the citizen's mobile for an SMS follow-up or call-back; only with `contactConsent: true` */
    contact: z.string().regex(MOBILE_PHONE, 'expected a mainland mobile number').optional(),
    contactConsent: z.boolean().optional(),
  })
  .strict()
  .refine((b) => !b.contact || b.contactConsent === true, { message: 'a contact needs contactConsent: true (the citizen agreed at the counter)', path: ['contactConsent'] });
const staffBody = z
  .object({
    duty: z.enum(Object.values(DUTY_NAMES)),
    staffId: z.string().max(64).optional(),
    staffName: z.string().max(64).optional(),
    staffTitle: z.string().max(64).optional(),
  })
  .strict();
// PROTOCOL 5 [r2] `{step, note?, complex?}`; a `by` older pages send is read and ignored: `by` is the caller
const handlingBody = z
  .object({ step: z.enum(HANDLING_STEPS), by: z.string().max(64).optional(), note: z.string().max(500).optional(), complex: z.boolean().optional() })
  .strict();
/** The citizen's second rating as a handler heard it (评价次数 2). */
const reRatingBody = z
  .object({ level: z.int().min(1).max(5), reasons: z.array(z.string().min(1).max(32)).max(16).optional(), comment: z.string().max(500).optional() })
  .strict();
const pairBody = z.object({ windowId: z.string().min(1).max(64), kind: z.enum(['evaluator', 'tablet']).optional() }).strict();

/** Validates a body; the first problem is a 400 naming the field. */
function validate<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body, { reportInput: true });
  if (result.success) return result.data;
  const { key, problem } = describeIssue(result.error.issues[0]!);
  throw new HttpError(400, 'invalid-field', `${key || 'body'}: ${problem}`);
}

function isoParam(url: URL, name: string, fallback: string): string {
  const value = url.searchParams.get(name);
  if (value === null) return fallback;
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || !isCalendarDate(value)) throw new HttpError(400, 'invalid-field', `${name}: expected an ISO-8601 time, got ${JSON.stringify(value.slice(0, 40))}`);
  return new Date(ms).toISOString();
}

/**
 * Reads a JSON body of at most 64 KiB. An oversized one is answered 413 and the rest of it
 * drained (up to a limit), so the client reads the answer instead of a reset.
 */
/** `2026-02-30` parses (as 2 March) but is no date: the day must exist in its month. */
function isCalendarDate(value: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return mo >= 1 && mo <= 12 && d >= 1 && d <= new Date(Date.UTC(y, mo, 0)).getUTCDate();
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new HttpError(413, 'body-too-large', `request body exceeds ${MAX_BODY_BYTES} bytes`);
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
      drain(req);
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      req.off('end', onEnd);
      drain(req);
      reject(tooLarge());
    };
    const onEnd = () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return reject(new HttpError(400, 'bad-json', 'request body is empty; expected JSON'));
      try {
        resolve(JSON.parse(text));
      } catch (error) {
        // the position only: V8's message quotes the input, which may hold a phone number
        const at = /position (\d+)/.exec((error as Error).message)?.[1];
        reject(new HttpError(400, 'bad-json', `malformed JSON${at ? ` at byte ${at}` : ''}`));
      }
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', (error) => reject(new HttpError(400, 'bad-request', `request body could not be read: ${error.message}`)));
  });
}

/**
 * Reads and throws away what is left of a refused body, so the client can finish sending and
 * read the 413; past 16 MiB the connection is cut (a client that sends that much is not listening).
 */
function drain(req: IncomingMessage): void {
  let left = 16 * 1024 * 1024;
  req.on('data', (chunk: Buffer) => {
    left -= chunk.length;
    if (left < 0) req.socket.destroy();
  });
  req.resume();
}

function send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json; charset=utf-8'): void {
  // bytes (a spreadsheet, a PDF) go out as they are
  const text = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  // A 413 keeps the connection until the client has sent what it was sending (`drain`): closing
  // while it still writes resets the connection and the client never reads the answer.
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), 'x-content-type-options': 'nosniff' });
  res.end(text);
}

/**
 * A streamed answer: the headers now, the body chunked as the stream writes it. A failure once
 * the headers are out cannot become an error answer: it is logged and the connection cut, so
 * the client sees a broken transfer, never a short file that looks whole.
 */
async function sendStream(res: ServerResponse, status: number, answer: { stream: (out: Writable) => Promise<unknown>; contentType: string }, log: Logger, path: string): Promise<void> {
  res.writeHead(status, { 'content-type': answer.contentType, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  try {
    await answer.stream(res);
    res.end();
  } catch (error) {
    const gone = (error as { code?: unknown }).code === 'aborted';
    log({ level: gone ? 'info' : 'error', msg: gone ? 'streamed answer stopped: the client went away' : 'streamed answer failed part way: connection cut', path, error: (error as Error).message });
    res.destroy();
  }
}

/** PROTOCOL 5 [r2] roles. */
export const ROLES = ['queue', 'handler', 'manager', 'admin'] as const;
export type Role = (typeof ROLES)[number];
/** Who called: a person's name and role (`admin` for the configured admin token). */
export interface Person {
  name: string;
  role: Role;
}

/** Who may call a route: anyone, or people of these roles (admin may call every route). */
export type Access = 'anyone' | readonly Role[];
/** The handler's routes; a manager may call them too. */
export const HANDLERS: readonly Role[] = ['handler', 'manager'];
export const MANAGERS: readonly Role[] = ['manager'];
export const QUEUE: readonly Role[] = ['queue'];
export const ADMINS: readonly Role[] = [];

export interface RouteContext {
  req: IncomingMessage;
  url: URL;
  params: string[];
  /** Undefined on routes open to anyone. */
  person: Person | undefined;
}
/** A route's answer: a body sent whole, or a stream written as it comes (an export). */
export type Answer =
  | { status?: number; body: unknown; contentType?: string; headers?: Record<string, string> }
  | { status?: number; stream: (out: Writable) => Promise<unknown>; contentType: string; headers?: Record<string, string> };
export type Handler = (ctx: RouteContext) => Promise<Answer>;
export interface Route {
  method: string;
  pattern: RegExp;
  who: Access;
  handler: Handler;
}

export { readJson, send, validate };

/** The name audited for a person's action. */
const actor = (person: Person | undefined) => person?.name ?? 'anyone';

/** The bearer token of a request, if it carries one (the scheme in any case, RFC 7235). */
export function bearerToken(req: IncomingMessage): string | undefined {
  return /^bearer +(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
}

/** The admin token compared in constant time. */
export function adminCheck(adminToken: string): (token: string) => boolean {
  const expected = Buffer.from(adminToken);
  return (token) => {
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
}

export interface ApiOptions {
  /** Resolves a bearer token to a person, or undefined. */
  authenticate(token: string): Person | undefined;
  clock?: { now(): number };
  /** Routes of the other modules (channels, the 差评 loop, reports). */
  routes?: Route[];
}

export function createApi(hub: HubApi, options: ApiOptions) {
  const throttle = new AuthThrottle(hub.log, options.clock ?? Date);
  const decodeSegment = (name: string, raw: string) => {
    try {
      return decodeURIComponent(raw);
    } catch {
      throw new HttpError(400, 'invalid-field', `${name}: malformed percent-encoding in ${JSON.stringify(raw)}`);
    }
  };
  const knownWindow = (w: string) => {
    if (!hub.registry.windows.has(w)) throw new HttpError(404, 'unknown-window', `no window ${JSON.stringify(w)} in this hall`);
    return w;
  };
  const windowParam = (id: string) => knownWindow(decodeSegment('windowId', id));
  const deviceParam = (id: string) => {
    const d = decodeSegment('deviceId', id);
    if (!isValidDeviceId(d)) throw new HttpError(400, 'invalid-field', `deviceId: ${JSON.stringify(d)} is not a device id: it must be ${DEVICE_ID_RULE}`);
    return d;
  };

  const routes: Route[] = [
    { method: 'GET', pattern: /^\/api\/health$/, who: 'anyone', handler: async () => ({ body: hub.views.health() }) },
    // who the token belongs to: the staff pages show only what the role may do
    { method: 'GET', pattern: /^\/api\/me$/, who: ['queue', 'handler', 'manager'], handler: async ({ person }) => ({ body: { name: person!.name, role: person!.role } }) },
    {
      method: 'POST',
      pattern: /^\/api\/windows\/([^/]+)\/service$/,
      who: QUEUE,
      handler: async ({ req, params, person }) => {
        const windowId = windowParam(params[0]!);
        const body = validate(serviceBody, await readJson(req));
        await hub.service(windowId, body, actor(person));
        // [r2] `done` answers the QR code's URL, for the ticket printer or the tablet
        const rateUrl = body.event === 'done' ? hub.rateUrl(windowId, body.txnId) : undefined;
        return { status: 202, body: { accepted: true, windowId, txnId: body.txnId, event: body.event, ...(rateUrl ? { rateUrl } : {}) } };
      },
    },
    {
      method: 'PUT',
      pattern: /^\/api\/windows\/([^/]+)\/staff$/,
      who: QUEUE,
      handler: async ({ req, params, person }) => {
        const windowId = windowParam(params[0]!);
        const body = validate(staffBody, await readJson(req));
        await hub.setStaff(windowId, { duty: body.duty, staffId: body.staffId ?? '', staffName: body.staffName ?? '', staffTitle: body.staffTitle ?? '' }, actor(person));
        return { body: { windowId, ...hub.registry.staffAt(windowId) } };
      },
    },
    { method: 'GET', pattern: /^\/api\/devices$/, who: ADMINS, handler: async () => ({ body: { devices: hub.views.devices() } }) },
    {
      method: 'POST',
      pattern: /^\/api\/devices\/([^/]+)\/pair$/,
      who: ADMINS,
      handler: async ({ req, params, person }) => {
        const deviceId = deviceParam(params[0]!);
        const body = validate(pairBody, await readJson(req));
        knownWindow(body.windowId);
        const result = await hub.pair(deviceId, body.windowId, actor(person), body.kind);
        return { body: { deviceId, windowId: body.windowId, ...result } };
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/devices\/([^/]+)\/pair$/,
      who: ADMINS,
      handler: async ({ params, person }) => {
        const deviceId = deviceParam(params[0]!);
        if (!(await hub.unpair(deviceId, actor(person)))) throw new HttpError(404, 'not-paired', `device ${deviceId} is not paired`);
        return { body: { deviceId, paired: false } };
      },
    },
    {
      method: 'PUT',
      pattern: /^\/api\/devices\/([^/]+)\/settings$/,
      who: ADMINS,
      handler: async ({ req, params, person }) => {
        const deviceId = deviceParam(params[0]!);
        const settings = validate(deviceSettingsSchema.strict(), await readJson(req));
        const device = hub.registry.device(deviceId);
        if (!device || device.kind !== 'evaluator') throw new HttpError(404, 'unknown-device', `no evaluator ${deviceId}`);
        const delivered = await hub.setDeviceSettings(deviceId, settings, actor(person));
        return { body: { deviceId, settings, delivered } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/evaluations$/,
      who: MANAGERS,
      handler: async ({ url }) => {
        const limitText = url.searchParams.get('limit') ?? '100';
        const limit = Number(limitText);
        if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new HttpError(400, 'invalid-field', `limit: expected an integer 1..10000, got ${JSON.stringify(limitText)}`);
        const since = url.searchParams.has('since') ? isoParam(url, 'since', '') : undefined;
        return { body: { evaluations: hub.views.evaluations(since === undefined ? { limit } : { since, limit }) } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/stats$/,
      who: MANAGERS,
      handler: async ({ url }) => {
        const given = url.searchParams.get('by') ?? 'window';
        // a request-chosen key is matched against the list, never looked up on an object
        const by = STAT_GROUP_NAMES.find((name) => name === given) as StatGroup | undefined;
        if (!by) throw new HttpError(400, 'invalid-field', `by: expected one of ${STAT_GROUP_NAMES.join(', ')}, got ${JSON.stringify(given)}`);
        const from = isoParam(url, 'from', startOfTodayCst());
        const to = isoParam(url, 'to', new Date(Date.now() + 86_400_000).toISOString());
        const includeMisuse = url.searchParams.get('includeMisuse') === 'true';
        return { body: { from, to, by, groups: hub.views.stats({ from, to, by, includeMisuse }) } };
      },
    },
    { method: 'GET', pattern: /^\/api\/sync$/, who: ADMINS, handler: async () => ({ body: hub.views.syncStatus() }) },
    {
      method: 'GET',
      pattern: /^\/api\/export$/,
      who: MANAGERS,
      handler: async ({ url }) => {
        const format = (url.searchParams.get('format') ?? 'csv') as ExportFormat;
        if (!EXPORT_FORMATS.includes(format)) throw new HttpError(400, 'invalid-field', `format: expected csv, json or gb39046, got ${JSON.stringify(format)}`);
        const from = isoParam(url, 'from', '1970-01-01T00:00:00.000Z');
        const to = isoParam(url, 'to', '9999-12-31T00:00:00.000Z');
        // streamed: a year's export never sits in memory (hub/export.ts)
        return { stream: (out) => hub.views.export({ format, from, to }, out), contentType: format === 'json' ? 'application/json; charset=utf-8' : 'text/csv; charset=utf-8' };
      },
    },
    { method: 'GET', pattern: /^\/api\/audit$/, who: ADMINS, handler: async () => ({ body: { audit: hub.views.audit(200) } }) },
    { method: 'GET', pattern: /^\/api\/hall$/, who: HANDLERS, handler: async () => ({ body: hub.views.hallInfo() }) },
    {
      method: 'GET',
      pattern: /^\/api\/dissatisfied$/,
      who: HANDLERS,
      handler: async ({ url }) => ({ body: { dissatisfied: hub.views.dissatisfied(isoParam(url, 'since', new Date(Date.now() - 30 * 86_400_000).toISOString())) } }),
    },
    {
      method: 'POST',
      pattern: /^\/api\/evaluations\/([^/]+)\/handling$/,
      who: HANDLERS,
      handler: async ({ req, params, person }) => {
        const id = decodeSegment('evaluationId', params[0]!);
        const body = validate(handlingBody, await readJson(req));
        // `by` is the caller's name (PROTOCOL 5 [r2]), never what the body says
        const done = await hub.recordHandling(id, { step: body.step, note: body.note?.trim() || null, complex: body.complex === true }, actor(person));
        if (!done.ok) throw new HttpError(done.code === 'unknown-evaluation' ? 404 : 409, done.code, done.message);
        const { step } = done;
        return { status: 201, body: { evaluationId: id, stepId: step.stepId, step: body.step, at: step.at, by: step.by, note: step.note, deadlineAt: step.deadlineAt, complex: step.complex, phase: done.phase } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/evaluations\/([^/]+)\/re-rating$/,
      who: HANDLERS,
      handler: async ({ req, params, person }) => {
        const id = decodeSegment('evaluationId', params[0]!);
        const body = validate(reRatingBody, await readJson(req));
        const done = await hub.reRate(id, { level: body.level, reasons: body.reasons ?? [], comment: body.comment ?? '' }, actor(person));
        if (!done.ok) throw new HttpError(done.code === 'unknown-evaluation' ? 404 : 409, done.code, done.message);
        const { stepId, step, at, by, note } = done.step;
        return { status: 201, body: { evaluation: done.evaluation, step: { stepId, step, at, by, note } } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/devices\/([^/]+)\/self-test$/,
      who: ADMINS,
      handler: async ({ params, person }) => {
        const deviceId = deviceParam(params[0]!);
        const device = hub.registry.device(deviceId);
        if (!device || device.kind !== 'evaluator') throw new HttpError(404, 'unknown-device', `no evaluator ${deviceId}`);
        return { status: 202, body: { deviceId, delivered: await hub.selfTest(deviceId, actor(person)) } };
      },
    },
    { method: 'GET', pattern: /^\/api\/suggestions$/, who: MANAGERS, handler: async () => ({ body: { suggestions: hub.views.suggestions(200) } }) },
    ...(options.routes ?? []),
  ];

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = requestUrl(req);
    if (!url) {
      send(res, 400, { error: { code: 'bad-request', message: 'the request path is not a path on this server' } });
      return true;
    }
    if (!url.pathname.startsWith('/api/')) return false;
    try {
      const matching = routes.filter((r) => r.pattern.test(url.pathname));
      if (matching.length === 0) throw new HttpError(404, 'not-found', `no route ${url.pathname}`);
      const route = matching.find((r) => r.method === req.method);
      if (!route) throw new HttpError(405, 'method-not-allowed', `${req.method} is not allowed on ${url.pathname}; try ${matching.map((r) => r.method).join(', ')}`);
      let person: Person | undefined;
      if (route.who !== 'anyone') {
        const address = req.socket.remoteAddress ?? '?';
        const wait = throttle.waitS(address);
        if (wait > 0) throw new HttpError(429, 'too-many-attempts', `too many wrong tokens from this address: try again in ${wait} s`);
        const token = bearerToken(req);
        person = token ? options.authenticate(token) : undefined;
        if (!person) {
          if (token) throttle.failed(address);
          throw new HttpError(401, 'unauthorized', 'this route needs Authorization: Bearer {token} of a person with a role (PROTOCOL 5)');
        }
        if (person.role !== 'admin' && !route.who.includes(person.role)) {
          throw new HttpError(403, 'forbidden', `${person.name} (${person.role}) may not ${req.method} ${url.pathname}; it needs ${route.who.length ? route.who.join(' or ') : 'admin'}`);
        }
      }
      const params = route.pattern.exec(url.pathname)!.slice(1);
      const out = await route.handler({ req, url, params, person });
      for (const [k, v] of Object.entries(out.headers ?? {})) res.setHeader(k, v);
      if ('stream' in out) await sendStream(res, out.status ?? 200, out, hub.log, url.pathname);
      else send(res, out.status ?? 200, out.body, out.contentType);
    } catch (error) {
      if (error instanceof HttpError) {
        if (error.status === 429) res.setHeader('retry-after', /in (\d+) s/.exec(error.message)?.[1] ?? '60');
        send(res, error.status, { error: { code: error.code, message: error.message } });
      }
      else {
        hub.log({ level: 'error', msg: 'API request failed', path: url.pathname, error: (error as Error).message });
        send(res, 500, { error: { code: 'internal', message: 'the hub could not complete this request; see its log' } });
      }
    }
    return true;
  };
}

/**
 * Wrong tokens from one address (PROTOCOL 5 [r2]: slowed down and logged): after 5 within a
 * minute the address waits a minute, doubling with each further burst, up to an hour; one log
 * line per burst, never one per request.
 */
export class AuthThrottle {
  private readonly addresses = new Map<string, { fails: number[]; until: number; bursts: number }>();

  constructor(
    private readonly log: Logger,
    private readonly clock: { now(): number },
  ) {}

  /** Seconds the address must wait before trying again; 0 when it may try now. */
  waitS(address: string): number {
    const entry = this.addresses.get(address);
    return entry ? Math.max(0, Math.ceil((entry.until - this.clock.now()) / 1000)) : 0;
  }

  failed(address: string): void {
    const now = this.clock.now();
    let entry = this.addresses.get(address);
    if (!entry) {
      if (this.addresses.size > 10_000) this.addresses.clear(); // a spray of addresses cannot grow this without bound
      this.addresses.set(address, (entry = { fails: [], until: 0, bursts: 0 }));
    }
    entry.fails = entry.fails.filter((t) => t > now - 60_000);
    entry.fails.push(now);
    if (entry.fails.length < 5) return;
    entry.bursts++;
    entry.fails = [];
    const waitS = Math.min(3600, 60 * 2 ** (entry.bursts - 1));
    entry.until = now + waitS * 1000;
    this.log({ level: 'warn', msg: 'wrong tokens: address slowed down', address, waitS, bursts: entry.bursts });
  }
}

/**
 * The request's URL, or undefined when it does not parse as a path on this server (`//`,
 * `http://x`, a bad escape): an answer of its own, never an exception in a listener.
 */
export function requestUrl(req: IncomingMessage): URL | undefined {
  const raw = req.url ?? '/';
  if (!raw.startsWith('/') || raw.startsWith('//')) return undefined;
  try {
    return new URL(raw, 'http://hub');
  } catch {
    return undefined;
  }
}

/** Midnight today in China Standard Time, as an ISO instant. */
export function startOfTodayCst(now = Date.now()): string {
  const cst = now + 8 * 3600_000;
  return new Date(cst - (cst % 86_400_000) - 8 * 3600_000).toISOString();
}
