/**
 * The read models of the HTTP API and the CLI (PROTOCOL 5): health, devices, the sync
 * summary, the 差评 list, suggestions, audit, evaluations, statistics and the export. Reads
 * only; every write goes through ingest, the registry, the hall or the handling steps.
 */
import type { Writable } from 'node:stream';
import { listEvaluations, maskContact, rowToEvaluation, stats, syncSummary, type EvaluationRow, type HallIdentity } from './evaluations.js';
import { writeExport, type ExportRange } from './export.js';
import type { AuditRow, DeviceListItem, DissatisfiedItem, HallInfo, Health, ListedEvaluation, SmsStatus, StatGroup, StatRow, Suggestion, SyncSummary } from '../protocol/index.js';
import type { Clock } from './clock.js';
import type { Hall } from './hall.js';
import { stepsOf, summarize } from './handling.js';
import type { SelfTestResult } from './ingest.js';
import type { Links } from './links.js';
import type { Registry } from './registry.js';
import type { Store } from './store.js';
import type { PlatformSync } from './sync.js';

export const HUB_VERSION = '0.1.0';

export interface ViewsDeps {
  store: Store;
  registry: Registry;
  links: Links;
  hall: Hall;
  clock: Clock;
  identity: HallIdentity;
  platformUrl: string | null;
  startedAt: number;
  tabletsOnline(): ReadonlySet<string>;
  storageLow(): boolean;
  platform(): PlatformSync | undefined;
  /** The latest self-test an evaluator reported (EVENT 4), if any. */
  selfTest(deviceId: string): SelfTestResult | undefined;
  /** [r2] The SMS modem and outbox (hub/sms.ts); undefined when `sms` is not configured. */
  sms?(): SmsStatus | undefined;
}

export class Views {
  /** The last PUBACK and receipt as the store remembers them, read once (see `syncStatus`). */
  private storedSync: { lastPubackAt: string | null; lastReceiptAt: string | null } | undefined;

  constructor(private readonly deps: ViewsDeps) {}

  health(): Health {
    const sync = this.syncStatus();
    const devices = this.devices();
    return {
      // not ok while the hub cannot take ratings (its disk is nearly full)
      ok: !this.deps.storageLow(),
      hallId: this.deps.identity.hallId,
      version: HUB_VERSION,
      uptimeS: Math.round((this.deps.clock.now() - this.deps.startedAt) / 1000),
      backlog: sync.backlog.pending + sync.backlog.sent,
      platformConnected: this.deps.platform()?.state.connected ?? false,
      devices: { online: devices.filter((d) => d.online).length, total: devices.filter((d) => d.paired).length },
    };
  }

  devices(): DeviceListItem[] {
    const tablets = this.deps.tabletsOnline();
    return this.deps.registry.all().map((d) => {
      const link = this.deps.links.summary(d.deviceId);
      const selfTest = d.kind === 'evaluator' ? this.deps.selfTest(d.deviceId) : undefined;
      return {
        deviceId: d.deviceId,
        kind: d.kind,
        paired: d.paired,
        windowId: d.windowId,
        online: d.kind === 'tablet' ? tablets.has(d.deviceId) : !!link?.online,
        model: d.model,
        fwVersion: d.fwVersion,
        state: d.state,
        queued: d.queued,
        lastSeenAt: d.lastSeenAt,
        linkErrors: link?.linkErrors ?? 0,
        ...(d.kind === 'evaluator' ? { settings: d.settings } : {}),
        ...(selfTest ? { selfTest: { at: selfTest.at, failed: [...selfTest.failed] } } : {}),
        ...(link ? { link: link.link } : {}),
        ...(link?.conflictWith ? { conflict: link.conflictWith } : {}),
      };
    });
  }

