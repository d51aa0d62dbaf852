import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { SESSION_OPTIONS } from './session.js'

/**
 * The worker's code, as a string evaluated by `new Worker(…, { eval: true })`: that runs the same
 * from TypeScript sources (tsx, vitest) and from the built `dist/`. One session per worker;
 * requests run one after another (ORT's run is synchronous inside the worker).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const ort = require(workerData.ortPath)
let session
const ready = ort.InferenceSession.create(workerData.model, workerData.options).then((s) => { session = s })
ready.then(() => parentPort.postMessage({ ready: true }), (e) => parentPort.postMessage({ ready: false, error: String((e && e.message) || e) }))
parentPort.on('message', async (m) => {
  if (m.close) { await session?.release(); parentPort.close(); return }
  try {
    const out = await session.run({ [workerData.inputName]: new ort.Tensor('float32', m.input, workerData.inputShape) }, [workerData.outputName])
    const data = out[workerData.outputName].data
    parentPort.postMessage({ id: m.id, output: data }, [data.buffer])
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) })
  }
})
`

interface Pending {
  resolve: (output: Float32Array) => void
  reject: (err: Error) => void
}

type WorkerReply = { ready: boolean; error?: string } | { id: number; output?: Float32Array; error?: string }

/** An ONNX session in its own worker thread, so a long inference never blocks the caller's event loop. */
export class WorkerModel {
  readonly #worker: Worker
  readonly #pending = new Map<number, Pending>()
  readonly #exited: Promise<void>
  #nextId = 1
  #closed: Promise<void> | undefined

  private constructor(worker: Worker) {
    this.#worker = worker
    this.#exited = new Promise((resolve) => {
      worker.once('exit', () => {
        resolve()
      })
    })
    worker.on('message', (m: WorkerReply) => {
      if (!('id' in m)) return
      const pending = this.#pending.get(m.id)
      this.#pending.delete(m.id)
      if (m.output !== undefined) pending?.resolve(m.output)
      else pending?.reject(new Error(m.error ?? 'the inference worker failed'))
    })
    const failAll = (err: Error) => {
      for (const p of this.#pending.values()) p.reject(err)
      this.#pending.clear()
    }
    worker.on('error', failAll)
    worker.on('exit', () => {
      failAll(new Error('the inference worker exited'))
    })
  }

  static async open(model: Uint8Array, io: { inputName: string; outputName: string; inputShape: readonly number[] }): Promise<WorkerModel> {
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node')
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        ortPath,
        model,
        options: SESSION_OPTIONS,
        inputName: io.inputName,
        outputName: io.outputName,
        inputShape: [...io.inputShape],
      },
    })
    const ready = await new Promise<{ ready: boolean; error?: string }>((resolve) => {
      worker.once('message', resolve)
      worker.once('error', (err) => {
        resolve({ ready: false, error: err.message })
      })
    })
    if (!ready.ready) {
      await worker.terminate()
      throw new Error(ready.error ?? 'the inference worker did not start')
    }
    return new WorkerModel(worker)
  }

  run(input: Float32Array): Promise<Float32Array> {
    if (this.#closed !== undefined) return Promise.reject(new Error('the inference worker is closed'))
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      const copy = Float32Array.from(input)
      this.#worker.postMessage({ id, input: copy }, [copy.buffer])
    })
  }

  release(): Promise<void> {
    this.#closed ??= (() => {
      this.#worker.postMessage({ close: true })
      return this.#exited
    })()
    return this.#closed
  }
}
