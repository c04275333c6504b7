/**
 * The QR channel (PROTOCOL 8, 微信评价二维码): a signed link per finished transaction, the
 * phone page's API (`GET`/`POST /api/rate/{token}`, open to anyone: the token is the
 * credential) and the ratings the platform collects itself (PROTOCOL 3 `channel-ratings`,
 * answered on `channel-acks`). Every rating goes through ingest's commit, so 一事一评, the
 * sync, the dashboards and the evaluator's prompt cancellation work as for any rating.
 *
 *   token = {payload}.{mac}
 *   payload = base64url(UTF-8 JSON {"h": hallId, "t": txnId, "w": windowId, "e": expiresAtEpochSeconds})
 *   mac = base64url(HMAC-SHA256(qr.secret, payload as ASCII)[0..16))
 */
import { evaluationOfTransaction } from './ingest.js';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { z } from 'zod';
import { MAX_COMMENT_CHARS, MAX_STR_BYTES, PayloadError, StoreError, utf8Bytes, type Evaluation, type Reason } from '../protocol/index.js';
import { isoNow, type Clock } from './clock.js';
import type { HubConfig } from './config.js';
import { findTransaction, type CommitResult, type HallIdentity } from './evaluations.js';
import { HttpError, readJson, type Route } from './http.js';
import type { Logger } from './log.js';
import type { Store } from './store.js';

// ---- the token (pure) ----

/** What a token says: hall, transaction, window, expiry (epoch seconds). Key order is the contract's. */
export interface TokenClaims {
  h: string;
  t: string;
  w: string;
  e: number;
}

/** Why a rating of the QR channel is refused (PROTOCOL 3 `channel-acks` reasons). */
export type RefusalReason = 'already-evaluated' | 'bad-token' | 'expired' | 'invalid';

/** PROTOCOL 3 `channel-acks`, and the answer of `POST /api/rate/{token}`. */
export interface ChannelAck {
  id: string;
  status: 'ok' | 'duplicate' | 'rejected';
  reason?: RefusalReason;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Longest token read: a 64-byte txnId and window id make about 300 characters. */
const MAX_TOKEN_CHARS = 1000;

function mac(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload, 'ascii').digest().subarray(0, 16).toString('base64url');
}

/** The token of PROTOCOL 8 for these claims. */
export function signToken(secret: string, claims: TokenClaims): string {
  const json = JSON.stringify({ h: claims.h, t: claims.t, w: claims.w, e: claims.e });
  const payload = Buffer.from(json, 'utf8').toString('base64url');
  return `${payload}.${mac(secret, payload)}`;
}

const claimsSchema = z.object({
  h: z.string().min(1),
  t: z.string().min(1).refine((t) => utf8Bytes(t) <= MAX_STR_BYTES),
  w: z.string().min(1),
  e: z.int().min(0),
});

/**
 * Checks a token: a bad MAC, a malformed token or another hall's is `bad-token`; one whose
 * expiry is at or before `atMs` is `expired` (with what it says). The MAC is checked first,
 * so nothing of an unsigned payload is ever read.
 */
export function readToken(
  secret: string,
  token: string,
  hallId: string,
  atMs: number,
): { ok: true; claims: TokenClaims } | { ok: false; reason: 'expired'; claims: TokenClaims } | { ok: false; reason: 'bad-token' } {
  const bad = { ok: false, reason: 'bad-token' } as const;
  if (token.length > MAX_TOKEN_CHARS) return bad;
  const parts = token.split('.');
  if (parts.length !== 2) return bad;
  const [payload, given] = parts as [string, string];
  if (!BASE64URL.test(payload) || !BASE64URL.test(given)) return bad;
  const expected = Buffer.from(mac(secret, payload));
  const actual = Buffer.from(given);
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return bad;
  let claims: TokenClaims;
  try {
    const parsed = claimsSchema.safeParse(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(payload, 'base64url'))));
    if (!parsed.success) return bad;
    claims = parsed.data;
  } catch {
    return bad;
  }
  if (claims.h !== hallId) return bad;
  if (claims.e * 1000 <= atMs) return { ok: false, reason: 'expired', claims };
  return { ok: true, claims };
}