  /**
   * Backlog by state and the platform link (PROTOCOL 5 `GET /api/sync`). The last PUBACK and
   * receipt are the live session's; before this run has had one, the store's (a restarted hub
   * still knows when it last synced).
   */
  syncStatus(): SyncSummary {
    const s = this.deps.store.read(syncSummary);
    const platform = this.deps.platform();
    const state = platform?.state;
    const lastPubackAt = state?.lastPubackAt ?? this.stored().lastPubackAt;
    const lastReceiptAt = state?.lastReceiptAt ?? this.stored().lastReceiptAt;
    const sms = this.deps.sms?.();
    return {
      backlog: { pending: s.pending, sent: s.sent, confirmed: s.confirmed, rejected: s.rejected, notSynced: s.local },
      oldestUnsyncedAt: s.oldestUnsyncedAt,
      lastPubackAt,
      lastReceiptAt,
      platformConnected: state?.connected ?? false,
      platform: this.deps.platformUrl,
      refusal: state?.refusal ?? null,
      config: { version: state?.configVersion ?? null, error: state?.configError ?? null },
      storageLow: this.deps.storageLow(),
      progress: platform?.progress() ?? { backlog: s.pending + s.sent, ratePerS: 0, etaS: null, words: 'no platform configured: evaluations stay in the local store' },
      ...(sms ? { sms } : {}),
    };
  }

  /**
   * When evaluations were last PUBACKed (`sent_at`) and confirmed (`confirmed_at`), from the
   * store. Read once: only the live sync writes these columns, and once it has, its own times
   * are newer. `sent_at` has no index over all rows, and health and the pages ask every few seconds.
   */
  private stored(): { lastPubackAt: string | null; lastReceiptAt: string | null } {
    this.storedSync ??= this.deps.store.read((db) => {
      const sent = db.prepare('SELECT MAX(sent_at) AS at FROM evaluations').get() as { at: string | null };
      const confirmed = db.prepare(`SELECT MAX(confirmed_at) AS at FROM evaluations WHERE sync_state = 'confirmed'`).get() as { at: string | null };
      return { lastPubackAt: sent.at, lastReceiptAt: confirmed.at };
    });
    return this.storedSync;
  }

  /** The hall's 差评 with their handling steps and deadlines, newest first. */
  dissatisfied(since: string): DissatisfiedItem[] {
    const { hall } = this.deps;
    const now = this.deps.clock.now();
    return this.deps.store.read((db) => {
      // every 差评 received since `since`, and every one whose loop is open however old; a
      // second rating (评价次数 2) closes a loop and is no 差评 of its own
      const rows = db
        .prepare(
          `SELECT * FROM evaluations e INDEXED BY evaluations_loops WHERE dissatisfied = 1 AND rating_no = 1
             AND (received_at >= ? OR NOT EXISTS (SELECT 1 FROM handling h WHERE h.evaluation_id = e.id AND h.step IN ('resolved', 're-rated')))
           ORDER BY received_at DESC LIMIT 5000`,
        )
        .all(since) as EvaluationRow[];
      return rows.map((row) => {
        const e = { ...rowToEvaluation(row, this.deps.identity), contact: maskContact(row.contact) };
        const steps = stepsOf(db, e.id);
        return { evaluation: e, handling: steps.map(({ complex: _marked, ...s }) => s), ...summarize(e, steps, hall, now) };
      });
    });
  }

  suggestions(limit: number): Suggestion[] {
    return this.deps.store.read((db) => db.prepare('SELECT tablet_id AS tabletId, text, at FROM suggestions ORDER BY id DESC LIMIT ?').all(limit) as { tabletId: string; text: string; at: string }[]);
  }

  /** What the dashboard and technician pages need to know about the hall. */
  hallInfo(): HallInfo {
    const { hall, identity } = this.deps;
    return {
      hallId: identity.hallId,
      hallName: hall.hallName(),
      windows: [...this.deps.registry.windows.values()],
      staff: hall.staff(),
      handlingDays: hall.handlingDays(),
      calendar: hall.calendar(),
      complaintPhone: hall.complaintPhone(),
    };
  }

  evaluations(options: { since?: string; limit: number }): ListedEvaluation[] {
    return this.deps.store.read((db) => listEvaluations(db, this.deps.identity, options));
  }

  stats(options: { from: string; to: string; by: StatGroup; includeMisuse: boolean }): StatRow[] {
    return this.deps.store.read((db) => stats(db, { ...options, departments: { hall: this.deps.identity.deptCode } }));
  }

  /** Streams the export of a range to `sink` (hub/export.ts); resolves with the records written. */
  export(range: ExportRange, sink: Writable): Promise<number> {
    return writeExport(this.deps.store, this.deps.identity, range, sink);
  }

  audit(limit: number): AuditRow[] {
    return this.deps.store.read((db) =>
      (db.prepare('SELECT at, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?').all(limit) as { at: string; actor: string; action: string; detail: string }[]).map((r) => ({ ...r, detail: JSON.parse(r.detail) as unknown })),
    );
  }
}
