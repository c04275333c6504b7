/**
 * The SMS follow-up (PROTOCOL 7, 政务回访短信): invitations to rate a transaction left unrated
 * at the counter, replies taken as ratings on channel `sms`, and a small API other modules use
 * to text a citizen (`queueMessage`, the 差评 loop's feedback). Everything lives in the store:
 * the outbox, the inbox and the numbers that unsubscribed.
 *
 * A message's life (one row of `sms_outbox`):
 *
 *   queued ──claim──▶ sending ──at the `> ` prompt, committed before the text──▶ submitted
 *     ▲                  │                                                          │
 *     └── ERROR, no prompt, the modem away (never written: safe to send again) ─────┤
 *     └── +CMS ERROR: <n> (the modem refused it), after a backoff ──────────────────┤
 *                                                                   +CMGS: <mr> ──▶ sent
 *                                      no answer after Ctrl-Z, an unplug, a stop ──▶ unknown
 *   queued ──▶ cancelled (rated meanwhile, unsubscribed) | expired (not sent within replyWindowH)
 *   (the scan) ──▶ skipped (the number unsubscribed, or had its invitation that day)
 *
 * Sent at most once: a row is `submitted` on disk before Ctrl-Z goes to the modem, so a hub
 * that stops or crashes knows at its next start which messages may have gone out. `sending`
 * ones never reached Ctrl-Z and go back to the queue; `submitted` ones become `unknown` and are
 * never sent again (a reply to one is still taken). PROTOCOL 7 asks for neither loss nor
 * repetition; only this one window — between Ctrl-Z and the modem's answer — cannot give both,
 * and a citizen texted twice is worse than one invitation in a thousand crashes missing.
 */
import { evaluationOfTransaction } from './ingest.js';
import { createHash } from 'node:crypto';
import { Emitter, MAX_COMMENT_CHARS, MOBILE_PHONE, type ByteTransport, type Evaluation, type SmsStatus } from '../protocol/index.js';
import { Timers, isoNow, type Clock, type TimerHandle } from './clock.js';
import type { HubConfig } from './config.js';
import { maskContact, type CommitResult, type HallIdentity } from './evaluations.js';
import { ADMINS, type Route } from './http.js';
import type { Logger } from './log.js';
import { MAX_SMS_CHARS, Modem, ModemError, normalizeNumber, parseScts, type ModemOptions, type ReceivedSms } from './modem.js';
import { stmt, type Db, type Store } from './store.js';

export type SmsConfig = NonNullable<HubConfig['sms']>;

// ---------------------------------------------------------------------------------------------
// Pure decisions
// ---------------------------------------------------------------------------------------------

const MINUTE = 60_000;
const DAY = 86_400_000;
/** China Standard Time: UTC+8 all year. */
const CST = 8 * 3_600_000;

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * When the quiet hours around `now` end (epoch ms), or undefined outside them. `[from, to]`
 * are China Standard Time; `from` after `to` spans midnight; equal means no quiet hours.
 */
export function quietUntil(now: number, [from, to]: readonly [string, string]): number | undefined {
  const f = minutesOf(from);
  const t = minutesOf(to);
  if (f === t) return undefined;
  const local = now + CST;
  const midnight = Math.floor(local / DAY) * DAY;
  const m = (local - midnight) / MINUTE;
  const quiet = f < t ? m >= f && m < t : m >= f || m < t;
  if (!quiet) return undefined;
  let end = midnight + t * MINUTE;
  if (end <= local) end += DAY;
  return end - CST;
}

/** The China date of an instant, `YYYY-MM-DD`: the "day" of one invitation a number a day. */
export function chinaDate(ms: number): string {
  return new Date(ms + CST).toISOString().slice(0, 10);
}

/** What a reply says. */
export type Reply = { kind: 'rating'; level: 1 | 2 | 3 | 4 | 5; comment: string } | { kind: 'unsubscribe' } | { kind: 'text'; text: string };

/**
 * PROTOCOL 7: a first character 1–5 (ASCII or full-width １–５) is a rating, and what follows
 * it in the same message is its comment; `TD` (any case, full-width too, punctuation around it
 * ignored) unsubscribes; anything else is text.
 */
