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
  PROTO_TIME_UNIT:
    'A timestamp is not epoch milliseconds between 2001 and 2100: seconds sent where milliseconds belong, or a clock that was never set.',
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
  BROKER_QOS_NOT_ALLOWED: 'The publish on a fleet topic used QoS 2, which the contract never uses; it was acknowledged and dropped.',
} as const

/** The device agent: downloads, verification, slots, trials, commands. */
export const AGENT_CODES = {
  AGENT_DOWNLOAD_FAILED: 'The artifact could not be downloaded (network error, HTTP status, timeout).',
  AGENT_ARTIFACT_TOO_LARGE: 'The artifact is larger than the desired state says or than the size cap.',
  AGENT_PACKAGE_INVALID: 'The package is sound but unusable here: built for other hardware, or without the evaluation set asked for.',
  AGENT_LOAD_FAILED: 'The driver could not load the model into a slot.',
  AGENT_SELF_TEST_FAILED: 'The staged model failed its golden vectors or its latency threshold.',
  AGENT_INPUT_SHAPE: 'The inference input does not have the shape the model declares.',
  AGENT_TRIAL_ERROR_RATE: 'During the trial the error rate broke the policy; reverted locally.',
  AGENT_TRIAL_LATENCY: 'During the trial the latency broke the policy; reverted locally.',
  AGENT_TRIAL_ENERGY: 'During the trial the energy use broke the policy; reverted locally.',
  AGENT_TRIAL_MEMORY: "During the trial the device's memory use broke the budget of its hardware class; reverted locally.",
  AGENT_TRIAL_UNMEASURED:
    'The trial needs a measure (energy, memory) the device cannot make, and its hardware class does not mark it optional; reverted locally.',
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
  AGENT_NO_DATASET:
    "The model package has no evaluation set of that name and no dataset URL was given; `details.available` names the package's set.",
  AGENT_CANCELLED: 'The command was cancelled (by a cancel command or its expiry) before it finished; a partial result may have been sent.',
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
  REGISTRY_TARGET_AMBIGUOUS: 'A bare word names more than one thing (label values under several keys); the candidates are listed.',
  REGISTRY_GROUP_NOT_FOUND: 'No group with that name is saved.',
  MODEL_NOT_FOUND: 'No model with that name and version is in the store.',
  MODEL_IN_USE: 'The model is used by a device or an active rollout and cannot be deleted.',
  MODEL_EXISTS: 'That model name and version is already stored with different content.',
  API_UNAUTHORIZED: 'Missing or unknown bearer token.',
  API_FORBIDDEN: 'The token lacks the scope this operation needs.',
  API_INVALID_REQUEST: 'The request body, query or parameters failed validation.',
  API_RATE_LIMITED: 'Too many requests from this address or token; retry after the Retry-After header says.',
  API_BODY_TOO_LARGE: "The request body is over this route's limit (JSON 1 MiB by default; model uploads have their own).",
  API_TIMEOUT: 'The request (its headers or body) did not arrive within the time allowed.',
  API_NOT_FOUND: 'No route has that path.',
  API_METHOD_NOT_ALLOWED: 'The path exists, but not for that method; the Allow header lists the ones it takes.',
  ROLLOUT_FALLBACK:
    "The device was sent to its policy's fallback (a named version, or no model) because it had no previous model the controller could send it back to.",
  REGISTRY_DEVICE_OFFLINE:
    'The device is not online, and the operation needs it answering (a conformance run); start it or its gateway first.',
  RUNBOOK_JOB_NOT_FOUND: 'No runbook job with that id (finished jobs are kept 7 days).',
} as const

/** The `.liquid` model package, wherever it is checked (agent, controller, package tools): one code per failure. */
export const PACKAGE_CODES = {
  PACKAGE_SHA256_MISMATCH: 'The file does not have the sha256 the desired state (or the caller) names: a corrupted or wrong download.',
  PACKAGE_TRUNCATED: 'The file ends before its layout says it should (header, manifest, model or signature missing).',
  PACKAGE_MALFORMED: 'The file is not a `.liquid` package: bad magic, unsupported format version or trailing bytes.',
  PACKAGE_MANIFEST_INVALID: 'The manifest is not UTF-8 JSON, has a forbidden key, breaks the manifest schema or misstates the model size.',
  PACKAGE_SIGNATURE_MISMATCH: 'The package carries a different signature than the one the desired state names.',
  PACKAGE_SIGNATURE_INVALID: 'The signature verifies against no trusted publisher key (forged, re-signed, or no key configured).',
  PACKAGE_MODEL_HASH_MISMATCH: 'The package is signed, but its model bytes do not have the sha256 its manifest declares.',
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
  ...PACKAGE_CODES,
  ...CONFIG_CODES,
} as const
