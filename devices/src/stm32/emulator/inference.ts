/**
 * How the emulated MCU runs a slot's model. Real firmware runs a compiled model (X-CUBE-AI,
 * TFLM); the emulator runs the ONNX bytes with onnxruntime-node so outputs are the real ones.
 */
import type { SlotImageInfo } from '../protocol/slot-image.js'

export interface ModelRunner {
  run(input: Float32Array): Promise<Float32Array>
  close(): Promise<void>
}

export interface InferenceBackend {
  load(image: SlotImageInfo): Promise<ModelRunner>
}

/** Runs ONNX models with onnxruntime-node (loaded on first use). */
export const onnxBackend: InferenceBackend = {
  async load(image) {
    const ort = await import('onnxruntime-node')
    const session = await ort.InferenceSession.create(image.model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    })
    const inputName = session.inputNames[0]
    const outputName = session.outputNames[0]
    if (inputName === undefined || outputName === undefined) {
      await session.release()
      throw new Error('the model has no input or no output')
    }
    return {
      async run(input) {
        const out = await session.run({ [inputName]: new ort.Tensor('float32', input, image.inputShape) })
        const data = out[outputName]?.data
        if (!(data instanceof Float32Array)) throw new Error('the model output is not float32')
        return data
      },
      close: () => session.release(),
    }
  },
}
