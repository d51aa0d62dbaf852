import { inputKey } from '../driver-common.js'
import { openOnnxModel, type OnnxModel } from './session.js'

/** Distinct inputs whose outputs one model keeps (least recently used go first). */
const MEMO_LIMIT = 4096

interface Entry {
  model: Promise<OnnxModel>
  refs: number
  /** Output by input bytes: a model is a pure function, so each distinct input runs once per process. */
  outputs: Map<string, Promise<Float32Array>>
}

/**
 * ORT sessions shared by model sha256 across the simulated devices of one process, with their
 * outputs memoised by input: a fleet of 10,000 devices on the same model holds one session and runs
 * each distinct input (the golden vectors a workload cycles through, an evaluation set) once.
 */
const entries = new Map<string, Entry>()

export interface SharedOnnxModel {
  /** The model's output for `input` (a fresh copy: callers may change it). */
  run(input: Float32Array): Promise<Float32Array>
  release(): Promise<void>
}

async function memoised(entry: Entry, model: OnnxModel, input: Float32Array): Promise<Float32Array> {
  const key = inputKey(input)
  let output = entry.outputs.get(key)
  if (output === undefined) {
    output = model.run(input).then((y) => Float32Array.from(y))
    void output.catch(() => entry.outputs.delete(key))
    if (entry.outputs.size >= MEMO_LIMIT) {
      const oldest = entry.outputs.keys().next().value
      if (oldest !== undefined) entry.outputs.delete(oldest)
    }
  } else entry.outputs.delete(key)
  entry.outputs.set(key, output)
  return (await output).slice()
}

export async function acquireSharedModel(
  sha256: string,
  bytes: Uint8Array,
  io: { inputName: string; outputName: string; inputShape: readonly number[] },
): Promise<SharedOnnxModel> {
  let entry = entries.get(sha256)
  if (entry === undefined) {
    entry = { model: openOnnxModel(bytes, io), refs: 0, outputs: new Map() }
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
    run: (input) => memoised(held, model, input),
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
