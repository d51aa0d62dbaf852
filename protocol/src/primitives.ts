import * as z from 'zod'

/** Device ids: 1–64 of `[A-Za-z0-9._-]`. No `/`, `+`, `#` or `$`, so an id can never widen a topic. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/
export const DeviceIdSchema = z.string().regex(DEVICE_ID_PATTERN, 'device ids are 1-64 of [A-Za-z0-9._-]')
export type DeviceId = z.infer<typeof DeviceIdSchema>

/** Message ids, command ids and rollout ids: opaque, 1–128 of `[A-Za-z0-9._:-]` (a UUID fits). */
export const MessageIdSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'ids are 1-128 of [A-Za-z0-9._:-]')

/** Milliseconds since the Unix epoch. */
export const EpochMsSchema = z.number().int().nonnegative()
/** A count of things: a non-negative safe integer. */
export const CountSchema = z.number().int().nonnegative()
/** A duration in milliseconds: a finite, non-negative number no larger than a year. */
export const DurationMsSchema = z
  .number()
  .nonnegative()
  .max(366 * 24 * 3600 * 1000)
/** A finite, non-negative measurement with a sane ceiling (1e12 keeps JSON-born huge numbers out). */
export const MeasureSchema = z.number().nonnegative().max(1e12)

/** Semantic version (semver.org 2.0), e.g. `1.2.3` or `2.0.0-rc.1+build.5`. */
export const SemverSchema = z
  .string()
  .max(64)
  .regex(
    /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/,
    'versions are semver, e.g. 1.2.3',
  )
/** Model names: lowercase, 1–64 of `[a-z0-9._-]`, starting with a letter or digit. */
export const ModelNameSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'model names are 1-64 of [a-z0-9._-]')
export const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'sha256 is 64 lowercase hex digits')
/** An ed25519 signature (64 bytes) in base64. */
export const SignatureSchema = z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'signatures are 64-byte ed25519, base64')
export const HttpUrlSchema = z.url({ protocol: /^https?$/ }).max(2048)

/** Hardware labels and similar short free-form words. */
export const LabelValueSchema = z.string().regex(/^[A-Za-z0-9._-]{1,63}$/)

/** A model by name and version (no artifact details). */
export const ModelIdSchema = z.object({ name: ModelNameSchema, version: SemverSchema })
export type ModelId = z.infer<typeof ModelIdSchema>

/** A model artifact: where to fetch it and how to check it before anything is staged. */
export const ModelRefSchema = ModelIdSchema.extend({
  sha256: Sha256Schema,
  /** Artifact size in bytes; the agent refuses a larger download. */
  size: z
    .number()
    .int()
    .positive()
    .max(4 * 1024 ** 3),
  url: HttpUrlSchema,
  /** ed25519 signature of the package by the publisher key configured on the device. */
  signature: SignatureSchema,
})
export type ModelRef = z.infer<typeof ModelRefSchema>