export function classifyReply(raw: string): Reply {
  const text = raw.replace(/^[\s\u3000]+|[\s\u3000]+$/g, '');
  const first = text.codePointAt(0) ?? 0;
  const level = first >= 0x31 && first <= 0x35 ? first - 0x30 : first >= 0xff11 && first <= 0xff15 ? first - 0xff10 : 0;
  if (level > 0) {
    const rest = [...text.slice(1).replace(/^[\s\u3000\p{P}分]+/u, '')].slice(0, MAX_COMMENT_CHARS).join('');
    return { kind: 'rating', level: level as 1 | 2 | 3 | 4 | 5, comment: rest };
  }
  if (/^[\p{P}\s]*[TtＴｔ][DdＤｄ][\p{P}\s]*$/u.test(text)) return { kind: 'unsubscribe' };
  return { kind: 'text', text };
}

/**
 * The invitation, within 70 characters: `{signature}请评价{windowId}窗口服务:回复5非常满意…`; a
 * window id too long for one message is left out.
 */
export function invitationText(signature: string, windowId: string): string {
  const body = (w: string) => `${signature}请评价${w}窗口服务:回复5非常满意4满意3基本满意2不满意1非常不满意`;
  const text = body(windowId);
  return text.length <= MAX_SMS_CHARS ? text : body('');
}

/** A number as the opt-out list keeps it: a hash, so the list holds no number anyone gave without an invitation. */
export function numberHash(number: string): string {
  return createHash('sha256').update(`sms-optout:${number}`).digest('hex');
}

/** +CMS ERROR or ERROR: the wait before the next attempt, 30 s doubling to 10 min. */
export function retryDelayMs(attempts: number): number {
  return Math.min(10 * MINUTE, 30_000 * 2 ** Math.max(0, attempts - 1));
}

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

type OutboxState = 'queued' | 'sending' | 'submitted' | 'sent' | 'unknown' | 'failed' | 'skipped' | 'cancelled' | 'expired';

interface OutboxRow {
  id: number;
  number: string;
  text: string;
  purpose: string;
  txn_id: string | null;
  state: OutboxState;
  attempts: number;
  not_before: string;
  created_at: string;
  submitted_at: string | null;
}

/** Outbox states that count as an invitation the number has (for one a day). */
const LIVE_STATES = `('queued', 'sending', 'submitted', 'sent', 'unknown')`;

/**
 * The scan (in one write): every transaction done `delayS` ago or more, with a consented
 * contact, still unrated and without an invitation decision, gets one: queued for the end of
 * the quiet hours if it falls in them, or skipped (unsubscribed, or the number's invitation of
 * that China day is taken). Transactions done more than a day ago are left alone: a hub that
 * was off for days does not text people about last week. `since` is where the last scan
 * looked up to: a scan reads only what came due after it (a minute back, for a transaction
 * committed a little after its `done_at`), not the whole day again.
 */
