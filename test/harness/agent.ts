import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { signPackage, type ManifestDraft } from '@liquid-edge/package'
import type { ModelRef, PackageManifest } from '@liquid-edge/protocol'
import { fakeModelBytes, runFakeModel, type FakeModelSpec } from './fake-driver.js'

/** An ed25519 publisher key pair. */
export function publisherKeyPair(): { publicKey: KeyObject; privateKey: KeyObject; publicKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  return { publicKey, privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }
}

export interface FakePackageOptions {
  name?: string
  version: string
  spec?: FakeModelSpec
  inputLength?: number
  outputLength?: number
  latencyThresholdMs?: number
  energyBudgetMw?: number | null
  hardware?: string[]
  /** Make the golden outputs wrong by this much (a self-test failure). */
  goldenOffset?: number
  /** Add a labelled evaluation set (`label` = argmax of the true output). */
  evaluation?: boolean
}

export interface FakePackage {
  bytes: Uint8Array
  sha256: string
  signature: string
  manifest: PackageManifest
}

export interface OpaquePackageOptions {
  name: string
  version: string
  /** Size of the model bytes. @defaultValue 64 */
  modelBytes?: number
  latencyThresholdMs?: number
  energyBudgetMw?: number
}

/**
 * A signed `.liquid` package around opaque model bytes (different per version): for the
 * controller's side, where packages are stored, served and rolled out but no model runs.
 */
export function opaquePackage(privateKey: KeyObject, o: OpaquePackageOptions): Uint8Array {
  const model = new Uint8Array(o.modelBytes ?? 64).map((_, i) => (i * 7 + o.version.length) % 256)
  return signPackage(
    {
      format: 1,
      name: o.name,
      version: o.version,
      createdAt: 1_700_000_000_000,
      runtime: 'onnx',
      input: { name: 'x', shape: [1, 2], dtype: 'float32' },
      output: { name: 'y', shape: [1, 1], dtype: 'float32' },
      latencyThresholdMs: o.latencyThresholdMs ?? 5,
      ...(o.energyBudgetMw === undefined ? {} : { energyBudgetMw: o.energyBudgetMw }),
      golden: [{ input: [0, 1], output: [0.5] }],
    },
    model,
    privateKey,
  ).bytes
}

/** A real, signed `.liquid` package whose model a {@link FakeDriver} runs. */
export function buildFakePackage(privateKey: KeyObject, options: FakePackageOptions): FakePackage {
  const spec = options.spec ?? { scale: 2, bias: 1 }
  const inLen = options.inputLength ?? 4
  const outLen = options.outputLength ?? 2
  const model = fakeModelBytes(spec)
  const inputs = [0, 1, 2].map((k) => Array.from({ length: inLen }, (_, i) => (i + 1) * (k + 1) * 0.25))
  const golden = inputs.map((input) => ({
    input,
    output: Array.from(runFakeModel(spec, input, outLen), (v) => v + (options.goldenOffset ?? 0)),
  }))
  const draft: ManifestDraft = {
    format: 1,
    name: options.name ?? 'fake-model',
    version: options.version,
    createdAt: 1_700_000_000_000,
    runtime: 'onnx',
    input: { name: 'x', shape: [1, inLen], dtype: 'float32' },
    output: { name: 'y', shape: [1, outLen], dtype: 'float32' },
    latencyThresholdMs: options.latencyThresholdMs ?? 5,
    energyBudgetMw: options.energyBudgetMw ?? null,
    golden,
    tolerance: 1e-4,
    hardware: options.hardware ?? [],
    ...(options.evaluation === true
      ? {
          evaluation: {
            name: 'validation',
            minAccuracy: 0.9,
            samples: inputs.map((input) => {
              const out = runFakeModel(spec, input, outLen)
              return { input, label: out.indexOf(Math.max(...out)) }
            }),
          },
        }
      : {}),
  }
  const signed = signPackage(draft, model, privateKey)
  return { bytes: signed.bytes, sha256: signed.sha256, signature: signed.signature, manifest: signed.manifest }
}

export interface ArtifactServer extends AsyncDisposable {
  readonly baseUrl: string
  /** Serve `bytes` at `/<name>`; returns its URL. */
  put(name: string, bytes: Uint8Array): string
  /** The ModelRef of a fake package served under `name`. */
  ref(name: string, pkg: FakePackage): ModelRef
  /** Stop responding after this many body bytes (the connection stays open): a stalled download. */
  stallAfterBytes: number | null
  /** Answer this many next requests with HTTP 503 (a server busy with the rest of the fleet). */
  busyResponses: number
  /** Requests seen: path and Range header. */
  readonly requests: { path: string; range: string | undefined }[]
  close(): Promise<void>
}

/** A real HTTP artifact server on port 0 with Range support and a stall knob. */
export async function startArtifactServer(): Promise<ArtifactServer> {
  const files = new Map<string, Uint8Array>()
  const requests: ArtifactServer['requests'] = []
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = req.url ?? '/'
    requests.push({ path, range: req.headers.range })
    const body = files.get(path)
    if (body === undefined) {
      res.writeHead(404).end()
      return
    }
    if (server.busyResponses > 0) {
      server.busyResponses--
      res.writeHead(503).end()
      return
    }
    let start = 0
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')
    if (m !== null) start = Number(m[1])
    const slice = body.subarray(start)
    res.writeHead(m === null ? 200 : 206, { 'content-length': slice.byteLength, 'accept-ranges': 'bytes' })
    const stall = server.stallAfterBytes
    if (stall === null) {
      res.end(slice)
      return
    }
    res.write(slice.subarray(0, Math.max(0, stall - start))) // then nothing: the client times out or is killed
  }
  const http = createServer(handle)
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  const baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
  const close = (): Promise<void> =>
    new Promise<void>((resolve) => {
      http.close(() => {
        resolve()
      })
      http.closeAllConnections()
    })
  const server: ArtifactServer = {
    baseUrl,
    stallAfterBytes: null,
    busyResponses: 0,
    requests,
    put(name, bytes) {
      files.set(`/${name}`, bytes)
      return `${baseUrl}/${name}`
    },
    ref(name, pkg) {
      const url = this.put(name, pkg.bytes)
      return {
        name: pkg.manifest.name,
        version: pkg.manifest.version,
        sha256: pkg.sha256,
        size: pkg.bytes.byteLength,
        url,
        signature: pkg.signature,
      }
    },
    close,
    [Symbol.asyncDispose]: close,
  }
  return server
}