/**
 * The hub's own address for `rateUrl` when `qr.baseUrl` is not set: `http://{http.host}:{port}`;
 * a hub listening on every interface (`0.0.0.0`, `::`) names its first LAN IPv4 address
 * instead, since a phone cannot open 0.0.0.0.
 */
export function hubBaseUrl(host: string, port: number, interfaces = networkInterfaces()): string {
  let name = host;
  if (host === '0.0.0.0' || host === '::') {
    const lan = Object.values(interfaces)
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    name = lan?.address ?? host;
  }
  return `http://${name.includes(':') ? `[${name}]` : name}:${port}`;
}

// ---- the channel ----

export interface QrChannelDeps {
  hall: HallIdentity;
  /** `qr` of the configuration; absent: no `rateUrl`, and every token is `bad-token`. */
  qr: HubConfig['qr'];
  /** The hub's own base URL (used when `qr.baseUrl` is null); read when a URL is made. */
  ownBaseUrl(): string;
  store: Store;
  clock: Clock;
  log: Logger;
  /** Ingest's commit: 一事一评, then the sync, the dashboards and the window are told. */
  commit(record: Evaluation): Promise<CommitResult>;
  /** Free space is below the floor: no new ratings now. */
  storageLow(): boolean;
  /** The hall's reason catalogue (PROTOCOL 2 public config). */
  reasons(): readonly Reason[];
  hallName(): string;
  windowName(windowId: string): string | undefined;
}

/** What the phone page shows for a token (`GET /api/rate/{token}`). */
export type RateLinkState =
  | { state: 'open'; hallName: string; windowId: string; windowName: string; staffName: string | null; matterName: string | null; expiresAt: string; reasons: readonly Reason[] }
  | { state: 'rated'; hallName: string; /** this link gave the rating (else another channel did) */ byThisLink: boolean }
  | { state: 'expired' | 'bad-token'; hallName: string };

/** A rating's fields as the phone page or the platform send them (validated here). */
const ratingFields = z.object({
  level: z.int().min(1).max(5),
  reasons: z.array(z.string().min(1).max(32)).max(16).optional(),
  comment: z.string().refine((s) => [...s].length <= MAX_COMMENT_CHARS, `at most ${MAX_COMMENT_CHARS} characters`).optional(),
});

/** PROTOCOL 3 `channel-ratings`: `{id, token, level, reasons?, comment?, evaluatedAt}`. */
const channelRatingEnvelope = z.object({
  id: z.string().min(1).max(64),
  token: z.string().min(1),
  evaluatedAt: z.iso.datetime({ offset: true }),
});

/** A platform's clock may run ahead of the hub's by this much, ms. */
const FUTURE_SKEW_MS = 5 * 60_000;

/** HTTP status of each refusal on `POST /api/rate/{token}`. */
const HTTP_STATUS: Record<RefusalReason, number> = { 'already-evaluated': 409, expired: 410, 'bad-token': 404, invalid: 400 };
const MESSAGES: Record<RefusalReason, string> = {
  'already-evaluated': 'this transaction is already rated (one rating per transaction, PROTOCOL 1.3)',
  expired: 'this rating link has expired',
  'bad-token': 'this is not a rating link of this hall',
  invalid: 'expected {level: 1..5, reasons?: codes of the hall\'s catalogue, comment?: at most 500 characters}',
};

export class QrChannel {
  constructor(private readonly deps: QrChannelDeps) {}

  /** The QR URL of a done transaction (PROTOCOL 8), or undefined without `qr` configured. */
  rateUrl(windowId: string, txnId: string): string | undefined {
    const { qr, hall, store, clock } = this.deps;
    if (!qr) return undefined;
    // expiry = done time (as stored, on the hub's clock) + qr.validH
    const row = store.read((db) => db.prepare('SELECT done_at FROM transactions WHERE txn_id = ? AND window_id = ?').get(txnId, windowId)) as { done_at: string | null } | undefined;
    const doneMs = row?.done_at ? Date.parse(row.done_at) : clock.now();
    const token = signToken(qr.secret, { h: hall.hallId, t: txnId, w: windowId, e: Math.floor(doneMs / 1000) + qr.validH * 3600 });
    return `${(qr.baseUrl ?? this.deps.ownBaseUrl()).replace(/\/+$/, '')}/r/${token}`;
  }