export function queueInvitations(db: Db, now: number, config: Pick<SmsConfig, 'delayS' | 'quietHours' | 'signature'>, since?: number): number {
  const due = new Date(now - config.delayS * 1000).toISOString();
  const oldest = new Date(Math.max(now - DAY, since === undefined ? -Infinity : since - MINUTE)).toISOString();
  const candidates = stmt(
    db,
    `SELECT t.txn_id, t.window_id, t.contact FROM transactions t INDEXED BY transactions_sms_due
     WHERE t.contact IS NOT NULL AND t.done_at > ? AND t.done_at <= ? AND t.state = 'done' AND t.rated_by IS NULL
       AND NOT EXISTS (SELECT 1 FROM sms_outbox o WHERE o.txn_id = t.txn_id AND o.purpose = 'invitation')
     ORDER BY t.done_at`,
  ).all(oldest, due) as { txn_id: string; window_id: string; contact: string }[];
  const at = new Date(now).toISOString();
  const notBefore = quietUntil(now, config.quietHours) ?? now;
  const day = chinaDate(notBefore);
  const insert = stmt(
    db,
    `INSERT OR IGNORE INTO sms_outbox (number, text, purpose, txn_id, state, reason, not_before, day, created_at, updated_at)
     VALUES (?, ?, 'invitation', ?, ?, ?, ?, ?, ?, ?)`,
  );
  let queued = 0;
  for (const t of candidates) {
    if (!MOBILE_PHONE.test(t.contact)) continue;
    let skip: string | null = null;
    if (stmt(db, 'SELECT 1 FROM sms_optout WHERE number_hash = ?').get(numberHash(t.contact))) skip = 'unsubscribed';
    else if (stmt(db, `SELECT 1 FROM sms_outbox INDEXED BY sms_by_number WHERE number = ? AND day = ? AND purpose = 'invitation' AND state IN ${LIVE_STATES}`).get(t.contact, day)) skip = 'daily-limit';
    insert.run(t.contact, invitationText(config.signature, t.window_id), t.txn_id, skip ? 'skipped' : 'queued', skip, new Date(notBefore).toISOString(), day, at, at);
    if (!skip) queued++;
  }
  return queued;
}

// ---------------------------------------------------------------------------------------------
// The module
// ---------------------------------------------------------------------------------------------

export interface SmsDeps {
  config: SmsConfig;
  store: Store;
  clock: Clock;
  log: Logger;
  hall: HallIdentity;
  /** Opens the modem's port (hub/ports.ts; a pty in tests). */
  connect(): ByteTransport;
  /** Commits a rating through ingest (一事一评, duplicates, the dashboards). */
  commit(record: Evaluation): Promise<CommitResult>;
  /** Free space is below its floor: replies stay on the SIM until it recovers. */
  storageLow(): boolean;
  /**
   * A rating texted in answer to a 差评's feedback (a message of purpose `feedback`, the latest
   * the number got): the second rating (评价次数 2, hub/handling.ts). Undefined when no 差评 of
   * that number awaits one.
   */
  secondRating?(number: string, level: 1 | 2 | 3 | 4 | 5, comment: string): Promise<{ ok: true; evaluation: { id: string } } | { ok: false; message: string } | undefined>;
  /** Outbox rows past this are pruned once sent or given up, days. */
  retentionDays: number;
  /** How often transactions are scanned for invitations due, ms. Default 10000. */
  scanEveryMs?: number;
  /** The modem driver's timing (tests, the demo). Default: the driver's. */
  modem?: Partial<Pick<ModemOptions, 'commandTimeoutMs' | 'submitTimeoutMs' | 'listTimeoutMs' | 'reopenMinMs' | 'reopenMaxMs' | 'signalEveryMs'>>;
}

/** `queueMessage`'s answer. */
export type QueueResult = { queued: true; id: number } | { queued: false; reason: 'unsubscribed' };

/** A reply's outcome, as `sms_inbox.outcome` keeps it. */
export type ReplyOutcome = 'rated' | 'second-rating' | 'already-rated' | 'unsubscribed' | 'comment' | 'no-invitation' | 'ignored';

export interface SmsEvents {
  /** A message left the outbox: sent, or settled without sending (`unknown`, `expired`, `cancelled`). */
  outcome: [event: { id: number; state: OutboxState; purpose: string }];
  /** A reply was taken (its outcome is on disk). */
  reply: [event: { outcome: ReplyOutcome; txnId: string | null }];
}

export class Sms extends Emitter<SmsEvents> {
  readonly modem: Modem;
  private readonly timers: Timers;
  private stopped = true;
  private pumping = false;
  /** The latest `done_at` a scan has decided up to, epoch ms (in memory: a start scans the last day). */
  private scannedUpTo: number | undefined;
  private lastScanAt: number | undefined;
  private again = false;
  private wake: TimerHandle | undefined;
  private readonly counts = { sent: 0, received: 0, ignored: 0, uncertain: 0, failed: 0 };

