/**
 * The wire contracts of PROTOCOL.md, implemented once. Pure: no I/O, no timers, and nothing
 * that needs zod at run time, so the browser pages import this file too (checked by
 * `index.test.ts`). The JSON schemas and their validators (`parsePayload`, `parseJson`, the
 * `*Schema` objects) are in `./schemas.js`; only their types are re-exported here.
 *
 * Every name is listed, so what the package offers is read here, not discovered.
 */
export {
  ACK_STATUS_CODES,
  ACK_STATUS_NAMES,
  AckReason,
  AckStatus,
  CHANNELS,
  Capability,
  DEFAULT_REASONS,
  DEFAULT_SETTINGS,
  DEFAULT_USB_IDS,
  DEVICE_STATE_CODES,
  DEVICE_STATE_NAMES,
  DIRECTION,
  DUTY_CODES,
  DUTY_NAMES,
  DeviceState,
  Duty,
  EVALUATION_FLAGS,
  EVALUATION_ID,
  FOLLOW_UP_ID_PREFIXES,
  EventCode,
  HANDLING_STEPS,
  HUB_STEPS,
  ALL_HANDLING_STEPS,
  STEP_ID,
  stepIdOf,
  HubStateFlag,
  LINK,
  Language,
  Level,
  MAX_BATCH_BYTES,
  MAX_BATCH_ITEMS,
  MAX_COMMENT_CHARS,
  MAX_DEVICE_ID_BYTES,
  MAX_STR_BYTES,
  MESSAGE_NAMES,
  MOBILE_PHONE,
  MessageType,
  NackReason,
  ORIGINS,
  ORIGIN_CODES,
  ORIGIN_NAMES,
  Origin,
  RELIABLE,
  SERVICE_EVENT_CODES,
  SERVICE_EVENT_NAMES,
  SETTINGS_RANGES,
  STAT_GROUP_NAMES,
  EXPORT_FORMATS,
  type ExportFormat,
  ServiceEvent,
  SettingsFlag,
  ackKeepsMessage,
  isDissatisfied,
  messageName,
  ownKey,
  utf8Bytes,
  withoutPhoneNumbers,
} from './constants.js';
export type { AckStatusName, AnyHandlingStep, Channel, DeviceStateName, DutyName, EvalOriginName, HandlingStepName, HubStepName, MessageName, OriginName, ServiceEventName } from './constants.js';

export { ConfigError, FrameError, PayloadError, StoreError, describeIssue, hexByte, issueLine } from './errors.js';
export type { FrameErrorCode, IssueLike } from './errors.js';

export { crc16 } from './crc16.js';
export { cobsDecode, cobsEncode, cobsMaxEncodedLength } from './cobs.js';

export {
  DELIMITER,
  DROP_REASONS,
  FRAME_CRC_BYTES,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  MAX_ENCODED_FRAME_BYTES,
  MAX_FRAME_BYTES,
  MAX_PAYLOAD_BYTES,
  MIN_FRAME_BYTES,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  parseFrame,
} from './frame.js';
export type { DecoderOutput, DecoderStats, DropReason, Frame, FrameDecoderOptions } from './frame.js';

export { HID_MAX_SLICE, HID_REPORT_BYTES, HID_USAGE_PAGE, packReports, unpackReport, withReportId } from './hid.js';

export { DEVICE_ID_RULE, LAYOUTS, decodeMessage, decodePayload, encodeMessage, encodePayload, isValidDeviceId, messageFromJson, packetToJson, truncateUtf8 } from './messages.js';
export type {
  Ack,
  Eval,
  Event,
  FieldSpec,
  Hello,
  LayoutProblems,
  LayoutTable,
  Message,
  MessageOf,
  Nack,
  Packet,
  Ping,
  Pong,
  SelfTest,
  HubState,
  Service,
  Settings,
  SettingsMessage,
  Staff,
  State,
  Welcome,
} from './messages.js';

export { DuplicateFilter, ReliableSender, nextSeq } from './reliable.js';
export type { DuplicateFilterOptions, InFlight, ReliableSenderOptions, Transmission } from './reliable.js';

export {
  DASHBOARD_LEAVES,
  PLATFORM_LEAVES,
  TABLET_LEAVES,
  dashboardMaySubscribe,
  hallTopics,
  isTopicSegment,
  parseHallTopic,
  parsePlatformTopic,
  platformTopics,
  tabletMayPublish,
  tabletMaySubscribe,
} from './topics.js';
export type { DashboardLeaf, HallTopic, PlatformLeaf, PlatformTopic, TabletLeaf } from './topics.js';

export {
  GB_SATISFACTION_CODE,
  LEVEL_NAMES,
  LEVEL_WORDS,
  NATIONAL_CHANNEL,
  NATIONAL_COLUMNS,
  gbCodeToLevel,
  levelName,
  levelToGbCode,
  toCsv,
  toCstStamp,
  toNationalRow,
} from './levels.js';
export type { LevelName, NationalRow, RatingName } from './levels.js';

export { Emitter, HidByteTransport, SerialTransport } from './transport.js';
export type { ByteTransport, ByteTransportEvents, ReportIO, SerialPortLike } from './transport.js';

// Types only: erased at build, so zod stays out of whatever imports this file.
export type {
  Alert,
  Batch,
  DeviceSettings,
  DeviceStatus,
  Evaluation,
  HallConfig,
  HallStatus,
  HandlingBatch,
  HandlingStep,
  PayloadOf,
  PublicConfig,
  Reason,
  Receipt,
  SchemaName,
  TabletAck,
  TabletEvaluation,
  TabletSession,
} from './schemas.js';

export type {
  ApiErrorBody,
  AuditList,
  AuditRow,
  DashboardEvaluation,
  DashboardHandling,
  DashboardPayload,
  DashboardPayloadOf,
  DeviceKind,
  DeviceList,
  DeviceListItem,
  DissatisfiedItem,
  DissatisfiedList,
  EvaluationList,
  HallInfo,
  HandlingAnswer,
  HandlingRecord,
  HandlingRequest,
  LoopPhase,
  ReRatingAnswer,
  ReRatingRequest,
  Health,
  LinkCounters,
  ListedEvaluation,
  PairAnswer,
  PairRequest,
  SelfTestAnswer,
  ServiceAnswer,
  ServiceRequest,
  SettingsAnswer,
  SmsStatus,
  StaffAnswer,
  StaffRequest,
  StatGroup,
  StatRow,
  StatsAnswer,
  Suggestion,
  SuggestionList,
  SyncProgress,
  SyncSummary,
  TabletSuggestion,
  UnpairAnswer,
} from './api.js';

export type { LogEntry, LogLevel, Logger } from './log.js';
