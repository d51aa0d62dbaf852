import type { KeyObject } from 'node:crypto'
import type { Redis } from 'ioredis'
import * as z from 'zod'
import { assertValidPackage } from '@liquid-edge/package'
import { FleetError, ModelRefSchema, PackageManifestSchema, type ModelRef } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import type { Keys } from '../keys.js'
import type { ArtifactStore } from './artifact-store.js'

export const ModelRecordSchema = z.object({
  name: z.string(),
  version: z.string(),
  sha256: z.string(),
  size: z.number().int(),
  signature: z.string(),
  publisher: z.number().int(),
  createdAt: z.number().int(),
  manifest: PackageManifestSchema,
})
export type ModelRecord = z.infer<typeof ModelRecordSchema>

export interface ModelStoreOptions {
  redis: Redis
  keys: Keys
  artifacts: ArtifactStore
  publisherKeys: readonly KeyObject[]
  clock: Clock
  /** Base URL of the artifact route, e.g. `http://10.0.0.2:8080`. */
  publicUrl: () => string
  /** Why a model may not be deleted (a device or active rollout uses it), or null. */
  usedBy: (record: ModelRecord) => Promise<string | null>
}

/** Parse `name@version`. @throws {FleetError} `API_INVALID_REQUEST` */
export function parseModelSpec(spec: string): { name: string; version: string } {
  const at = spec.lastIndexOf('@')
  if (at <= 0) throw new FleetError('API_INVALID_REQUEST', `'${spec}' is not name@version`)
  return { name: spec.slice(0, at), version: spec.slice(at + 1) }
}

/** Verified `.liquid` packages: bytes content-addressed, name/version/manifest in Redis. */
export class ModelStore {
  constructor(private readonly o: ModelStoreOptions) {}

  /**
   * Verify and store a package. Pushing the same bytes again is a no-op.
   * @throws {FleetError} any `PACKAGE_*` code, `MODEL_EXISTS`
   */
  async push(bytes: Uint8Array): Promise<{ record: ModelRecord; created: boolean }> {
    const v = assertValidPackage(bytes, { keys: this.o.publisherKeys })
    const { manifest } = v.package
    const field = `${manifest.name}@${manifest.version}`
    const existing = await this.find(manifest.name, manifest.version)
    if (existing !== null) {
      if (existing.sha256 !== v.sha256)
        throw new FleetError('MODEL_EXISTS', `${field} is already stored with different content (sha256 ${existing.sha256.slice(0, 12)}…)`)
      return { record: existing, created: false }
    }
    await this.o.artifacts.put(v.sha256, bytes)
    const record: ModelRecord = {
      name: manifest.name,
      version: manifest.version,
      sha256: v.sha256,
      size: v.size,
      signature: v.signature,
      publisher: v.publisher,
      createdAt: this.o.clock.now(),
      manifest,
    }
    const created = await this.o.redis.hsetnx(this.o.keys.models, field, JSON.stringify(record))
    if (created === 0) return this.push(bytes)
    return { record, created: true }
  }

  async find(name: string, version: string): Promise<ModelRecord | null> {
    const raw = await this.o.redis.hget(this.o.keys.models, `${name}@${version}`)
    return raw === null ? null : ModelRecordSchema.parse(JSON.parse(raw))
  }

  /** @throws {FleetError} `MODEL_NOT_FOUND` */
  async get(name: string, version: string): Promise<ModelRecord> {
    const r = await this.find(name, version)
    if (r === null)
      throw new FleetError('MODEL_NOT_FOUND', `no model ${name}@${version} in the store (push it first: liquid-lln model push <file>)`)
    return r
  }

  async list(): Promise<ModelRecord[]> {
    const all = await this.o.redis.hgetall(this.o.keys.models)
    return Object.values(all)
      .map((raw) => ModelRecordSchema.parse(JSON.parse(raw)))
      .sort((a, b) => a.name.localeCompare(b.name) || a.createdAt - b.createdAt)
  }

  /** The model by sha256 (for rollback targets known only by slot), or null. */
  async bySha(sha256: string): Promise<ModelRecord | null> {
    return (await this.list()).find((m) => m.sha256 === sha256) ?? null
  }

  /** @throws {FleetError} `MODEL_NOT_FOUND`, `MODEL_IN_USE` */
  async delete(name: string, version: string): Promise<void> {
    const record = await this.get(name, version)
    const why = await this.o.usedBy(record)
    if (why !== null) throw new FleetError('MODEL_IN_USE', `${name}@${version} is in use: ${why}`)
    await this.o.redis.hdel(this.o.keys.models, `${name}@${version}`)
    const others = (await this.list()).some((m) => m.sha256 === record.sha256)
    if (!others) await this.o.artifacts.delete(record.sha256)
  }

  /** The artifact reference a desired state carries. */
  ref(record: ModelRecord): ModelRef {
    return ModelRefSchema.parse({
      name: record.name,
      version: record.version,
      sha256: record.sha256,
      size: record.size,
      url: `${this.o.publicUrl()}/artifacts/${record.sha256}`,
      signature: record.signature,
    })
  }
}