  constructor(private readonly deps: SmsDeps) {
    super();
    this.timers = new Timers(deps.clock);
    this.modem = new Modem({
      port: deps.config.modem.path,
      connect: deps.connect,
      clock: deps.clock,
      log: deps.log,
      received: (message) => this.received(message),
      ...deps.modem,
    });
    this.modem.on('state', (state) => state === 'ready' && this.pump());
  }

  /** Settles what a stop or crash left in flight, opens the modem, starts the scan. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const at = isoNow(this.deps.clock);
    const recovered = this.deps.store.writeNow((db) => ({
      // never reached Ctrl-Z: safe to send
      requeued: db.prepare(`UPDATE sms_outbox SET state = 'queued', updated_at = ? WHERE state = 'sending'`).run(at).changes,
      // may have gone out: never sent again
      uncertain: db.prepare(`UPDATE sms_outbox SET state = 'unknown', reason = 'in flight when the hub stopped', updated_at = ? WHERE state = 'submitted'`).run(at).changes,
    }));
    if (recovered.requeued || recovered.uncertain) this.deps.log({ level: recovered.uncertain ? 'warn' : 'info', msg: 'SMS in flight at the last stop settled', requeued: recovered.requeued, uncertain: recovered.uncertain });
    this.loadCounts();
    this.modem.start();
    this.timers.every(this.deps.scanEveryMs ?? 10_000, () => void this.scan());
    this.timers.every(3_600_000, () => void this.prune());
    void this.scan();
  }

  /** Stops as a crash would for a message in flight: the next start settles it. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.clearAll();
    this.wake = undefined;
    await this.modem.stop();
  }

  /**
   * Texts a citizen (the 差评 loop's feedback, say): at most 70 characters, outside the quiet
   * hours, never to a number that unsubscribed. Resolves once the message is in the store.
   */
  async queueMessage(number: string, text: string, purpose: string): Promise<QueueResult> {
    const result = await this.deps.store.submit((db) => this.enqueue(db, number, text, purpose));
    this.pump();
    return result;
  }

  /**
   * `queueMessage` inside the caller's write, for a message that must be durable together with
   * what it tells (the 差评 loop's step). Call `sendQueued` after the commit.
   */
  enqueue(db: Db, number: string, text: string, purpose: string): QueueResult {
    if (typeof number !== 'string' || !MOBILE_PHONE.test(number)) throw new TypeError('number: expected a mainland mobile number (11 digits)');
    if (typeof text !== 'string' || text.length === 0 || text.length > MAX_SMS_CHARS) throw new TypeError(`text: 1 to ${MAX_SMS_CHARS} characters, got ${typeof text === 'string' ? text.length : typeof text}`);
    if (typeof purpose !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(purpose) || purpose === 'invitation') throw new TypeError('purpose: a lower-case word such as "feedback" (invitations are the hub\'s own)');
    const now = this.deps.clock.now();
    const at = new Date(now).toISOString();
    let result: QueueResult;
    if (stmt(db, 'SELECT 1 FROM sms_optout WHERE number_hash = ?').get(numberHash(number))) result = { queued: false, reason: 'unsubscribed' };
    else {
      const id = stmt(db, `INSERT INTO sms_outbox (number, text, purpose, state, not_before, day, created_at, updated_at) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)`).run(number, text, purpose, at, chinaDate(now), at, at).lastInsertRowid;
      result = { queued: true, id: Number(id) };
    }
    this.deps.log({ level: 'info', msg: result.queued ? 'SMS queued' : 'SMS not queued: the number unsubscribed', purpose, number: maskContact(number) });
    return result;
  }

  /** Sends what `enqueue` put in the outbox (after its commit). */
  sendQueued(): void {
    this.pump();
  }

  /** The modem and the outbox, for `GET /api/sync` and the technician page. */
  status(): SmsStatus {
    const outbox = this.deps.store.read((db) => (stmt(db, `SELECT COUNT(*) AS n FROM sms_outbox INDEXED BY sms_due WHERE state = 'queued'`).get() as { n: number }).n);
    const inFlight = this.deps.store.read((db) => (stmt(db, `SELECT COUNT(*) AS n FROM sms_outbox INDEXED BY sms_in_flight WHERE state IN ('sending', 'submitted')`).get() as { n: number }).n);
    return { ...this.modem.status(), outbox: outbox + inFlight, ...this.counts };
  }

