/** The wire contracts of PROTOCOL.md, implemented once. Pure: no I/O, no timers. */
export * from './constants.js';
export * from './errors.js';
export * from './crc16.js';
export * from './cobs.js';
export * from './frame.js';
export * from './hid.js';
export * from './messages.js';
export * from './reliable.js';
export * from './topics.js';
export * from './schemas.js';
export * from './levels.js';
