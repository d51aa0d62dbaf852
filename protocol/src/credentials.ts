import * as z from 'zod'
import { DeviceIdSchema, EpochMsSchema } from './primitives.js'

/**
 * A broker credential as stored by any credential store (file or Redis), shared by the broker
 * (which verifies) and the controller's registry (which provisions devices). Secrets are never
 * stored: only an scrypt hash in the PHC-like form `scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>`.
 */
export const SCRYPT_HASH_PATTERN = /^scrypt\$(\d{1,7})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9+/]{16,88}={0,2})\$([A-Za-z0-9+/]{43,88}={0,2})$/

export const CredentialRecordSchema = z.object({
  id: DeviceIdSchema,
  role: z.enum(['device', 'gateway', 'controller', 'consumer']),
  /** For gateways: the device ids it may speak for. */
  children: z.array(DeviceIdSchema).max(10_000).default([]),
  hash: z.string().regex(SCRYPT_HASH_PATTERN, 'hash must be scrypt$N$r$p$salt$hash'),
  createdAt: EpochMsSchema,
})
export type CredentialRecord = z.output<typeof CredentialRecordSchema>

/**
 * Who may log in to a broker and as what, as the registry and the credential store know it (never a
 * hash): the controller's `GET /v1/broker/identities`, which `liquid-lln broker-config` turns into a
 * third-party broker's users and permissions.
 */
export const BrokerIdentitySchema = z.object({
  id: DeviceIdSchema,
  role: CredentialRecordSchema.shape.role,
  /** Gateways: the device ids it speaks for. */
  children: z.array(DeviceIdSchema),
  /** A registered device (as opposed to a credential only, e.g. a controller's or a consumer's). */
  registered: z.boolean(),
  /** Whether the credential store holds a credential for it (a registered device may have none). */
  credential: z.boolean(),
})
export type BrokerIdentity = z.infer<typeof BrokerIdentitySchema>

/** Recommended scrypt parameters (OWASP: N=2^15, r=8, p=1; 32-byte key, 16-byte salt). */
export const SCRYPT_PARAMS = Object.freeze({ N: 32768, r: 8, p: 1, keyLength: 32, saltLength: 16 })

/**
 * Redis layout of the shared credential store: one string key per credential holding the JSON
 * record, `${prefix}:cred:${id}`. `prefix` defaults to `lln`.
 */
export function credentialKey(id: string, prefix = 'lln'): string {
  return `${prefix}:cred:${id}`
}
/** Redis pub/sub channel on which credential changes (add, revoke) are announced: message = device id. */
export function credentialChannel(prefix = 'lln'): string {
  return `${prefix}:cred:changed`
}