  /** Comments texted after an SMS rating (PROTOCOL 7), oldest first: kept beside the rating, which is not changed. */
  commentsFor(evaluationId: string): { text: string; at: string }[] {
    return this.deps.store.read((db) => db.prepare(`SELECT text, received_at AS at FROM sms_inbox WHERE evaluation_id = ? AND outcome = 'comment' ORDER BY id`).all(evaluationId) as { text: string; at: string }[]);
  }

  /** `GET /api/sms`: the status and the latest messages, numbers masked (admin). */
  routes(): Route[] {
    return [
      {
        method: 'GET',
        pattern: /^\/api\/sms$/,
        who: ADMINS,
        handler: async () => {
          const recent = this.deps.store.read(
            (db) =>
              db.prepare(`SELECT id, number, purpose, txn_id AS txnId, state, reason, attempts, created_at AS createdAt, sent_at AS sentAt FROM sms_outbox ORDER BY id DESC LIMIT 50`).all() as (Record<string, unknown> & { number: string })[],
          );
          return { body: { ...this.status(), recent: recent.map((r) => ({ ...r, number: maskContact(r.number) })) } };
        },
      },
    ];
  }

  // ---- invitations ----

  private async scan(): Promise<void> {
    if (this.stopped) return;
    const now = this.deps.clock.now();
    if (this.lastScanAt !== undefined && now < this.lastScanAt) this.scannedUpTo = undefined; // the clock went back: look at the whole day
    this.lastScanAt = now;
    const since = this.scannedUpTo;
    try {
      const queued = await this.deps.store.submit((db) => queueInvitations(db, now, this.deps.config, since));
      if (now === this.lastScanAt) this.scannedUpTo = now - this.deps.config.delayS * 1000; // only the latest scan moves the mark
      if (queued > 0) this.deps.log({ level: 'info', msg: 'SMS invitations queued', count: queued });
    } catch (error) {
      if (!this.stopped) this.deps.log({ level: 'error', msg: 'SMS scan failed', error: (error as Error).message });
      return;
    }
    this.pump();
  }

  // ---- sending ----

  /** Sends what is due, one message at a time, while the modem is ready. */
  private pump(): void {
    if (this.stopped || this.modem.state !== 'ready') return;
    if (this.pumping) {
      this.again = true; // something was queued while the drain looked: it looks once more
      return;
    }
    this.pumping = true;
    this.again = false;
    void this.drain()
      .catch((error: Error) => !this.stopped && this.deps.log({ level: 'error', msg: 'SMS sending failed', error: error.message }))
      .finally(() => {
        this.pumping = false;
        if (this.again) this.pump();
      });
  }

  private async drain(): Promise<void> {
    while (!this.stopped && this.modem.state === 'ready') {
      const now = this.deps.clock.now();
      const quiet = quietUntil(now, this.deps.config.quietHours);
      if (quiet !== undefined) return this.wakeAt(quiet);
      const claim = await this.deps.store.submit((db) => this.claim(db, now));
      if (this.stopped) return;
      if (claim === undefined) {
        const next = this.nextDue();
        if (next !== undefined && next <= this.deps.clock.now()) continue; // came due while the claim looked
        return this.wakeAt(next);
      }
      if (claim === 'settled') continue;
      await this.send(claim);
    }
  }

