import protobuf from 'protobufjs'

/**
 * The subset of `onnx.proto` (ONNX IR) needed to write small graphs from TypeScript, with the
 * official field numbers. Enough for initializers, nodes with int/ints attributes and typed graph
 * inputs/outputs; nothing here reads ONNX files.
 */
const ONNX_MIN_PROTO = `syntax = "proto3"; package onnx;
message AttributeProto { string name = 1; float f = 2; int64 i = 3; bytes s = 4; TensorProto t = 5; repeated float floats = 7; repeated int64 ints = 8; int32 type = 20; }
message ValueInfoProto { string name = 1; TypeProto type = 2; string doc_string = 3; }
message NodeProto { repeated string input = 1; repeated string output = 2; string name = 3; string op_type = 4; repeated AttributeProto attribute = 5; string doc_string = 6; string domain = 7; }
message OperatorSetIdProto { string domain = 1; int64 version = 2; }
message StringStringEntryProto { string key = 1; string value = 2; }
message ModelProto { int64 ir_version = 1; string producer_name = 2; string producer_version = 3; string domain = 4; int64 model_version = 5; string doc_string = 6; GraphProto graph = 7; repeated OperatorSetIdProto opset_import = 8; repeated StringStringEntryProto metadata_props = 14; }
message GraphProto { repeated NodeProto node = 1; string name = 2; repeated TensorProto initializer = 5; string doc_string = 10; repeated ValueInfoProto input = 11; repeated ValueInfoProto output = 12; repeated ValueInfoProto value_info = 13; }
message TensorProto { repeated int64 dims = 1; int32 data_type = 2; repeated float float_data = 4 [packed = true]; repeated int64 int64_data = 7 [packed = true]; string name = 8; bytes raw_data = 9; }
message TensorShapeProto { message Dimension { oneof value { int64 dim_value = 1; string dim_param = 2; } string denotation = 3; } repeated Dimension dim = 1; }
message TypeProto { message Tensor { int32 elem_type = 1; TensorShapeProto shape = 2; } oneof value { Tensor tensor_type = 1; } string denotation = 6; }`

const ELEM_FLOAT = 1
const ELEM_INT64 = 7
const ATTR_INT = 2

let modelProto: protobuf.Type | undefined
function modelType(): protobuf.Type {
  modelProto ??= protobuf.parse(ONNX_MIN_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto')
  return modelProto
}

export interface OnnxTensor {
  name: string
  dims: number[]
  data_type: number
  raw_data: Uint8Array
}
export interface OnnxNode {
  op_type: string
  input: string[]
  output: string[]
  name: string
  attribute: { name: string; type: number; i: number }[]
}
interface OnnxValueInfo {
  name: string
  type: { tensor_type: { elem_type: number; shape: { dim: { dim_value: number }[] } } }
}

/** Little-endian raw bytes of a float32 tensor initializer. */
export function floatTensor(name: string, dims: number[], values: Float32Array): OnnxTensor {
  const raw = new Uint8Array(values.length * 4)
  const view = new DataView(raw.buffer)
  values.forEach((v, i) => {
    view.setFloat32(i * 4, v, true)
  })
  return { name, dims, data_type: ELEM_FLOAT, raw_data: raw }
}

/** Little-endian raw bytes of an int64 tensor initializer (Slice starts/ends/axes). */
export function int64Tensor(name: string, values: number[]): OnnxTensor {
  const raw = new Uint8Array(values.length * 8)
  const view = new DataView(raw.buffer)
  values.forEach((v, i) => {
    view.setBigInt64(i * 8, BigInt(v), true)
  })
  return { name, dims: [values.length], data_type: ELEM_INT64, raw_data: raw }
}

/** A graph node named after its first output; `ints` are INT attributes such as `axis`. */
export function node(opType: string, input: string[], output: string[], ints: Record<string, number> = {}): OnnxNode {
  const attribute = Object.entries(ints).map(([name, i]) => ({ name, type: ATTR_INT, i }))
  return { op_type: opType, input, output, name: output[0] ?? opType, attribute }
}

function valueInfo(name: string, shape: number[]): OnnxValueInfo {
  return { name, type: { tensor_type: { elem_type: ELEM_FLOAT, shape: { dim: shape.map((d) => ({ dim_value: d })) } } } }
}

export interface OnnxGraph {
  name: string
  doc: string
  inputs: { name: string; shape: number[] }[]
  outputs: { name: string; shape: number[] }[]
  initializers: OnnxTensor[]
  nodes: OnnxNode[]
  metadata?: Record<string, string>
}

/** Serialize a float32 graph as an ONNX model (IR 8, opset 17). */
export function encodeOnnxModel(graph: OnnxGraph): Uint8Array {
  const model = {
    ir_version: 8,
    producer_name: 'liquid-edge',
    producer_version: '0.1.0',
    doc_string: graph.doc,
    opset_import: [{ domain: '', version: 17 }],
    metadata_props: Object.entries(graph.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: graph.name,
      initializer: graph.initializers,
      node: graph.nodes,
      input: graph.inputs.map((i) => valueInfo(i.name, i.shape)),
      output: graph.outputs.map((o) => valueInfo(o.name, o.shape)),
    },
  }
  const type = modelType()
  const invalid = type.verify(model)
  if (invalid !== null) throw new Error(`invalid ONNX graph: ${invalid}`)
  return type.encode(type.fromObject(model)).finish()
}

/** The `metadata_props` of an ONNX model (empty when the bytes do not decode). */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  try {
    const decoded = modelType().toObject(modelType().decode(bytes), { defaults: false }) as {
      metadata_props?: { key?: string; value?: string }[]
    }
    return Object.fromEntries((decoded.metadata_props ?? []).map((p) => [p.key ?? '', p.value ?? '']))
  } catch {
    return {}
  }
}
