import { randomBytes, scrypt, type ScryptOptions } from 'node:crypto'
import { SCRYPT_PARAMS } from '@liquid-edge/protocol'

function scryptAsync(secret: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keyLength, options, (err, key) => {
      if (err === null) resolve(key)
      else reject(err)
    })
  })
}

/** A new device secret: 32 random bytes, base64url (shown once, never stored). */
export function newSecret(): string {
  return randomBytes(32).toString('base64url')
}

/** The shared credential hash format `scrypt$N$r$p$salt$hash` (base64), with {@link SCRYPT_PARAMS}. */
export async function hashSecret(secret: string): Promise<string> {
  const { N, r, p, keyLength, saltLength } = SCRYPT_PARAMS
  const salt = randomBytes(saltLength)
  const key = await scryptAsync(secret, salt, keyLength, { N, r, p, maxmem: 256 * N * r })
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`
}

/** Check a secret against a stored hash (tests and tools; the broker verifies on its side). */
export async function verifySecret(secret: string, hash: string): Promise<boolean> {
  const [, n, r, p, salt, key] = hash.split('$')
  if (n === undefined || r === undefined || p === undefined || salt === undefined || key === undefined) return false
  const expected = Buffer.from(key, 'base64')
  const N = Number(n)
  const got = await scryptAsync(secret, Buffer.from(salt, 'base64'), expected.length, {
    N,
    r: Number(r),
    p: Number(p),
    maxmem: 256 * N * Number(r),
  })
  return got.equals(expected)
}
