import type { Redis } from 'ioredis'
import * as z from 'zod'
import {
  CredentialRecordSchema,
  type BrokerIdentity,
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
import { GroupRecordSchema, knownNames, resolveTarget, type GroupRecord, type ResolvedTarget } from './targets.js'

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

  private async all(): Promise<DeviceRecord[]> {
    const all = await this.o.redis.hgetall(this.o.keys.devices)
    const out: DeviceRecord[] = []
    for (const raw of Object.values(all)) {
      const parsed = DeviceRecordSchema.safeParse(JSON.parse(raw))
      if (parsed.success) out.push(parsed.data)
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  /**
   * Every device, or those a target picks: a selector, a device id or a group (see `resolveTarget`;
   * a word that names nothing matches no device).
   * @throws {FleetError} `REGISTRY_INVALID_SELECTOR`, `REGISTRY_TARGET_AMBIGUOUS`
   */
  async list(target?: string): Promise<DeviceRecord[]> {
    const all = await this.all()
    if (target === undefined || target.trim() === '') return all
    return this.pick(all, resolveTarget(target, knownNames(all, await this.groups()), false))
  }

  /**
   * What a target means and the devices it picks; a word that names nothing is refused.
   * @throws {FleetError} `REGISTRY_INVALID_SELECTOR`, `REGISTRY_TARGET_AMBIGUOUS`, `ROLLOUT_NO_DEVICES`
   */
  async resolve(target: string): Promise<{ target: ResolvedTarget; devices: DeviceRecord[] }> {
    const all = await this.all()
    const resolved = resolveTarget(target, knownNames(all, await this.groups()), true)
    return { target: resolved, devices: this.pick(all, resolved) }
  }

  private pick(all: DeviceRecord[], t: ResolvedTarget): DeviceRecord[] {
    if (t.deviceId !== null) return all.filter((d) => d.id === t.deviceId)
    const sel = parseSelector(t.selector)
    return all.filter((d) => matchesSelector(sel, d.labels))
  }

  /**
   * Every broker identity: each credential in the store (devices, gateways, controllers, consumers)
   * and each registered device without one (role device). `skipped` counts credential records that
   * do not validate: they are left out, never guessed at.
   */
  async identities(): Promise<{ identities: BrokerIdentity[]; skipped: number }> {
    const records = new Map<string, CredentialRecord>()
    let skipped = 0
    const prefix = credentialKey('', this.o.credentialPrefix)
    let cursor = '0'
    do {
      const [next, keys] = await this.o.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000, 'TYPE', 'string')
      cursor = next
      const values = keys.length === 0 ? [] : await this.o.redis.mget(...keys)
      values.forEach((raw) => {
        let json: unknown = null
        try {
          json = raw === null ? null : JSON.parse(raw)
        } catch {
          // counted below as a record that does not validate
        }
        const parsed = CredentialRecordSchema.safeParse(json)
        if (parsed.success) records.set(parsed.data.id, parsed.data)
        else if (raw !== null) skipped++
      })
    } while (cursor !== '0')
    const devices = await this.all()
    const registered = new Set(devices.map((d) => d.id))
    const out: BrokerIdentity[] = [...records.values()].map((r) => ({
      id: r.id,
      role: r.role,
      children: r.children,
      registered: registered.has(r.id),
      credential: true,
    }))
    for (const d of devices)
      if (!records.has(d.id)) out.push({ id: d.id, role: 'device', children: [], registered: true, credential: false })
    return { identities: out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)), skipped }
  }

  /** Saved groups, by name. */
  async groups(): Promise<GroupRecord[]> {
    const raw = await this.o.redis.hgetall(this.o.keys.groups)
    return Object.values(raw)
      .map((r) => GroupRecordSchema.safeParse(JSON.parse(r)))
      .flatMap((p) => (p.success ? [p.data] : []))
      .sort((a, b) => (a.name < b.name ? -1 : 1))
  }

  /** @throws {FleetError} `REGISTRY_GROUP_NOT_FOUND` */
  async group(name: string): Promise<GroupRecord> {
    const raw = await this.o.redis.hget(this.o.keys.groups, name)
    const parsed = raw === null ? null : GroupRecordSchema.safeParse(JSON.parse(raw))
    if (parsed?.success !== true) throw new FleetError('REGISTRY_GROUP_NOT_FOUND', `no group '${name}' is saved (liquid-lln group list)`)
    return parsed.data
  }

  /**
   * Save (or replace) a group. Its selector must read as a target now (words resolved, none ambiguous).
   * @throws {FleetError} `REGISTRY_INVALID_SELECTOR`, `REGISTRY_TARGET_AMBIGUOUS`, `ROLLOUT_NO_DEVICES`
   */
  async saveGroup(input: { name: string; selector: string; colour?: 'blue' | 'green' | null | undefined }): Promise<GroupRecord> {
    const group = GroupRecordSchema.parse({ ...input, colour: input.colour ?? null, createdAt: this.o.clock.now() })
    if (group.selector.trim() !== '') await this.resolve(group.selector)
    await this.o.redis.hset(this.o.keys.groups, group.name, JSON.stringify(group))
    return group
  }

  /** @throws {FleetError} `REGISTRY_GROUP_NOT_FOUND` */
  async removeGroup(name: string): Promise<void> {
    if ((await this.o.redis.hdel(this.o.keys.groups, name)) === 0)
      throw new FleetError('REGISTRY_GROUP_NOT_FOUND', `no group '${name}' is saved (liquid-lln group list)`)
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
