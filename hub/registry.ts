/**
 * Devices, windows and who is on duty: the hub's registry, kept in the store and cached in
 * memory. Every change made by a person (API, CLI, configuration) is audited.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DEFAULT_SETTINGS, DEVICE_ID_RULE, isValidDeviceId, type DeviceKind, type DutyName, type Hello, type Settings } from '../protocol/index.js';
import { parsePayload } from '../protocol/schemas.js';
import { isoNow, systemClock, type Clock } from './clock.js';
import type { HubConfig } from './config.js';
import { audit, type Db, type Store } from './store.js';


export interface DeviceRecord {
  deviceId: string;
  kind: DeviceKind;
  windowId: string | null;
  paired: boolean;
  model: string;
  fwVersion: string;
  settings: Settings | null;
  firstSeenAt: string | null;
  lastSeenAt: string | null;
  state: string | null;
  queued: number | null;
  tokenHash: string | null;
}

export interface WindowInfo {
  id: string;
  name: string;
}

export interface StaffOnDuty {
  duty: DutyName;
  staffId: string;
  staffName: string;
  staffTitle: string;
}

interface DeviceRow {
  device_id: string;
  kind: DeviceKind;
  window_id: string | null;
  paired: number;
  model: string;
  fw_version: string;
  token_hash: string | null;
  settings: string | null;
  first_seen_at: string | null;
  last_seen_at: string | null;
  state: string | null;
  queued: number | null;
}

const fromRow = (r: DeviceRow): DeviceRecord => ({
  deviceId: r.device_id,
  kind: r.kind,
  windowId: r.window_id,
  paired: r.paired === 1,
  model: r.model,
  fwVersion: r.fw_version,
  settings: r.settings ? (JSON.parse(r.settings) as Settings) : null,
  firstSeenAt: r.first_seen_at,
  lastSeenAt: r.last_seen_at,
  state: r.state,
  queued: r.queued,
  tokenHash: r.token_hash,
});

/** A pairing refused for what it names (an id that is not a device id). */
export class PairingError extends Error {
  override readonly name = 'PairingError';
  readonly code = 'invalid-device-id' as const;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function readDevices(db: Db): DeviceRecord[] {
  return (db.prepare('SELECT * FROM devices ORDER BY kind, device_id').all() as DeviceRow[]).map(fromRow);
}

/**
 * Pairs a device to a window in the caller's write transaction. An evaluator the hub has seen
 * (or that the configuration names) stays an evaluator; any other id is a tablet and gets a
 * fresh token, returned once and stored only as a hash.
 */
export function pairDevice(db: Db, deviceId: string, windowId: string, actor: string, kind?: DeviceKind): { kind: DeviceKind; token?: string } {
  // the one check of an id, whoever pairs (API, CLI, configuration): a tablet id becomes an MQTT topic segment and ACL
  if (!isValidDeviceId(deviceId)) throw new PairingError(`"${deviceId}" is not a device id: it must be ${DEVICE_ID_RULE}`);
  const existing = db.prepare('SELECT kind FROM devices WHERE device_id = ?').get(deviceId) as { kind: DeviceKind } | undefined;
  const resolved: DeviceKind = kind ?? existing?.kind ?? 'tablet';
  // One evaluator per window: pairing a new one unpairs the previous.
  if (resolved === 'evaluator') {
    db.prepare(`UPDATE devices SET paired = 0, window_id = NULL WHERE kind = 'evaluator' AND window_id = ? AND device_id <> ?`).run(windowId, deviceId);
  }
  const token = resolved === 'tablet' ? randomBytes(18).toString('base64url') : undefined;
  db.prepare(
    `INSERT INTO devices (device_id, kind, window_id, paired, token_hash) VALUES (?, ?, ?, 1, ?)
     ON CONFLICT (device_id) DO UPDATE SET kind = excluded.kind, window_id = excluded.window_id, paired = 1,
       token_hash = COALESCE(excluded.token_hash, devices.token_hash)`,
  ).run(deviceId, resolved, windowId, token ? hashToken(token) : null);
  audit(db, actor, 'pair', { deviceId, windowId, kind: resolved });
  return token ? { kind: resolved, token } : { kind: resolved };
}

export function unpairDevice(db: Db, deviceId: string, actor: string): boolean {
  const changed = db.prepare('UPDATE devices SET paired = 0, window_id = NULL, token_hash = NULL WHERE device_id = ? AND paired = 1').run(deviceId).changes > 0;
  if (changed) audit(db, actor, 'unpair', { deviceId });
  return changed;
}

export class Registry {
  private readonly windowMap = new Map<string, WindowInfo>();
  private devices = new Map<string, DeviceRecord>();
  private staff = new Map<string, StaffOnDuty>();