  /** The next due message, marked `sending`; 'settled' when the one found is not to be sent. */
  private claim(db: Db, now: number): OutboxRow | 'settled' | undefined {
    const at = new Date(now).toISOString();
    const row = stmt(db, `SELECT * FROM sms_outbox INDEXED BY sms_due WHERE state = 'queued' AND not_before <= ? ORDER BY not_before, id LIMIT 1`).get(at) as OutboxRow | undefined;
    if (!row) return undefined;
    const settle = (state: OutboxState, reason: string) => {
      stmt(db, 'UPDATE sms_outbox SET state = ?, reason = ?, updated_at = ? WHERE id = ?').run(state, reason, at, row.id);
      if (state === 'expired') this.counts.failed++;
      queueMicrotask(() => this.emit('outcome', { id: row.id, state, purpose: row.purpose }));
      return 'settled' as const;
    };
    if (stmt(db, 'SELECT 1 FROM sms_optout WHERE number_hash = ?').get(numberHash(row.number))) return settle('cancelled', 'unsubscribed');
    if (row.purpose === 'invitation') {
      const txn = stmt(db, 'SELECT rated_by, state FROM transactions WHERE txn_id = ?').get(row.txn_id) as { rated_by: string | null; state: string } | undefined;
      if (txn?.rated_by) return settle('cancelled', 'rated');
      if (txn?.state === 'cancelled') return settle('cancelled', 'transaction cancelled');
      if (Date.parse(row.created_at) + this.deps.config.replyWindowH * 3_600_000 < now) return settle('expired', 'not sent within the reply window');
    }
    stmt(db, `UPDATE sms_outbox SET state = 'sending', attempts = attempts + 1, updated_at = ? WHERE id = ?`).run(at, row.id);
    return { ...row, attempts: row.attempts + 1 };
  }

  private async send(row: OutboxRow): Promise<void> {
    const { store, clock, log } = this.deps;
    const fields = { id: row.id, purpose: row.purpose, txnId: row.txn_id, number: maskContact(row.number), attempt: row.attempts };
    try {
      const { mr } = await this.modem.send(row.number, row.text, async () => {
        if (this.stopped) throw new ModemError('closed', 'the hub is stopping');
        // PROTOCOL 7 "never repeated": on disk before Ctrl-Z
        await store.submit((db) => stmt(db, `UPDATE sms_outbox SET state = 'submitted', submitted_at = ?, updated_at = ? WHERE id = ?`).run(isoNow(clock), isoNow(clock), row.id));
      });
      if (this.stopped) return; // settled at the next start, as after a crash
      await store.submit((db) => stmt(db, `UPDATE sms_outbox SET state = 'sent', mr = ?, sent_at = ?, reason = NULL, updated_at = ? WHERE id = ?`).run(mr, isoNow(clock), isoNow(clock), row.id));
      this.counts.sent++;
      log({ level: 'info', msg: 'SMS sent', ...fields, mr });
      this.emit('outcome', { id: row.id, state: 'sent', purpose: row.purpose });
    } catch (caught) {
      if (this.stopped) return;
      const error = caught instanceof ModemError ? caught : undefined;
      const at = isoNow(clock);
      if (error?.maybeSent) {
        await store.submit((db) => stmt(db, `UPDATE sms_outbox SET state = 'unknown', reason = ?, updated_at = ? WHERE id = ?`).run(error.message, at, row.id));
        this.counts.uncertain++;
        log({ level: 'warn', msg: 'SMS may or may not have gone out; not sent again', ...fields, error: error.message });
        this.emit('outcome', { id: row.id, state: 'unknown', purpose: row.purpose });
        return;
      }
      // refused (+CMS ERROR, ERROR), never written, or not recorded (the store failed before
      // Ctrl-Z): queued again, after a backoff unless the modem was only away
      const away = error?.code === 'closed' || error?.code === 'not-ready' || error?.code === 'timeout';
      const message = (caught as Error).message;
      const notBefore = new Date(clock.now() + (away ? 0 : retryDelayMs(row.attempts))).toISOString();
      await store.submit((db) => stmt(db, `UPDATE sms_outbox SET state = 'queued', reason = ?, not_before = ?, updated_at = ? WHERE id = ?`).run(message, notBefore, at, row.id));
      log({ level: 'warn', msg: 'SMS not sent; queued again', ...fields, error: message, retryAt: notBefore });
    }
  }

  /** The earliest `not_before` of a queued message, epoch ms. */
  private nextDue(): number | undefined {
    const row = this.deps.store.read((db) => stmt(db, `SELECT MIN(not_before) AS at FROM sms_outbox INDEXED BY sms_due WHERE state = 'queued'`).get() as { at: string | null });
    return row.at ? Date.parse(row.at) : undefined;
  }