  /** What the phone page shows for a token. */
  linkState(token: string): RateLinkState {
    const hallName = this.deps.hallName();
    const checked = this.check(token, this.deps.clock.now());
    if (!checked.ok) return { state: checked.reason, hallName };
    const { txn, claims } = checked;
    if (txn.ratedBy) return { state: 'rated', hallName, byThisLink: txn.ratedBy === `QR-${txn.txnId}` };
    const names = this.deps.store.read((db) => db.prepare('SELECT matter_name FROM transactions WHERE txn_id = ?').get(txn.txnId)) as { matter_name: string | null } | undefined;
    return {
      state: 'open',
      hallName,
      windowId: txn.windowId,
      windowName: this.deps.windowName(txn.windowId) ?? txn.windowId,
      staffName: txn.staffName,
      matterName: names?.matter_name ?? null,
      expiresAt: new Date(claims.e * 1000).toISOString(),
      reasons: this.deps.reasons(),
    };
  }

  /**
   * Rates the transaction a token names. `evaluatedAt` is when the citizen tapped: the hub's
   * time for its own page, the platform's for a rating it collected (the expiry is checked
   * against it, so a rating made in time is not lost to a late delivery). Resolves after the
   * commit; throws `StoreError` when the rating cannot be stored now.
   */
  async rate(token: string, fields: unknown, source: { evaluatedAtMs: number; deviceId: 'qr-page' | 'qr-platform' }): Promise<ChannelAck> {
    const checked = this.check(token, source.evaluatedAtMs);
    if (!checked.ok) return { id: checked.reason === 'expired' ? `QR-${checked.claims.t}` : '', status: 'rejected', reason: checked.reason };
    const { txn } = checked;
    const id = `QR-${txn.txnId}`;
    const parsed = ratingFields.safeParse(fields);
    const catalogue = new Set(this.deps.reasons().map((r) => r.code));
    if (!parsed.success || (parsed.data.reasons ?? []).some((code) => !catalogue.has(code))) return { id, status: 'rejected', reason: 'invalid' };
    const reasons = [...new Set(parsed.data.reasons ?? [])];
    const comment = parsed.data.comment ?? '';
    if (this.deps.storageLow()) throw new StoreError('unavailable', 'hub storage is below its free-space floor');
    let record: Evaluation;
    try {
      record = evaluationOfTransaction({
        hall: this.deps.hall,
        id,
        channel: 'qr',
        level: parsed.data.level,
        reasons,
        comment,
        txn,
        evaluatedAt: new Date(source.evaluatedAtMs).toISOString(),
        receivedAt: isoNow(this.deps.clock),
        deviceId: source.deviceId,
      });
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      return { id, status: 'rejected', reason: 'invalid' };
    }
    const result = await this.deps.commit(record);
    switch (result.status) {
      case 'ok':
        return { id, status: 'ok' };
      case 'refused':
        return { id, status: 'rejected', reason: 'already-evaluated' };
      case 'duplicate':
        // the same link used again: the same rating is a repeat, another one a second rating
        return this.sameAsStored(record) ? { id, status: 'duplicate' } : { id, status: 'rejected', reason: 'already-evaluated' };
      default:
        result satisfies never;
        throw new TypeError('unknown commit result');
    }
  }

