import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import * as z from 'zod'
import { ErrorPayloadSchema, PolicySchema, type DesiredBody } from '@liquid-edge/protocol'
import type { Keys } from '../keys.js'
import type { ModelStore } from '../models/model-store.js'
import type { MqttLink } from '../mqtt/link.js'
import { safeJson } from '../safe-json.js'

const SummarySchema = z.object({ name: z.string(), version: z.string(), sha256: z.string() })

/**
 * The last desired state written to a device: what it runs or is on its way to, where it came
 * from, and what is needed to send it again. The controller's truth; the retained MQTT message is
 * only how it travels.
 */
export const DesiredRecordSchema = z.object({
  gen: z.number().int(),
  rolloutId: z.string().nullable(),
  /** The model; all three `null` for no model. */
  name: z.string().nullable(),
  version: z.string().nullable(),
  sha256: z.string().nullable(),
  mode: z.enum(['activate', 'stage']),
  at: z.number(),
  /** The model the device ran before this state (its way back); `undefined` in records older than this field. */
  from: SummarySchema.nullable().optional(),
  /** The template (policy, mode, expiry, reason) of the body, for republishing; `null` in older records. */
  body: z.string().nullable().default(null),
  /** A retained desired message carries this state (false: sent by command, or withdrawn). */
  retained: z.boolean().default(true),
})
export type DesiredRecord = z.output<typeof DesiredRecordSchema>
/** A record to write; the generation is assigned in Redis. */
export type NewDesiredRecord = Omit<z.input<typeof DesiredRecordSchema>, 'gen'>

/** The part of a desired body that many devices share (everything but generation, rollout and model). */
export const DesiredTemplateSchema = z.object({
  policy: PolicySchema,
  mode: z.enum(['activate', 'stage']),
  expiresAt: z.number().int().nullable(),
  reason: ErrorPayloadSchema.nullable(),
})
export type DesiredTemplate = z.output<typeof DesiredTemplateSchema>

/** A stored record, or null when there is none or it does not parse. */
export function parseDesiredRecord(raw: string | null | undefined): DesiredRecord | null {
  return safeJson(DesiredRecordSchema, raw)
}

export interface DesiredStatesOptions {
  redis: Redis
  keys: Keys
  link: MqttLink
  models: Pick<ModelStore, 'find' | 'ref'>
  /** Counts desired-state writes (metrics). */
  onWrite: () => void
}

const TEMPLATE_CACHE = 1000

/** Desired states: their records in Redis, their shared templates, and their publication. */
export class DesiredStates {
  private readonly templates = new Map<string, DesiredTemplate>()

  constructor(private readonly o: DesiredStatesOptions) {}

  /** Store a template once (content-addressed) and return its id. */
  async saveTemplate(t: DesiredTemplate): Promise<string> {
    const json = JSON.stringify(DesiredTemplateSchema.parse(t))
    const id = createHash('sha256').update(json).digest('hex').slice(0, 20)
    if (!this.templates.has(id)) {
      await this.o.redis.hsetnx(this.o.keys.desiredBodies, id, json)
      this.remember(id, t)
    }
    return id
  }

  private remember(id: string, t: DesiredTemplate): void {
    if (this.templates.size >= TEMPLATE_CACHE) this.templates.clear()
    this.templates.set(id, t)
  }

  private async template(id: string): Promise<DesiredTemplate | null> {
    const known = this.templates.get(id)
    if (known !== undefined) return known
    const t = safeJson(DesiredTemplateSchema, await this.o.redis.hget(this.o.keys.desiredBodies, id))
    if (t !== null) this.remember(id, t)
    return t
  }

  async records(ids: readonly string[]): Promise<(DesiredRecord | null)[]> {
    if (ids.length === 0) return []
    return (await this.o.redis.hmget(this.o.keys.desired, ...ids)).map(parseDesiredRecord)
  }

  /** Publish a desired body (retained, QoS 1). */
  async publish(deviceId: string, body: DesiredBody): Promise<void> {
    await this.o.link.publishDesired(deviceId, body)
    this.o.onWrite()
  }

  /**
   * The body a record stands for, built again from its template and the model store (with the
   * store's current artifact URL); null when that is impossible (an older record, a model gone).
   */
  async rebuild(rec: DesiredRecord): Promise<DesiredBody | null> {
    if (!rec.retained || rec.body === null) return null
    const t = await this.template(rec.body)
    if (t === null) return null
    let model = null
    if (rec.name !== null && rec.version !== null) {
      const found = await this.o.models.find(rec.name, rec.version)
      if (found?.sha256 !== rec.sha256) return null
      model = this.o.models.ref(found)
    }
    return { generation: rec.gen, rolloutId: rec.rolloutId, model, ...t }
  }

  /** Send a record's state again; false when it cannot be rebuilt. Idempotent: the device ignores a generation it has acted on. */
  async republish(deviceId: string, rec: DesiredRecord): Promise<boolean> {
    const body = await this.rebuild(rec)
    if (body === null) return false
    await this.publish(deviceId, body)
    return true
  }

  /** Remove the retained desired message of a device (its state was withdrawn). */
  async withdraw(deviceId: string): Promise<void> {
    await this.o.link.clearDesired(deviceId)
  }
}
