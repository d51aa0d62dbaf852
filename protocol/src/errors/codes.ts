/**
 * The error code registry, one list per area. Codes are stable wire values: never rename or
 * reuse one; add new codes at the end of their area's list. `docs/errors.md` is generated from
 * these lists (`npm run gen:docs`).
 */

/** Wire contract: topics, payloads, envelopes. */
export const PROTO_CODES = {
  PROTO_INVALID_TOPIC: 'The topic is not one of the protocol topics, or its device id is malformed.',
  PROTO_PAYLOAD_TOO_LARGE: 'The payload is larger than the configured maximum (64 KiB by default).',
  PROTO_INVALID_UTF8: 'The payload is not valid UTF-8.',
  PROTO_INVALID_JSON: 'The payload is not valid JSON.',
  PROTO_FORBIDDEN_KEY: 'The payload contains a `__proto__`, `constructor` or `prototype` key.',
  PROTO_UNSUPPORTED_VERSION: 'The envelope has a schema version (`v`) this reader does not speak.',
  PROTO_WRONG_TYPE: 'The envelope `type` is not the one this topic carries.',
  PROTO_DEVICE_MISMATCH: 'The envelope `deviceId` differs from the device id in the topic.',
  PROTO_UNKNOWN_COMMAND: 'The command kind is not one this protocol version defines.',
  PROTO_INVALID_PAYLOAD: 'The payload does not match the message schema; `details.issues` lists why.',
} as const

/** The broker: authentication, authorization, limits, bridge. */
export const BROKER_CODES = {
  BROKER_BAD_CREDENTIALS: 'Unknown client id or wrong secret.',
  BROKER_CLIENT_ID_MISMATCH: 'The MQTT client id differs from the username (they must both be the device id).',
  BROKER_LOGIN_RATE_LIMITED: 'Too many failed logins for this client id or address; wait and retry.',
  BROKER_NOT_AUTHORIZED: 'The ACL does not allow this client to publish or subscribe to that topic.',
  BROKER_RATE_LIMITED: 'The client publishes faster than its token bucket allows; messages are dropped.',
  BROKER_PACKET_TOO_LARGE: 'The packet is larger than the broker maximum.',
  BROKER_BRIDGE_UNAVAILABLE: 'NATS JetStream is unreachable; messages are not bridged meanwhile.',
} as const

/** The device agent: downloads, verification, slots, trials, commands. */
export const AGENT_CODES = {
  AGENT_DOWNLOAD_FAILED: 'The artifact could not be downloaded (network error, HTTP status, timeout).',
  AGENT_ARTIFACT_TOO_LARGE: 'The artifact is larger than the desired state says or than the size cap.',
  AGENT_SHA256_MISMATCH: 'The downloaded artifact does not have the sha256 the desired state names.',
  AGENT_SIGNATURE_INVALID: 'The artifact signature does not verify against the configured publisher key.',
  AGENT_PACKAGE_INVALID: 'The model package is malformed, truncated or inconsistent with its manifest.',
  AGENT_LOAD_FAILED: 'The driver could not load the model into a slot.',
  AGENT_SELF_TEST_FAILED: 'The staged model failed its golden vectors or its latency threshold.',
  AGENT_INPUT_SHAPE: 'The inference input does not have the shape the model declares.',
  AGENT_TRIAL_ERROR_RATE: 'During the trial the error rate broke the policy; reverted locally.',
  AGENT_TRIAL_LATENCY: 'During the trial the latency broke the policy; reverted locally.',
  AGENT_TRIAL_ENERGY: 'During the trial the energy use broke the policy; reverted locally.',
  AGENT_TRIAL_INTERRUPTED: 'The agent restarted during a trial; the trial counts as failed and was reverted.',
  AGENT_DESIRED_EXPIRED: 'The desired state expired before it could be applied.',
  AGENT_SUPERSEDED: 'A newer generation arrived; the older one was abandoned.',
  AGENT_COMMAND_EXPIRED: 'The command arrived after its expiry and was not run.',
  AGENT_NO_PREVIOUS_MODEL: 'There is no previous model in the standby slot to roll back to.',
  AGENT_NO_STAGED_MODEL: 'There is no staged candidate to switch to.',
  AGENT_DISK_FULL: 'The device ran out of storage while writing.',
  AGENT_NO_MODEL: 'No model is active on this device.',
  AGENT_BUSY: 'Another update is in progress; the command was refused.',
  AGENT_INTERNAL: 'An unexpected error inside the agent; the message says what happened.',
} as const

/** Drivers and hardware: ONNX runtime, serial links, sensors, simulated faults. */
export const DEVICE_CODES = {
  DEVICE_INFERENCE_FAILED: 'The driver failed to run an inference.',
  DEVICE_TIMEOUT: 'The hardware did not answer in time.',
  DEVICE_LINK_ERROR: 'The link to the hardware (serial port, worker) failed.',
  DEVICE_OUT_OF_MEMORY: 'The model does not fit in the device memory or flash slot.',
  DEVICE_UNSUPPORTED: 'The driver does not support this operation or sensor.',
} as const

/** Registry, model store, rollouts, rules, API. */
export const ROLLOUT_CODES = {
  ROLLOUT_NOT_FOUND: 'No rollout with that id.',
  ROLLOUT_CONFLICT: 'Another rollout is active on some of these devices; pass supersede to replace it.',
  ROLLOUT_INVALID_TRANSITION: 'The rollout cannot move to that state from its current one.',
  ROLLOUT_NO_DEVICES: 'The target selects no devices.',
  ROLLOUT_LEASE_LOST: 'Another controller took over this rollout.',
  REGISTRY_DEVICE_NOT_FOUND: 'No device with that id is registered.',
  REGISTRY_DEVICE_EXISTS: 'A device with that id is already registered.',
  REGISTRY_INVALID_SELECTOR: 'The label selector does not parse.',
  MODEL_NOT_FOUND: 'No model with that name and version is in the store.',
  MODEL_IN_USE: 'The model is used by a device or an active rollout and cannot be deleted.',
  MODEL_EXISTS: 'That model name and version is already stored with different content.',
  API_UNAUTHORIZED: 'Missing or unknown bearer token.',
  API_FORBIDDEN: 'The token lacks the scope this operation needs.',
  API_INVALID_REQUEST: 'The request body, query or parameters failed validation.',
  MODEL_PACKAGE_INVALID: 'The uploaded file is not a valid .liquid package (layout, manifest or model hash).',
  MODEL_SIGNATURE_INVALID: 'The package signature does not verify against any configured publisher key.',
} as const

/** Configuration of any executable. */
export const CONFIG_CODES = {
  CONFIG_INVALID: 'A flag, environment variable or config file value is invalid; the message lists which.',
} as const

export const ERROR_CODES = {
  ...PROTO_CODES,
  ...BROKER_CODES,
  ...AGENT_CODES,
  ...DEVICE_CODES,
  ...ROLLOUT_CODES,
  ...CONFIG_CODES,
} as const