  constructor(
    private readonly store: Store,
    private readonly config: HubConfig,
    private readonly clock: Clock = systemClock,
  ) {
    for (const w of config.windows) this.windowMap.set(w.id, { id: w.id, name: w.name || w.id });
    this.reload();
  }

  /** The hall's windows by id. */
  get windows(): ReadonlyMap<string, WindowInfo> {
    return this.windowMap;
  }

  /** The hall's windows changed (a pushed config): known windows are renamed, new ones added. */
  setWindows(windows: readonly WindowInfo[]): void {
    for (const w of windows) this.windowMap.set(w.id, { ...w });
  }

  /** Applies the configuration's pre-pairings (`windows[].deviceId`), audited. */
  async applyConfigPairings(): Promise<void> {
    const wanted = this.config.windows.filter((w) => w.deviceId && this.pairing(w.deviceId)?.windowId !== w.id);
    if (wanted.length === 0) return;
    await this.store.submit((db) => {
      for (const w of wanted) pairDevice(db, w.deviceId!, w.id, 'config', 'evaluator');
    });
    this.reload();
  }

  /** Re-reads devices and duty from the store (after a change, or one made by the CLI). */
  reload(): void {
    this.devices = new Map(this.store.read(readDevices).map((d) => [d.deviceId, d]));
    const rows = this.store.read((db) => db.prepare('SELECT * FROM window_staff').all()) as { window_id: string; duty: DutyName; staff_id: string; staff_name: string; staff_title: string }[];
    this.staff = new Map(rows.map((r) => [r.window_id, { duty: r.duty, staffId: r.staff_id, staffName: r.staff_name, staffTitle: r.staff_title }]));
  }

  device(deviceId: string): DeviceRecord | undefined {
    return this.devices.get(deviceId);
  }

  all(): DeviceRecord[] {
    return [...this.devices.values()];
  }

  /** The window and settings of a paired evaluator (PROTOCOL 1.4 WELCOME). */
  pairing(deviceId: string): { windowId: string; windowName: string; settings: Settings } | undefined {
    const d = this.devices.get(deviceId);
    if (!d || !d.paired || !d.windowId || d.kind !== 'evaluator') return undefined;
    return { windowId: d.windowId, windowName: this.windows.get(d.windowId)?.name ?? d.windowId, settings: d.settings ?? { ...DEFAULT_SETTINGS } };
  }

  evaluatorAt(windowId: string): DeviceRecord | undefined {
    return [...this.devices.values()].find((d) => d.kind === 'evaluator' && d.paired && d.windowId === windowId);
  }

  tabletsAt(windowId: string): DeviceRecord[] {
    return [...this.devices.values()].filter((d) => d.kind === 'tablet' && d.paired && d.windowId === windowId);
  }

  /** The window a paired tablet serves, or null. */
  tabletWindow(tabletId: string): string | null {
    const d = this.devices.get(tabletId);
    return d && d.kind === 'tablet' && d.paired ? d.windowId : null;
  }

  /** Checks a tablet's token in constant time. */
  tabletToken(tabletId: string, token: string): boolean {
    const d = this.devices.get(tabletId);
    if (!d || d.kind !== 'tablet' || !d.paired || !d.tokenHash) return false;
    const a = Buffer.from(d.tokenHash, 'hex');
    const b = Buffer.from(hashToken(token), 'hex');
    return a.length === b.length && timingSafeEqual(a, b);
  }

  staffAt(windowId: string): StaffOnDuty {
    return this.staff.get(windowId) ?? { duty: 'off', staffId: '', staffName: '', staffTitle: '' };
  }

