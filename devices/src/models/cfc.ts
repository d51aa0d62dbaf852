import { encodeOnnxModel, floatTensor, int64Tensor, node, readOnnxMetadata, type OnnxNode } from './onnx-proto.js'

/**
 * A closed-form continuous-time (CfC) liquid network: one CfC cell unrolled over a window of
 * `steps` samples of `features` values, then a linear read-out to `classes` scores.
 *
 * Per step, with xh = [x_t, h]:
 *   ff1 = tanh(xh·W1 + b1), ff2 = tanh(xh·W2 + b2), ta = xh·Wa + ba, tb = xh·Wb + bb
 *   g   = σ(tb − ta·Δt)           (the liquid time gate)
 *   h'  = ff1 + g·(ff2 − ff1)     (= (1 − g)·ff1 + g·ff2)
 * y = h_T·Wo + bo. The four projections share one [F+H, 4H] matrix (one Gemm, then Split).
 */
export interface CfcSpec {
  /** Values per time step (F). */
  features: number
  /** Unrolled time steps (T); the input is `[1, T*F]`. */
  steps: number
  /** Hidden units (H). */
  hidden: number
  /** Output scores (C). */
  classes: number
  /** Time between samples, the Δt of the gate. @defaultValue 1 */
  dt?: number
  /** Weights are a pure function of the seed. */
  seed: number
}

export interface CfcWeights {
  /** [F+H, 4H] row-major: columns ff1 | ff2 | ta | tb. */
  w: Float32Array
  b: Float32Array
  /** [H, C] row-major. */
  wo: Float32Array
  bo: Float32Array
}

/** mulberry32: a tiny, fast, seedable PRNG (uniform in [0, 1)). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Glorot-style uniform weights, deterministic from `spec.seed`. */
export function cfcWeights(spec: CfcSpec): CfcWeights {
  const { features: f, hidden: h, classes: c } = spec
  const rand = seededRandom(spec.seed)
  const uniform = (n: number, scale: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale)
  return {
    w: uniform((f + h) * 4 * h, Math.sqrt(6 / (f + h + h))),
    b: uniform(4 * h, 0.1),
    wo: uniform(h * c, Math.sqrt(6 / (h + c))),
    bo: uniform(c, 0.1),
  }
}

/** Input length (`T*F`) and output length (`C`) of a spec. */
export function cfcShapes(spec: CfcSpec): { input: [1, number]; output: [1, number] } {
  return { input: [1, spec.steps * spec.features], output: [1, spec.classes] }
}

/** Multiply-accumulates per inference: what the simulated profiles time. */
export function cfcMacs(spec: CfcSpec): number {
  const { features: f, hidden: h, classes: c, steps: t } = spec
  return t * ((f + h) * 4 * h + 6 * h) + h * c
}

function stepNodes(t: number): OnnxNode[] {
  const p = (s: string) => `s${t}_${s}`
  const prevH = t === 0 ? 'h0' : `s${t - 1}_h`
  return [
    node('Slice', ['x', p('start'), p('end'), 'axis1'], [p('x')]),
    node('Concat', [p('x'), prevH], [p('xh')], { axis: 1 }),
    node('Gemm', [p('xh'), 'W', 'B'], [p('z')]),
    node('Split', [p('z'), 'split4'], [p('a1'), p('a2'), p('ta'), p('tb')], { axis: 1 }),
    node('Tanh', [p('a1')], [p('ff1')]),
    node('Tanh', [p('a2')], [p('ff2')]),
    node('Mul', [p('ta'), 'dt'], [p('tat')]),
    node('Sub', [p('tb'), p('tat')], [p('gin')]),
    node('Sigmoid', [p('gin')], [p('g')]),
    node('Sub', [p('ff2'), p('ff1')], [p('d')]),
    node('Mul', [p('g'), p('d')], [p('gd')]),
    node('Add', [p('ff1'), p('gd')], [`s${t}_h`]),
  ]
}