  private wakeAt(at: number | undefined): void {
    this.timers.cancel(this.wake);
    this.wake = undefined;
    if (at === undefined || this.stopped) return;
    this.wake = this.timers.after(Math.max(0, at - this.deps.clock.now()), () => {
      this.wake = undefined;
      this.pump();
    });
  }

  // ---- replies ----

  /**
   * A message from the SIM. Resolves once its outcome is on disk (the modem then deletes it);
   * throws while storage is low, so it stays on the SIM. A message read twice (the hub stopped
   * before `AT+CMGD`) is recognised by its hash and taken once.
   */
  private async received(message: ReceivedSms): Promise<void> {
    const { store, clock, log, config } = this.deps;
    if (this.deps.storageLow()) throw new Error('hub storage is below its free-space floor');
    const number = normalizeNumber(message.number);
    const key = createHash('sha256').update(`${number}\n${message.scts}\n${message.text}`).digest('hex');
    if (store.read((db) => stmt(db, 'SELECT 1 FROM sms_inbox WHERE key = ?').get(key))) return;
    const now = clock.now();
    const at = new Date(now).toISOString();
    const reply = classifyReply(message.text);
    const keep = (outcome: ReplyOutcome, fields: { text?: string | null; txnId?: string | null; evaluationId?: string | null } = {}) =>
      store.submit((db) => {
        stmt(db, 'INSERT OR IGNORE INTO sms_inbox (key, text, received_at, outcome, txn_id, evaluation_id) VALUES (?, ?, ?, ?, ?, ?)').run(key, fields.text ?? null, at, outcome, fields.txnId ?? null, fields.evaluationId ?? null);
      });
    const done = (outcome: ReplyOutcome, txnId: string | null) => {
      this.counts.received++;
      if (outcome === 'no-invitation' || outcome === 'ignored') this.counts.ignored++;
      log({ level: 'info', msg: 'SMS reply', outcome, txnId, number: maskContact(number) });
      this.emit('reply', { outcome, txnId });
    };

    if (reply.kind === 'unsubscribe') {
      await store.submit((db) => {
        stmt(db, 'INSERT OR IGNORE INTO sms_optout (number_hash, at) VALUES (?, ?)').run(numberHash(number), at);
        stmt(db, `UPDATE sms_outbox SET state = 'cancelled', reason = 'unsubscribed', updated_at = ? WHERE number = ? AND state = 'queued'`).run(at, number);
      });
      await keep('unsubscribed');
      return done('unsubscribed', null);
    }

    const since = new Date(now - config.replyWindowH * 3_600_000).toISOString();
    // a rating answering a 差评's feedback, when that was the last message the number got
    if (reply.kind === 'rating' && this.deps.secondRating) {
      const latest = store.read(
        (db) =>
          stmt(db, `SELECT purpose FROM sms_outbox INDEXED BY sms_to_number WHERE number = ? AND submitted_at >= ? AND state IN ('sent', 'unknown') ORDER BY submitted_at DESC, id DESC LIMIT 1`).get(number, since) as
            | { purpose: string }
            | undefined,
      );
      if (latest?.purpose === 'feedback') {
        const second = await this.deps.secondRating(number, reply.level, reply.comment);
        // none awaiting (already given, say): the reply answered the feedback all the same
        const outcome: ReplyOutcome = second?.ok ? 'second-rating' : second ? 'already-rated' : 'ignored';
        if (second && !second.ok) log({ level: 'info', msg: 'SMS second rating refused', reason: second.message });
        await keep(outcome, { text: message.text.slice(0, MAX_COMMENT_CHARS), evaluationId: second?.ok ? second.evaluation.id : null });
        return done(outcome, null);
      }
    }
    const invitation = store.read(
      (db) =>
        stmt(
          db,
          `SELECT id, txn_id, submitted_at FROM sms_outbox INDEXED BY sms_by_number WHERE number = ? AND purpose = 'invitation' AND state IN ('sent', 'unknown') AND submitted_at >= ?
           ORDER BY submitted_at DESC LIMIT 1`,
        ).get(number, since) as { id: number; txn_id: string; submitted_at: string } | undefined,
    );
    if (!invitation) {
      await keep('no-invitation');
      return done('no-invitation', null);
    }
    const txnId = invitation.txn_id;
    const evaluationId = `SMS-${txnId}`;

    if (reply.kind === 'text') {
      // PROTOCOL 7: text is kept only when it follows a rating of this invitation's transaction
      const rated = store.read((db) => stmt(db, `SELECT 1 FROM evaluations WHERE id = ? AND status = 'accepted'`).get(evaluationId));
      if (!rated) {
        await keep('ignored', { txnId });
        return done('ignored', txnId);
      }
      await keep('comment', { text: [...reply.text].slice(0, MAX_COMMENT_CHARS).join(''), txnId, evaluationId });
      return done('comment', txnId);
    }

    const txn = store.read(
      (db) =>
        stmt(db, 'SELECT window_id, staff_id, staff_name, matter_code, matter_name FROM transactions WHERE txn_id = ?').get(txnId) as
          | { window_id: string; staff_id: string | null; staff_name: string | null; matter_code: string | null; matter_name: string | null }
          | undefined,
    );
    const sentAt = Date.parse(invitation.submitted_at);
    const scts = parseScts(message.scts);
    // when the citizen texted, if the network's time stamp is plausible; else when it arrived
    const evaluatedAt = scts !== undefined && scts >= sentAt - 5 * MINUTE && scts <= now + 5 * MINUTE ? new Date(scts).toISOString() : at;
    const record = evaluationOfTransaction({
      hall: this.deps.hall,
      id: evaluationId,
      channel: 'sms',
      level: reply.level,
      comment: reply.comment,
      contact: number,
      txn: { txnId, windowId: txn?.window_id ?? null, staffId: txn?.staff_id ?? null, staffName: txn?.staff_name ?? null, matterCode: txn?.matter_code ?? null, matterName: txn?.matter_name ?? null },
      evaluatedAt,
      receivedAt: at,
      deviceId: 'sms',
    });
    const result = await this.deps.commit(record);
    // a duplicate is this very reply read again after a stop before its inbox row was written,
    // or a second rating texted for the transaction: told apart by the inbox
    const firstTime = result.status === 'ok' || (result.status === 'duplicate' && !store.read((db) => stmt(db, `SELECT 1 FROM sms_inbox INDEXED BY sms_inbox_evaluation WHERE evaluation_id = ? AND outcome = 'rated'`).get(evaluationId)));
    const outcome: ReplyOutcome = firstTime ? 'rated' : 'already-rated';
    await keep(outcome, { text: message.text.slice(0, MAX_COMMENT_CHARS), txnId, evaluationId: outcome === 'rated' ? evaluationId : null });
    done(outcome, txnId);
  }