  async setStaff(windowId: string, staff: StaffOnDuty, actor: string): Promise<void> {
    await this.store.submit((db) => {
      db.prepare(
        `INSERT INTO window_staff (window_id, duty, staff_id, staff_name, staff_title, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (window_id) DO UPDATE SET duty = excluded.duty, staff_id = excluded.staff_id, staff_name = excluded.staff_name,
           staff_title = excluded.staff_title, updated_at = excluded.updated_at`,
      ).run(windowId, staff.duty, staff.staffId, staff.staffName, staff.staffTitle, isoNow(this.clock));
      audit(db, actor, 'staff', { windowId, duty: staff.duty, staffId: staff.staffId });
    });
    this.staff.set(windowId, staff);
  }

  /** A HELLO: remember the device (and auto-pair it if configured). Pending ones are listed. */
  async recordHello(hello: Hello): Promise<void> {
    const now = isoNow(this.clock);
    const known = this.devices.get(hello.deviceId);
    let autoWindow: string | undefined;
    if (this.config.devices.autoPair && !known?.paired) {
      autoWindow = [...this.windows.keys()].find((w) => !this.evaluatorAt(w));
    }
    await this.store.submit((db) => {
      db.prepare(
        `INSERT INTO devices (device_id, kind, model, fw_version, first_seen_at, last_seen_at, boot_count) VALUES (?, 'evaluator', ?, ?, ?, ?, ?)
         ON CONFLICT (device_id) DO UPDATE SET model = excluded.model, fw_version = excluded.fw_version, last_seen_at = excluded.last_seen_at,
           boot_count = excluded.boot_count, first_seen_at = COALESCE(devices.first_seen_at, excluded.first_seen_at)`,
      ).run(hello.deviceId, hello.model, hello.fwVersion, now, now, hello.bootCount);
      if (autoWindow) pairDevice(db, hello.deviceId, autoWindow, 'auto-pair', 'evaluator');
    });
    if (autoWindow) {
      this.reload();
      return;
    }
    // one row changed: update it in memory, not a reload of every device (a HELLO flood costs little)
    if (known) Object.assign(known, { model: hello.model, fwVersion: hello.fwVersion, lastSeenAt: now, firstSeenAt: known.firstSeenAt ?? now });
    else {
      const row = this.store.read((db) => db.prepare('SELECT * FROM devices WHERE device_id = ?').get(hello.deviceId)) as DeviceRow | undefined;
      if (row) this.devices.set(hello.deviceId, fromRow(row));
    }
  }

  /** Forgets evaluators that said HELLO but were never paired and have not been seen since `before`. */
  async expirePending(before: string): Promise<number> {
    const n = await this.store.submit((db) => db.prepare(`DELETE FROM devices WHERE paired = 0 AND window_id IS NULL AND token_hash IS NULL AND settings IS NULL AND last_seen_at < ?`).run(before).changes);
    if (n > 0) this.reload();
    return n;
  }

  async setDeviceSettings(deviceId: string, settings: Settings, actor: string): Promise<void> {
    const valid = parsePayload('device-settings', settings);
    await this.store.submit((db) => {
      db.prepare('UPDATE devices SET settings = ? WHERE device_id = ?').run(JSON.stringify(valid), deviceId);
      audit(db, actor, 'settings', { deviceId, settings: valid });
    });
    this.reload();
  }

  /**
   * Remembers the last-seen time, and an evaluator's state and queue depth: an evaluator's link
   * reports them, the broker a tablet's comings and goings (each at most every few seconds per device).
   */
  async updateStatus(deviceId: string, fields: { state?: string; queued?: number }): Promise<void> {
    const now = isoNow(this.clock);
    await this.store.submit((db) =>
      db.prepare('UPDATE devices SET last_seen_at = ?, state = COALESCE(?, state), queued = COALESCE(?, queued) WHERE device_id = ?').run(now, fields.state ?? null, fields.queued ?? null, deviceId),
    );
    const d = this.devices.get(deviceId);
    if (d) {
      d.lastSeenAt = now;
      if (fields.state !== undefined) d.state = fields.state;
      if (fields.queued !== undefined) d.queued = fields.queued;
    }
  }
}
