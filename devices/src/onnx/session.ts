import * as ort from 'onnxruntime-node'

/**
 * Session options for single-sample latency on small edge CPUs (TECH-NOTES §7): one intra-op
 * thread, sequential execution, full graph optimisation, and no spin-waiting (spinning burns a core
 * for p99 gains that small devices cannot afford).
 */
export const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  enableCpuMemArena: true,
  enableMemPattern: true,
  // The typings call `extra` WASM-only, but the Node binding applies it as session config entries.
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
}

/** A loaded model: one ORT session plus the tensor names and input shape it is called with. */
export interface OnnxModel {
  readonly session: ort.InferenceSession
  readonly inputName: string
  readonly outputName: string
  readonly inputShape: readonly number[]
  run(input: Float32Array): Promise<Float32Array>
  release(): Promise<void>
}

/** Open an ONNX model from bytes with {@link SESSION_OPTIONS}. */
export async function openOnnxModel(
  bytes: Uint8Array,
  io: { inputName: string; outputName: string; inputShape: readonly number[] },
): Promise<OnnxModel> {
  const session = await ort.InferenceSession.create(bytes, SESSION_OPTIONS)
  const shape = [...io.inputShape]
  return {
    session,
    ...io,
    async run(input) {
      const feeds = { [io.inputName]: new ort.Tensor('float32', input, shape) }
      const out = await session.run(feeds, [io.outputName])
      const tensor = out[io.outputName]
      if (tensor === undefined) throw new Error(`the model has no output ${io.outputName}`)
      return tensor.data as Float32Array
    },
    release: () => session.release(),
  }
}
