/** The hub's log: one structured entry per event (the type is shared with the device, in protocol/). */
import type { Logger } from '../protocol/index.js';

export type { LogEntry, LogLevel, Logger } from '../protocol/index.js';

export const silentLog: Logger = () => {};
