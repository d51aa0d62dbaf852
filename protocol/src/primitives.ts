import * as z from 'zod'

/** Device ids: 1–64 of `[A-Za-z0-9._-]`. No `/`, `+`, `#` or `$`, so an id can never widen a topic. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/
export const DeviceIdSchema = z
  .string()
  .regex(DEVICE_ID_PATTERN, 'device ids are 1-64 of [A-Za-z0-9._-]')
  .describe('Device id: 1-64 characters of [A-Za-z0-9._-]; the MQTT client id, username and topic level of the device.')
export type DeviceId = z.infer<typeof DeviceIdSchema>

/** Message ids, command ids and rollout ids: opaque, 1–128 of `[A-Za-z0-9._:-]` (a UUID fits). */
export const MessageIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'ids are 1-128 of [A-Za-z0-9._:-]')
  .describe('Opaque id: 1-128 characters of [A-Za-z0-9._:-] (a UUID fits).')

/**
 * The earliest instant a wire timestamp may name: 2001-09-09T01:46:40Z (10^12 ms). Anything
 * smaller is a time in seconds where milliseconds belong, or a clock that was never set.
 */
export const MIN_EPOCH_MS = 1_000_000_000_000
/** The latest instant a wire timestamp may name: 2100-01-01T00:00:00Z. */
export const MAX_EPOCH_MS = 4_102_444_800_000
const EPOCH_HINT = 'timestamps are epoch milliseconds (2001-2100): seconds instead of milliseconds, or an unset clock?'

/**
 * A wall-clock instant: milliseconds since the Unix epoch, between 2001 and 2100. The range is the
 * unit check: 1.7e9 (seconds) is refused, with `PROTO_TIME_UNIT` from the codec.
 */
export const EpochMsSchema = z
  .number()
  .int()
  .min(MIN_EPOCH_MS, EPOCH_HINT)
  .max(MAX_EPOCH_MS, EPOCH_HINT)
  .describe('Instant in epoch milliseconds (UTC), 1e12-4102444800000 (years 2001-2100).')

/** A count of things: a non-negative safe integer. */
export const CountSchema = z.number().int().nonnegative().describe('A count: non-negative integer.')
/** The longest duration on the wire: a year, in milliseconds. */
export const MAX_DURATION_MS = 366 * 24 * 3600 * 1000
/** A duration in milliseconds: a finite, non-negative number no larger than a year. */
export const DurationMsSchema = z.number().nonnegative().max(MAX_DURATION_MS).describe('Duration in milliseconds, 0 to one year.')
/** A finite, non-negative measurement with a sane ceiling (1e12 keeps JSON-born huge numbers out). */
export const MeasureSchema = z.number().nonnegative().max(1e12).describe('A measurement, 0-1e12, in the unit its field names.')

/** Semantic version (semver.org 2.0), e.g. `1.2.3` or `2.0.0-rc.1+build.5`. */
export const SemverSchema = z
  .string()
  .max(64)
  .regex(
    /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/,
    'versions are semver, e.g. 1.2.3',
  )
  .describe('Semantic version (semver.org 2.0), e.g. 1.2.3 or 2.0.0-rc.1; at most 64 characters.')
/** Model names: lowercase, 1–64 of `[a-z0-9._-]`, starting with a letter or digit. */
export const ModelNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'model names are 1-64 of [a-z0-9._-]')
  .describe('Model name: 1-64 of [a-z0-9._-], starting with a letter or digit.')
export const Sha256Schema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'sha256 is 64 lowercase hex digits')
  .describe('SHA-256 digest: 64 lowercase hex digits.')
/** An ed25519 signature (64 bytes) in base64. */
export const SignatureSchema = z
  .string()
  .regex(/^[A-Za-z0-9+/]{86}==$/, 'signatures are 64-byte ed25519, base64')
  .describe('Ed25519 signature (64 bytes), standard base64 with padding (88 characters).')
export const HttpUrlSchema = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .describe('An http:// or https:// URL, at most 2048 characters.')

/** Hardware labels and similar short free-form words. */
export const LabelValueSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,63}$/)
  .describe('A short word: 1-63 of [A-Za-z0-9._-].')

/** A model by name and version (no artifact details). */
export const ModelIdSchema = z
  .object({
    name: ModelNameSchema.describe('Model name, as in the package manifest.'),
    version: SemverSchema.describe('Model version (semver), as in the package manifest.'),
  })
  .describe('A model by name and version.')
export type ModelId = z.infer<typeof ModelIdSchema>

/** A model artifact: where to fetch it and how to check it before anything is staged. */
export const ModelRefSchema = ModelIdSchema.extend({
  sha256: Sha256Schema.describe('SHA-256 of the whole .liquid file; the device refuses a download with any other digest.'),
  size: z
    .number()
    .int()
    .positive()
    .max(4 * 1024 ** 3)
    .describe('Size of the .liquid file in bytes, 1 B to 4 GiB; the device refuses a longer download.'),
  url: HttpUrlSchema.describe(
    'Where to GET the .liquid file (HTTP range requests supported, no credentials needed: the file is signed and the sha256 names it).',
  ),
  signature: SignatureSchema.describe(
    'The package signature (its last 64 bytes), base64: ed25519 by a publisher key configured on the device over every byte before it.',
  ),
}).describe('A model artifact: what to fetch, from where, and how to check it before anything is staged.')
export type ModelRef = z.infer<typeof ModelRefSchema>
