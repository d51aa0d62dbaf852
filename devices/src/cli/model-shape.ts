import * as ort from 'onnxruntime-node'
import { FleetError } from '@liquid-edge/protocol'

/** The input and output shapes of a single-input, single-output ONNX model (symbolic dims as 1). */
export async function modelShape(model: Uint8Array): Promise<{ input: number[]; output: number[] }> {
  let session: ort.InferenceSession
  try {
    session = await ort.InferenceSession.create(model)
  } catch (err) {
    throw new FleetError('AGENT_PACKAGE_INVALID', 'onnxruntime cannot load the model', { cause: err })
  }
  try {
    const dims = (m: ort.InferenceSession.ValueMetadata | undefined) =>
      m?.isTensor === true ? m.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1)) : [1]
    return { input: dims(session.inputMetadata[0]), output: dims(session.outputMetadata[0]) }
  } finally {
    await session.release()
  }
}
