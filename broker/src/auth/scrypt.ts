import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { SCRYPT_HASH_PATTERN, SCRYPT_PARAMS } from '@liquid-edge/protocol'

/** scrypt cost parameters; the stored hash carries them, so old hashes verify after a change. */
export interface ScryptParams {
  N: number
  r: number
  p: number
  keyLength: number
  saltLength: number
}

function derive(secret: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  // 128·N·r bytes are needed; give scrypt twice that so OWASP parameters never hit the default 32 MiB cap.
  const maxmem = 256 * (options.N ?? 16384) * (options.r ?? 8) + 1024 * 1024
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keyLength, { ...options, maxmem }, (err, key) => {
      if (err) reject(err)
      else resolve(key)
    })
  })
}

/** A fresh random secret for a new credential: 32 bytes, base64url (43 characters). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url')
}

/** Hash `secret` as `scrypt$N$r$p$salt$hash` (the format of protocol's `CredentialRecordSchema`). */
export async function hashSecret(secret: string, params: ScryptParams = SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(params.saltLength)
  const key = await derive(secret, salt, params.keyLength, { N: params.N, r: params.r, p: params.p })
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`
}

/** True when `secret` matches `hash`; false for a wrong secret or a malformed hash. Constant-time compare. */
export async function verifySecret(secret: string, hash: string): Promise<boolean> {
  const m = SCRYPT_HASH_PATTERN.exec(hash)
  if (m === null) return false
  const [, n, r, p, saltB64, keyB64] = m as unknown as [string, string, string, string, string, string]
  const expected = Buffer.from(keyB64, 'base64')
  try {
    const key = await derive(secret, Buffer.from(saltB64, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p) })
    return key.length === expected.length && timingSafeEqual(key, expected)
  } catch {
    return false
  }
}