  /**
   * A rating the platform collected (PROTOCOL 3 `channel-ratings`): the answer for
   * `channel-acks`, after the commit; undefined when it cannot be stored now (no answer: the
   * platform sends it again).
   */
  async fromPlatform(payload: Uint8Array): Promise<ChannelAck | undefined> {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
    } catch {
      this.deps.log({ level: 'warn', msg: 'platform channel rating is not JSON', bytes: payload.length });
      return { id: '', status: 'rejected', reason: 'invalid' };
    }
    const readableId = typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string' ? (value as { id: string }).id.slice(0, 64) : '';
    const envelope = channelRatingEnvelope.safeParse(value);
    if (!envelope.success) return this.answered({ id: readableId, status: 'rejected', reason: 'invalid' });
    const evaluatedAtMs = Date.parse(envelope.data.evaluatedAt);
    if (evaluatedAtMs > this.deps.clock.now() + FUTURE_SKEW_MS) return this.answered({ id: envelope.data.id, status: 'rejected', reason: 'invalid' });
    try {
      const ack = await this.rate(envelope.data.token, value, { evaluatedAtMs, deviceId: 'qr-platform' });
      // the platform's own id is what it waits for
      return this.answered({ ...ack, id: envelope.data.id });
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      this.deps.log({ level: 'warn', msg: 'platform channel rating not stored now: no ack, the platform sends it again', id: envelope.data.id, error: error.message });
      return undefined;
    }
  }

  /** `GET /api/rate/{token}` and `POST /api/rate/{token}`: open to anyone, the token is the credential. */
  routes(): Route[] {
    const tokenParam = (raw: string) => {
      try {
        return decodeURIComponent(raw);
      } catch {
        return '';
      }
    };
    return [
      { method: 'GET', pattern: /^\/api\/rate\/([^/]+)$/, who: 'anyone', handler: async ({ params }) => ({ body: this.linkState(tokenParam(params[0]!)) }) },
      {
        method: 'POST',
        pattern: /^\/api\/rate\/([^/]+)$/,
        who: 'anyone',
        handler: async ({ req, params }) => {
          const token = tokenParam(params[0]!);
          let body: unknown;
          try {
            body = await readJson(req);
          } catch (error) {
            if (!(error instanceof HttpError) || error.status !== 400) throw error;
            body = undefined; // malformed JSON: a rating with invalid fields
          }
          let ack: ChannelAck;
          try {
            ack = await this.rate(token, body, { evaluatedAtMs: this.deps.clock.now(), deviceId: 'qr-page' });
          } catch (error) {
            if (error instanceof StoreError) throw new HttpError(503, 'storage-unavailable', 'the hub cannot store ratings right now; please try again later');
            throw error;
          }
          this.answered(ack);
          if (ack.status !== 'rejected') return { body: ack };
          const reason = ack.reason!;
          return { status: HTTP_STATUS[reason], body: { ...ack, error: { code: reason, message: MESSAGES[reason] } } };
        },
      },
    ];
  }

  /** Token, hall, expiry, then the transaction: one the hub recorded at the token's window. */
  private check(token: string, atMs: number) {
    const { qr, hall, store } = this.deps;
    if (!qr) return { ok: false, reason: 'bad-token' } as const;
    const read = readToken(qr.secret, token, hall.hallId, atMs);
    if (!read.ok) return read;
    const txn = store.read((db) => findTransaction(db, read.claims.t));
    if (!txn || txn.windowId !== read.claims.w || txn.state === 'cancelled') return { ok: false, reason: 'bad-token' } as const;
    return { ok: true, claims: read.claims, txn } as const;
  }

  /** The record stored under the same id is an accepted rating with the same level, reasons and comment. */
  private sameAsStored(record: Evaluation): boolean {
    const row = this.deps.store.read((db) => db.prepare('SELECT level, reasons, comment, status FROM evaluations WHERE id = ?').get(record.id)) as { level: number; reasons: string; comment: string; status: string } | undefined;
    if (!row || row.status !== 'accepted') return false;
    const stored = (JSON.parse(row.reasons) as string[]).slice().sort();
    const given = record.reasons.slice().sort();
    return row.level === record.level && row.comment === record.comment && stored.length === given.length && stored.every((r, i) => r === given[i]);
  }

  private answered(ack: ChannelAck): ChannelAck {
    if (ack.status === 'rejected') this.deps.log({ level: 'info', msg: 'QR rating refused', id: ack.id, reason: ack.reason });
    return ack;
  }
}