  // ---- upkeep ----

  private loadCounts(): void {
    const states = this.deps.store.read((db) => db.prepare('SELECT state, COUNT(*) AS n FROM sms_outbox GROUP BY state').all() as { state: OutboxState; n: number }[]);
    const of = (s: OutboxState) => states.find((r) => r.state === s)?.n ?? 0;
    const inbox = this.deps.store.read((db) => db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(outcome IN ('no-invitation', 'ignored')), 0) AS ignored FROM sms_inbox`).get() as { n: number; ignored: number });
    Object.assign(this.counts, { sent: of('sent'), uncertain: of('unknown'), failed: of('failed') + of('expired'), received: inbox.n, ignored: inbox.ignored });
  }

  /** Retention: messages sent or given up, and replies, past `storage.retentionDays`. */
  private async prune(): Promise<void> {
    const cutoff = new Date(this.deps.clock.now() - this.deps.retentionDays * DAY).toISOString();
    await this.deps.store
      .submit((db) => {
        db.prepare(`DELETE FROM sms_outbox WHERE state NOT IN ('queued', 'sending', 'submitted') AND updated_at < ?`).run(cutoff);
        db.prepare('DELETE FROM sms_inbox WHERE received_at < ?').run(cutoff);
      })
      .catch(() => {});
  }
}
