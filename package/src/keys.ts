import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { FleetError } from '@liquid-edge/protocol'

/** An ed25519 key pair as PEM text (PKCS#8 private key, SPKI public key). */
export interface SigningKeyPair {
  privateKeyPem: string
  publicKeyPem: string
}

/**
 * A publisher's public key: PEM text (a private key PEM yields its public half), a raw 32-byte
 * ed25519 key, base64 SPKI DER, or a KeyObject.
 */
export type PublisherKey = string | Uint8Array | KeyObject

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/** A fresh ed25519 publisher key pair. */
export function generateSigningKeys(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  }
}

function assertEd25519(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new FleetError('CONFIG_INVALID', `${what} is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key, not ed25519`)
  }
  return key
}

/**
 * The private signing key from PEM text.
 * @throws {FleetError} `CONFIG_INVALID` when the text is not an ed25519 private key.
 */
export function loadPrivateKey(pem: string | Buffer): KeyObject {
  try {
    return assertEd25519(createPrivateKey(pem), 'the signing key')
  } catch (err) {
    if (err instanceof FleetError) throw err
    throw new FleetError('CONFIG_INVALID', 'the signing key is not a PEM private key', { cause: err })
  }
}

function publicKeyOf(key: PublisherKey): KeyObject {
  if (key instanceof KeyObject) return key.type === 'private' ? createPublicKey(key) : key
  if (key instanceof Uint8Array && !Buffer.isBuffer(key)) {
    if (key.byteLength !== 32) throw new RangeError(`a raw ed25519 public key is 32 bytes, not ${key.byteLength}`)
    return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, key]), format: 'der', type: 'spki' })
  }
  const text = typeof key === 'string' ? key.trim() : key.toString('utf8')
  if (!text.includes('-----BEGIN') && /^[A-Za-z0-9+/=]{40,}$/.test(text)) {
    return createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' })
  }
  return createPublicKey(text)
}

/**
 * A publisher's public verification key (see {@link PublisherKey} for the forms it takes).
 * @throws {FleetError} `CONFIG_INVALID` when it is not an ed25519 key.
 */
export function loadPublicKey(key: PublisherKey | Buffer): KeyObject {
  try {
    return assertEd25519(publicKeyOf(key), 'the publisher key')
  } catch (err) {
    if (err instanceof FleetError) throw err
    throw new FleetError('CONFIG_INVALID', 'the publisher key is not an ed25519 public key (PEM, base64 SPKI or 32 raw bytes)', {
      cause: err,
    })
  }
}

function readKeyFile(path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new FleetError('CONFIG_INVALID', `cannot read the publisher key file ${path}`, { cause: err })
  }
}

/**
 * The trusted publisher keys from configuration: a comma-separated string or a list whose items
 * are PEM text, base64 SPKI DER, a path to a PEM file, raw 32-byte keys or KeyObjects.
 * @throws {FleetError} `CONFIG_INVALID` for an item that is no ed25519 public key or an unreadable file.
 */
export function loadPublisherKeys(spec: string | readonly PublisherKey[]): KeyObject[] {
  const items: readonly PublisherKey[] =
    typeof spec === 'string'
      ? spec
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      : spec
  return items.map((item) => {
    const isPath = typeof item === 'string' && !item.includes('-----BEGIN') && !/^[A-Za-z0-9+/=]{40,}$/.test(item.trim())
    return loadPublicKey(isPath ? readKeyFile(item) : item)
  })
}

/** The SPKI PEM of a key's public half. */
export function publicKeyPem(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  return pub.export({ type: 'spki', format: 'pem' }).toString()
}
