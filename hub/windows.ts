/**
 * What happens at a window (DESIGN "Hub"): the queue system's service events open, complete
 * or cancel a transaction (办件) and offer it to the window's evaluator (SERVICE) and tablets
 * (their retained `session`); the clerk on duty is told to the evaluator (STAFF). A rated
 * transaction is withdrawn from the window's tablets.
 */
import { Duty, DUTY_CODES, SERVICE_EVENT_CODES, hallTopics, type Channel, type Message, type ServiceEventName, type TabletSession } from '../protocol/index.js';
import { isoNow, type Clock } from './clock.js';
import { recordService } from './evaluations.js';
import type { Logger } from './log.js';
import type { Registry, StaffOnDuty } from './registry.js';
import type { Store } from './store.js';

export interface ServiceRequest {
  event: ServiceEventName;
  txnId: string;
  matterCode?: string | undefined;
  matterName?: string | undefined;
  /** [r2] The citizen's mobile, given with consent at the counter (for SMS and call-back). */
  contact?: string | undefined;
  contactConsent?: boolean | undefined;
}

export interface WindowsDeps {
  hallId: string;
  store: Store;
  registry: Registry;
  clock: Clock;
  log: Logger;
  /** Sends a reliable message to a welcomed evaluator; false if it is not there. */
  sendToDevice(deviceId: string, message: Message): boolean;
  /** Publishes a tablet's retained session. */
  offer(topic: string, session: TabletSession): void;
  /** [r2] The QR rating URL of a done transaction, when the QR channel is configured. */
  rateUrl?(windowId: string, txnId: string): string | undefined;
}

export class Windows {
  constructor(private readonly deps: WindowsDeps) {}

  async service(windowId: string, body: ServiceRequest, actor: string): Promise<void> {
    const { registry, store } = this.deps;
    const staff = registry.staffAt(windowId);
    const at = isoNow(this.deps.clock);
    const onDuty = staff.duty !== 'off';
    await store.submit((db) =>
      recordService(db, {
        txnId: body.txnId,
        windowId,
        event: body.event,
        matterCode: body.matterCode ?? null,
        matterName: body.matterName ?? null,
        staffId: onDuty ? staff.staffId || null : null,
        staffName: onDuty ? staff.staffName || null : null,
        contact: body.contactConsent ? (body.contact ?? null) : null,
        at,
      }),
    );
    const evaluator = registry.evaluatorAt(windowId);
    const delivered = evaluator ? this.deps.sendToDevice(evaluator.deviceId, { type: 'SERVICE', event: SERVICE_EVENT_CODES[body.event], txnId: body.txnId, matterCode: body.matterCode ?? '', matterName: body.matterName ?? '' }) : false;
    this.deps.log({ level: 'info', msg: 'service', actor, windowId, event: body.event, txnId: body.txnId, evaluator: evaluator?.deviceId ?? null, delivered });
    if (body.event === 'done') {
      const rateUrl = this.deps.rateUrl?.(windowId, body.txnId);
      this.offerToTablets(windowId, { txnId: body.txnId, windowId, staffId: staff.staffId, staffName: staff.staffName, matterCode: body.matterCode ?? '', matterName: body.matterName ?? '', offeredAt: at, ...(rateUrl ? { rateUrl } : {}) });
    } else if (body.event === 'cancelled') this.offerToTablets(windowId, {});
  }

  async setStaff(windowId: string, staff: StaffOnDuty, actor: string): Promise<void> {
    await this.deps.registry.setStaff(windowId, staff, actor);
    const evaluator = this.deps.registry.evaluatorAt(windowId);
    if (evaluator) this.deps.sendToDevice(evaluator.deviceId, { type: 'STAFF', duty: DUTY_CODES[staff.duty] ?? Duty.SIGNED_OUT, staffId: staff.staffId, staffName: staff.staffName, staffTitle: staff.staffTitle });
  }

  /**
   * A transaction of the window is rated: its tablets stop offering it and, when the rating
   * came from another channel, the evaluator stops prompting for it (PROTOCOL 1.3: SERVICE
   * cancelled; a device not prompting for that txnId ignores it).
   */
  rated(windowId: string, txnId: string, channel: Channel): void {
    this.offerToTablets(windowId, {});
    if (channel === 'evaluator') return;
    const evaluator = this.deps.registry.evaluatorAt(windowId);
    if (evaluator) this.deps.sendToDevice(evaluator.deviceId, { type: 'SERVICE', event: SERVICE_EVENT_CODES.cancelled, txnId, matterCode: '', matterName: '' });
  }

  private offerToTablets(windowId: string, session: TabletSession): void {
    for (const tablet of this.deps.registry.tabletsAt(windowId)) this.deps.offer(hallTopics.tablet(this.deps.hallId, tablet.deviceId, 'session'), session);
  }
}
