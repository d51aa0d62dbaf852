import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { ManifestDraft } from '@liquid-edge/package'

/** A fresh ed25519 key pair as KeyObjects. */
export function keyPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ed25519')
}

/** Opaque model bytes: the package module never runs a model. */
export function modelBytes(size = 256, seed = 1): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i * 31 + seed * 7) % 256)
}

/** A manifest that fits a [1, 4] → [1, 2] model. */
export const DRAFT: ManifestDraft = {
  format: 1,
  name: 'cfc-tiny',
  version: '1.0.0',
  createdAt: 1_700_000_000_000,
  runtime: 'onnx',
  input: { name: 'x', shape: [1, 4], dtype: 'float32' },
  output: { name: 'y', shape: [1, 2], dtype: 'float32' },
  latencyThresholdMs: 5,
  golden: [{ input: [0, 1, 2, 3], output: [0.5, 0.25] }],
}
