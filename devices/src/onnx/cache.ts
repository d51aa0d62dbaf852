import { openOnnxModel, type OnnxModel } from './session.js'

interface Entry {
  model: Promise<OnnxModel>
  refs: number
}

/**
 * ORT sessions shared by model sha256 across the simulated devices of one process: sessions are
 * stateless between runs, so a fleet of 1,000 devices on the same model holds one session, not 1,000.
 */
const entries = new Map<string, Entry>()

export interface SharedOnnxModel {
  run(input: Float32Array): Promise<Float32Array>
  release(): Promise<void>
}

export async function acquireSharedModel(
  sha256: string,
  bytes: Uint8Array,
  io: { inputName: string; outputName: string; inputShape: readonly number[] },
): Promise<SharedOnnxModel> {
  let entry = entries.get(sha256)
  if (entry === undefined) {
    entry = { model: openOnnxModel(bytes, io), refs: 0 }
    entries.set(sha256, entry)
  }
  entry.refs++
  const held = entry
  let model: OnnxModel
  try {
    model = await held.model
  } catch (err) {
    held.refs--
    if (entries.get(sha256) === held) entries.delete(sha256)
    throw err
  }
  let released = false
  return {
    run: (input) => model.run(input),
    async release() {
      if (released) return
      released = true
      held.refs--
      if (held.refs === 0 && entries.get(sha256) === held) {
        entries.delete(sha256)
        await model.release()
      }
    },
  }
}