/** The ONNX model of a spec: input `x` [1, T*F], output `y` [1, C], opset 17. */
export function buildCfcModel(spec: CfcSpec, name = 'cfc'): Uint8Array {
  const { features: f, hidden: h, classes: c, steps } = spec
  const weights = cfcWeights(spec)
  const shapes = cfcShapes(spec)
  const bounds = Array.from({ length: steps }, (_, t) => [
    int64Tensor(`s${t}_start`, [t * f]),
    int64Tensor(`s${t}_end`, [(t + 1) * f]),
  ]).flat()
  return encodeOnnxModel({
    name,
    doc: `CfC liquid network F=${f} T=${steps} H=${h} C=${c} seed=${spec.seed}`,
    inputs: [{ name: 'x', shape: shapes.input }],
    outputs: [{ name: 'y', shape: shapes.output }],
    initializers: [
      floatTensor('W', [f + h, 4 * h], weights.w),
      floatTensor('B', [4 * h], weights.b),
      floatTensor('Wo', [h, c], weights.wo),
      floatTensor('Bo', [c], weights.bo),
      floatTensor('h0', [1, h], new Float32Array(h)),
      floatTensor('dt', [1], Float32Array.of(spec.dt ?? 1)),
      int64Tensor('axis1', [1]),
      int64Tensor('split4', [h, h, h, h]),
      ...bounds,
    ],
    nodes: [...Array.from({ length: steps }, (_, t) => stepNodes(t)).flat(), node('Gemm', [`s${steps - 1}_h`, 'Wo', 'Bo'], ['y'])],
    metadata: { architecture: 'cfc', features: `${f}`, steps: `${steps}`, hidden: `${h}`, classes: `${c}`, seed: `${spec.seed}` },
  })
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v))

/** The same network in plain TypeScript (float64): the reference the ONNX graph is tested against. */
export function cfcReference(spec: CfcSpec, x: Float32Array | readonly number[]): Float32Array {
  const { features: f, hidden: h, classes: c, steps } = spec
  const { w, b, wo, bo } = cfcWeights(spec)
  const dt = spec.dt ?? 1
  let state = new Float64Array(h)
  const xh = new Float64Array(f + h)
  const z = new Float64Array(4 * h)
  for (let t = 0; t < steps; t++) {
    for (let i = 0; i < f; i++) xh[i] = x[t * f + i] ?? 0
    xh.set(state, f)
    for (let j = 0; j < 4 * h; j++) {
      let sum = b[j] ?? 0
      for (let i = 0; i < f + h; i++) sum += (xh[i] ?? 0) * (w[i * 4 * h + j] ?? 0)
      z[j] = sum
    }
    const next = new Float64Array(h)
    for (let j = 0; j < h; j++) {
      const ff1 = Math.tanh(z[j] ?? 0)
      const ff2 = Math.tanh(z[h + j] ?? 0)
      const g = sigmoid((z[3 * h + j] ?? 0) - (z[2 * h + j] ?? 0) * dt)
      next[j] = ff1 + g * (ff2 - ff1)
    }
    state = next
  }
  const y = new Float32Array(c)
  for (let k = 0; k < c; k++) {
    let sum = bo[k] ?? 0
    for (let j = 0; j < h; j++) sum += (state[j] ?? 0) * (wo[j * c + k] ?? 0)
    y[k] = sum
  }
  return y
}

/**
 * Multiply-accumulates of any ONNX model: exact for CfC models built here (from their metadata),
 * otherwise one per float32 weight byte quadruple — the simulated profiles time models with it.
 */
export function estimateMacs(model: Uint8Array): number {
  const meta = readOnnxMetadata(model)
  if (meta.architecture === 'cfc') {
    const spec = {
      features: Number(meta.features),
      steps: Number(meta.steps),
      hidden: Number(meta.hidden),
      classes: Number(meta.classes),
      seed: 0,
    }
    const macs = cfcMacs(spec)
    if (Number.isFinite(macs) && macs > 0) return macs
  }
  return Math.max(1, Math.floor(model.byteLength / 4))
}
