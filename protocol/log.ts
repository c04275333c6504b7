/** One structured log entry, as the hub and the device firmware write them (one JSON line each). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogEntry = { level: LogLevel; msg: string } & Record<string, unknown>;
export type Logger = (entry: LogEntry) => void;
