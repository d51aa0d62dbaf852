import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { FleetError } from '@liquid-edge/protocol'

/** An ed25519 key pair as PEM text (PKCS#8 private key, SPKI public key). */
export interface SigningKeyPair {
  privateKeyPem: string
  publicKeyPem: string
}

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
 * @throws FleetError `CONFIG_INVALID` when the text is not an ed25519 private key.
 */
export function loadPrivateKey(pem: string | Buffer): KeyObject {
  try {
    return assertEd25519(createPrivateKey(pem), 'the signing key')
  } catch (err) {
    if (err instanceof FleetError) throw err
    throw new FleetError('CONFIG_INVALID', 'the signing key is not a PEM private key', { cause: err })
  }
}

/**
 * The public verification key from PEM text; a private key PEM yields its public half.
 * @throws FleetError `CONFIG_INVALID` when the text is not an ed25519 key.
 */
export function loadPublicKey(pem: string | Buffer): KeyObject {
  try {
    return assertEd25519(createPublicKey(pem), 'the publisher key')
  } catch (err) {
    if (err instanceof FleetError) throw err
    throw new FleetError('CONFIG_INVALID', 'the publisher key is not a PEM public key', { cause: err })
  }
}

/** The SPKI PEM of a key's public half. */
export function publicKeyPem(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  return pub.export({ type: 'spki', format: 'pem' }).toString()
}
