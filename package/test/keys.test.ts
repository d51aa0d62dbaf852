import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  generateSigningKeys,
  loadPrivateKey,
  loadPublicKey,
  loadPublisherKeys,
  publicKeyPem,
  signPackage,
  verifyPackage,
} from '@liquid-edge/package'
import { DRAFT, modelBytes } from './support.js'

const pair = generateSigningKeys()
const signed = signPackage(DRAFT, modelBytes(), loadPrivateKey(pair.privateKeyPem))

function verifiesWith(key: ReturnType<typeof loadPublicKey>): boolean {
  return verifyPackage(signed.bytes, { keys: [key] }).ok
}

describe('publisher keys', () => {
  it('loads the same key from PEM, a private key PEM, base64 SPKI, raw bytes, a KeyObject and a file', () => {
    const pub = loadPublicKey(pair.publicKeyPem)
    const der = pub.export({ type: 'spki', format: 'der' })
    const dir = mkdtempSync(join(tmpdir(), 'lln-keys-'))
    writeFileSync(join(dir, 'publisher.pub.pem'), pair.publicKeyPem)
    const forms = [
      loadPublicKey(pair.privateKeyPem),
      loadPublicKey(der.toString('base64')),
      loadPublicKey(new Uint8Array(der.subarray(der.byteLength - 32))),
      loadPublicKey(loadPrivateKey(pair.privateKeyPem)),
      ...loadPublisherKeys(`${join(dir, 'publisher.pub.pem')}, ${der.toString('base64')}`),
    ]
    for (const key of forms) {
      expect(verifiesWith(key)).toBe(true)
      expect(publicKeyPem(key)).toBe(pair.publicKeyPem)
    }
  })

  it('refuses a key that is not ed25519, text that is no key and a missing file with CONFIG_INVALID', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
    const rsaPem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    expect(() => loadPrivateKey(rsaPem)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
    expect(() => loadPublicKey(rsa.publicKey)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
    expect(() => loadPublicKey('not a key')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
    expect(() => loadPublicKey(new Uint8Array(31))).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
    expect(() => loadPublisherKeys('/nonexistent/publisher.pub.pem')).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(/cannot read/) as unknown }),
    )
  })
})
