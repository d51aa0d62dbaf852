/**
 * @liquid-edge/protocol — the wire contract between broker, agent, devices and controller:
 * topics, message schemas, the ACL, the codec and the error registry. Imports only zod.
 */
export {
  DEFAULT_ROOT,
  DEVICE_TOPIC_KINDS,
  createTopics,
  isValidDeviceId,
  isValidRoot,
  natsSubject,
  deviceIdFromSubject,
  type Topics,
  type ParsedTopic,
  type DeviceTopicKind,
  type TopicKind,
  type BridgeKind,
} from './topics.js'
export {
  DEVICE_ID_PATTERN,
  DeviceIdSchema,
  MessageIdSchema,
  EpochMsSchema,
  CountSchema,
  DurationMsSchema,
  MeasureSchema,
  SemverSchema,
  ModelNameSchema,
  Sha256Schema,
  SignatureSchema,
  HttpUrlSchema,
  LabelValueSchema,
  ModelIdSchema,
  ModelRefSchema,
  type DeviceId,
  type ModelId,
  type ModelRef,
} from './primitives.js'
export { SCHEMA_VERSION } from './messages/envelope.js'
export { PolicySchema, DesiredBodySchema, DesiredSchema, type Policy, type DesiredBody, type Desired } from './messages/desired.js'
export {
  COMMAND_KINDS,
  VERIFY_SUITES,
  CommandBodySchema,
  CommandSchema,
  RollbackCommandSchema,
  VerifyCommandSchema,
  ProfileCommandSchema,
  EvaluateCommandSchema,
  SwitchCommandSchema,
  DecommissionCommandSchema,
  StatusCommandSchema,
  LogsCommandSchema,
  PingCommandSchema,
  type CommandKind,
  type CommandBody,
  type CommandInput,
  type Command,
  type CommandOf,
} from './messages/command.js'
export {
  CommandResultSchema,
  QuantilesSchema,
  VerifyCheckSchema,
  ReplyBodySchema,
  ReplySchema,
  type CommandResult,
  type ReplyBody,
  type Reply,
} from './messages/reply.js'
export {
  PHASES,
  PhaseSchema,
  SlotSchema,
  ReportedBodySchema,
  ReportedSchema,
  type Phase,
  type Slot,
  type ReportedBody,
  type Reported,
} from './messages/reported.js'
export { StatusBodySchema, StatusSchema, type StatusBody, type Status } from './messages/status.js'
export { LatencySchema, TelemetryBodySchema, TelemetrySchema, type TelemetryBody, type Telemetry } from './messages/telemetry.js'
export {
  DEVICE_EVENTS,
  FLEET_EVENTS,
  DeviceEventBodySchema,
  DeviceEventSchema,
  EvidenceSchema,
  FleetEventBodySchema,
  FleetEventSchema,
  type DeviceEventBody,
  type DeviceEvent,
  type Evidence,
  type FleetEventBody,
  type FleetEvent,
} from './messages/events.js'
export {
  MESSAGE_SCHEMAS,
  TYPE_BY_TOPIC,
  DELIVERY,
  type MessageType,
  type MessageOf,
  type MessageInputOf,
  type ProtocolMessage,
} from './messages/index.js'
export {
  MAX_PAYLOAD_BYTES,
  createCodec,
  decode,
  encode,
  newMessageId,
  deviceMessage,
  fleetMessage,
  type Codec,
  type CodecOptions,
  type DecodeError,
  type DecodeResult,
  type Decoded,
} from './codec.js'
export {
  canPublish,
  canSubscribe,
  filterWithin,
  isValidFilter,
  isValidTopicName,
  publishPatterns,
  subscribePatterns,
  type Identity,
  type Role,
} from './acl.js'
export { ERROR_CODES } from './errors/codes.js'
export {
  ErrorCodeSchema,
  ErrorPayloadSchema,
  JsonScalarSchema,
  FleetError,
  isFleetError,
  toErrorPayload,
  fromErrorPayload,
  type ErrorCode,
  type ErrorPayload,
  type FleetErrorOptions,
} from './errors/fleet-error.js'
export {
  CredentialRecordSchema,
  SCRYPT_HASH_PATTERN,
  SCRYPT_PARAMS,
  credentialKey,
  credentialChannel,
  type CredentialRecord,
} from './credentials.js'
export {
  PACKAGE_MAGIC,
  PACKAGE_FORMAT,
  SIGNATURE_BYTES,
  MAX_MANIFEST_BYTES,
  PackageManifestSchema,
  parsePackage,
  unsignedPackage,
  attachSignature,
  signatureToBase64,
  type PackageManifest,
  type PackageManifestInput,
  type ModelPackage,
  type ParsePackageResult,
} from './package.js'
