/** A tiny dense ONNX model (y = tanh(x·W + b)) built with protobufjs, and its ModelImage, for STM32 tests and the bench. */
import { createHash } from 'node:crypto'
import protobuf from 'protobufjs'
import type { ModelImage } from '@liquid-edge/agent'
import { PackageManifestSchema } from '@liquid-edge/protocol'

const ONNX_MIN_PROTO = `syntax = "proto3"; package onnx;
message AttributeProto { string name = 1; float f = 2; int64 i = 3; int32 type = 20; }
message ValueInfoProto { string name = 1; TypeProto type = 2; }
message NodeProto { repeated string input = 1; repeated string output = 2; string name = 3; string op_type = 4; repeated AttributeProto attribute = 5; }
message OperatorSetIdProto { string domain = 1; int64 version = 2; }
message ModelProto { int64 ir_version = 1; string producer_name = 2; GraphProto graph = 7; repeated OperatorSetIdProto opset_import = 8; }
message GraphProto { repeated NodeProto node = 1; string name = 2; repeated TensorProto initializer = 5; repeated ValueInfoProto input = 11; repeated ValueInfoProto output = 12; }
message TensorProto { repeated int64 dims = 1; int32 data_type = 2; string name = 8; bytes raw_data = 9; }
message TensorShapeProto { message Dimension { oneof value { int64 dim_value = 1; string dim_param = 2; } } repeated Dimension dim = 1; }
message TypeProto { message Tensor { int32 elem_type = 1; TensorShapeProto shape = 2; } oneof value { Tensor tensor_type = 1; } }`
const ModelProto = protobuf.parse(ONNX_MIN_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto')
const FLOAT = 1

function weights(n: number, seed: number): Float32Array {
  const out = new Float32Array(n)
  let s = seed
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0
    out[i] = ((s >>> 8) / 0xffffff - 0.5) * 0.5
  }
  return out
}

const tensor = (name: string, dims: number[], f: Float32Array) => ({ name, dims, data_type: FLOAT, raw_data: new Uint8Array(f.buffer) })
const vi = (name: string, shape: number[]) => ({
  name,
  type: { tensor_type: { elem_type: FLOAT, shape: { dim: shape.map((d) => ({ dim_value: d })) } } },
})

/** JS reference of the model, to check outputs. */
export interface DenseModel {
  bytes: Uint8Array
  run(x: Float32Array): Float32Array
}

export function denseModel(inputs: number, outputs: number, seed = 1): DenseModel {
  const w = weights(inputs * outputs, seed)
  const b = weights(outputs, seed + 1)
  const model = {
    ir_version: 8,
    producer_name: 'lln-test',
    opset_import: [{ domain: '', version: 13 }],
    graph: {
      name: 'dense',
      initializer: [tensor('W', [inputs, outputs], w), tensor('B', [outputs], b)],
      node: [
        { op_type: 'MatMul', input: ['x', 'W'], output: ['xw'], name: 'mm' },
        { op_type: 'Add', input: ['xw', 'B'], output: ['z'], name: 'add' },
        { op_type: 'Tanh', input: ['z'], output: ['y'], name: 'tanh' },
      ],
      input: [vi('x', [1, inputs])],
      output: [vi('y', [1, outputs])],
    },
  }
  const bytes = ModelProto.encode(ModelProto.fromObject(model)).finish()
  return {
    bytes,
    run(x) {
      const y = new Float32Array(outputs)
      for (let j = 0; j < outputs; j++) {
        let z = b[j] ?? 0
        for (let i = 0; i < inputs; i++) z += (x[i] ?? 0) * (w[i * outputs + j] ?? 0)
        y[j] = Math.tanh(z)
      }
      return y
    },
  }
}

/** A ModelImage (manifest + ONNX bytes) of a dense model, with one golden vector. */
export function denseImage(
  opts: { inputs?: number; outputs?: number; seed?: number; version?: string } = {},
): ModelImage & { reference: DenseModel } {
  const inputs = opts.inputs ?? 4
  const outputs = opts.outputs ?? 2
  const ref = denseModel(inputs, outputs, opts.seed ?? 1)
  const x = Float32Array.from({ length: inputs }, (_, i) => (i % 5) / 5 - 0.3)
  const manifest = PackageManifestSchema.parse({
    format: 1,
    name: 'dense',
    version: opts.version ?? '1.0.0',
    createdAt: Date.now(),
    runtime: 'onnx',
    input: { name: 'x', shape: [1, inputs], dtype: 'float32' },
    output: { name: 'y', shape: [1, outputs], dtype: 'float32' },
    latencyThresholdMs: 50,
    golden: [{ input: Array.from(x), output: Array.from(ref.run(x)) }],
    hardware: ['stm32h743'],
    modelSha256: createHash('sha256').update(ref.bytes).digest('hex'),
    modelSize: ref.bytes.length,
  })
  return { manifest, model: ref.bytes, reference: ref }
}
