import type { ModelImage, SlotName } from '@liquid-edge/agent'
import { sha256Hex } from '@liquid-edge/package'
import { FleetError, type PackageManifest } from '@liquid-edge/protocol'

/**
 * Checks every driver makes before loading: the bytes are the model the manifest names.
 * @throws FleetError `AGENT_LOAD_FAILED`
 */
export function checkLoadable(image: ModelImage): void {
  if (image.model.byteLength !== image.manifest.modelSize || sha256Hex(image.model) !== image.manifest.modelSha256) {
    throw new FleetError('AGENT_LOAD_FAILED', 'the model bytes do not match the manifest (size or sha256)')
  }
}

/**
 * The input must have exactly as many values as the model's input shape.
 * @throws FleetError `AGENT_INPUT_SHAPE`
 */
export function checkInput(manifest: PackageManifest, input: Float32Array): void {
  const expected = manifest.input.shape.reduce((a, b) => a * b, 1)
  if (!(input instanceof Float32Array) || input.length !== expected) {
    throw new FleetError(
      'AGENT_INPUT_SHAPE',
      `input has ${input.length} values; ${manifest.name} expects ${expected} (shape [${manifest.input.shape.join(', ')}])`,
      {
        details: { expected, actual: input.length },
      },
    )
  }
}

/** A map key for an input vector (its float32 bytes). */
export function inputKey(input: Float32Array): string {
  return Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('base64')
}

/** Run `fn` so that a synchronous throw becomes a rejection (drivers never throw synchronously). */
export function attempt<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn())
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)))
  }
}

/**
 * The model loaded in `name` (the slot asked for, or the active one).
 * @throws FleetError `AGENT_NO_MODEL` when there is none
 */
export function loadedSlot<T>(slots: ReadonlyMap<SlotName, T>, name: SlotName | null): T {
  const loaded = name === null ? undefined : slots.get(name)
  if (loaded === undefined) throw new FleetError('AGENT_NO_MODEL', name === null ? 'no model is active' : `slot ${name} is empty`)
  return loaded
}
