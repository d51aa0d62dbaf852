import type { Redis } from 'ioredis'
import * as z from 'zod'
import {
  CredentialRecordSchema,
  DeviceIdSchema,
  FleetError,
  credentialChannel,
  credentialKey,
  type CredentialRecord,
} from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import type { Keys } from '../keys.js'
import { hashSecret, newSecret } from './credentials.js'
import { matchesSelector, parseSelector, type Labels } from './selector.js'

export const LabelsSchema = z.record(z.string().regex(/^[A-Za-z0-9._-]{1,63}$/), z.string().regex(/^[A-Za-z0-9._-]{1,63}$/))

export const DeviceRecordSchema = z.object({
  id: DeviceIdSchema,
  labels: LabelsSchema,
  createdAt: z.number().int(),
  /** Whether a broker credential was provisioned (gateway children connect through their gateway). */
  credential: z.boolean(),
})
export type DeviceRecord = z.infer<typeof DeviceRecordSchema>

export interface RegistryOptions {
  redis: Redis
  keys: Keys
  credentialPrefix: string
  clock: Clock
  /** Clears the device's retained topics (empty retained payloads). */
  clearRetained: (id: string) => Promise<void>
}

/** The device registry: records, labels, and broker credentials in the shared layout. */
export class Registry {
  constructor(private readonly o: RegistryOptions) {}

  /**
   * Register a device; with `credential` (default) provision its broker credential and return the
   * secret (shown once). @throws {FleetError} `REGISTRY_DEVICE_EXISTS`
   */
  async add(input: { id: string; labels?: Labels; credential?: boolean }): Promise<{ device: DeviceRecord; secret: string | null }> {
    const device: DeviceRecord = {
      id: DeviceIdSchema.parse(input.id),
      labels: LabelsSchema.parse(input.labels ?? {}),
      createdAt: this.o.clock.now(),
      credential: input.credential ?? true,
    }
    let secret: string | null = null
    let cred: string | null = null
    if (device.credential) {
      secret = newSecret()
      const record: CredentialRecord = CredentialRecordSchema.parse({
        id: device.id,
        role: 'device',
        hash: await hashSecret(secret),
        createdAt: device.createdAt,
      })
      cred = JSON.stringify(record)
    }
    const added = await this.o.redis.hsetnx(this.o.keys.devices, device.id, JSON.stringify(device))
    if (added === 0) throw new FleetError('REGISTRY_DEVICE_EXISTS', `device '${device.id}' is already registered`)
    if (cred !== null) {
      await this.o.redis.set(credentialKey(device.id, this.o.credentialPrefix), cred)
      await this.o.redis.publish(credentialChannel(this.o.credentialPrefix), device.id)
    }
    return { device, secret }
  }

  /** Register many devices without credentials in one round trip (simulated fleets, gateway children). */
  async addMany(devices: { id: string; labels: Labels }[]): Promise<number> {
    const now = this.o.clock.now()
    const pipe = this.o.redis.pipeline()
    for (const d of devices) {
      pipe.hsetnx(
        this.o.keys.devices,
        d.id,
        JSON.stringify({ id: DeviceIdSchema.parse(d.id), labels: LabelsSchema.parse(d.labels), createdAt: now, credential: false }),
      )
    }
    const res = await pipe.exec()
    return (res ?? []).filter(([, v]) => v === 1).length
  }

  /** @throws {FleetError} `REGISTRY_DEVICE_NOT_FOUND` */
  async get(id: string): Promise<DeviceRecord> {
    const raw = await this.o.redis.hget(this.o.keys.devices, id)
    if (raw === null) throw new FleetError('REGISTRY_DEVICE_NOT_FOUND', `no device '${id}' is registered`)
    return DeviceRecordSchema.parse(JSON.parse(raw))
  }

  /** Every device, or those the selector matches. @throws {FleetError} `REGISTRY_INVALID_SELECTOR` */
  async list(selector?: string): Promise<DeviceRecord[]> {
    const sel = selector === undefined ? [] : parseSelector(selector)
    const all = await this.o.redis.hgetall(this.o.keys.devices)
    const out: DeviceRecord[] = []
    for (const raw of Object.values(all)) {
      const parsed = DeviceRecordSchema.safeParse(JSON.parse(raw))
      if (parsed.success && matchesSelector(sel, parsed.data.labels)) out.push(parsed.data)
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  /** Set and remove labels. @throws {FleetError} `REGISTRY_DEVICE_NOT_FOUND` */
  async relabel(id: string, set: Labels, remove: readonly string[] = []): Promise<DeviceRecord> {
    const device = await this.get(id)
    const labels: Record<string, string> = { ...device.labels, ...LabelsSchema.parse(set) }
    for (const k of remove) Reflect.deleteProperty(labels, k)
    const next = { ...device, labels }
    await this.o.redis.hset(this.o.keys.devices, id, JSON.stringify(next))
    return next
  }

  /** Remove a device: revoke its credential, forget its live state, clear its retained topics. */
  async remove(id: string): Promise<void> {
    await this.get(id)
    const k = this.o.keys
    await this.o.redis
      .multi()
      .hdel(k.devices, id)
      .del(credentialKey(id, this.o.credentialPrefix))
      .hdel(k.status, id)
      .hdel(k.reported, id)
      .hdel(k.telemetry, id)
      .hdel(k.desired, id)
      .hdel(k.locks, id)
      .exec()
    await this.o.redis.publish(credentialChannel(this.o.credentialPrefix), id)
    await this.o.clearRetained(id)
  }
}
