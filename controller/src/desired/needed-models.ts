import type { Redis } from 'ioredis'
import type { Keys } from '../keys.js'
import { LiveReportedSchema } from '../registry/live.js'
import { safeJson } from '../safe-json.js'
import { DesiredTemplateSchema, parseDesiredRecord } from './desired-states.js'

/** What the check needs of an active rollout. */
export interface RolloutNeeds {
  id: string
  state: string
  model: { sha256: string }
  policy: { fallback: { name: string; version: string } | null }
}

export interface ModelNeedsOptions {
  redis: Redis
  keys: Keys
  /** The rollouts not finished yet. */
  activeRollouts: () => Promise<RolloutNeeds[]>
  /** Hash entries read per round trip. @defaultValue 1000 */
  batch?: number
}

async function scanHash(redis: Redis, key: string, batch: number, each: (field: string, value: string) => void): Promise<void> {
  let cursor = '0'
  do {
    const [next, flat] = await redis.hscan(key, cursor, 'COUNT', batch)
    cursor = next
    for (let i = 0; i + 1 < flat.length; i += 2) each(flat[i] ?? '', flat[i + 1] ?? '')
  } while (cursor !== '0')
}

/**
 * Why a model must stay in the store, or `null`: a rollout not finished deploys it or names it as
 * its fallback; a device is assigned it, may return to it (the model it ran before its current
 * one), has it as the fallback of its current release, or runs or holds it in a slot. Reads every
 * device record a batch at a time: a delete is rare, and must never strand a device without a way back.
 */
export async function modelNeeds(o: ModelNeedsOptions, m: { name: string; version: string; sha256: string }): Promise<string | null> {
  const batch = o.batch ?? 1000
  const isFallback = (f: { name: string; version: string } | null): boolean => f !== null && f.name === m.name && f.version === m.version
  for (const r of await o.activeRollouts()) {
    if (r.model.sha256 === m.sha256) return `rollout ${r.id} is ${r.state}`
    if (isFallback(r.policy.fallback)) return `it is the fallback of rollout ${r.id} (${r.state})`
  }
  const fallbackTemplates = new Set<string>()
  await scanHash(o.redis, o.keys.desiredBodies, batch, (id, raw) => {
    const t = safeJson(DesiredTemplateSchema, raw)
    if (t !== null && isFallback(t.policy.fallback)) fallbackTemplates.add(id)
  })
  const n = { assigned: 0, previous: 0, fallback: 0, resident: 0 }
  await scanHash(o.redis, o.keys.desired, batch, (_, raw) => {
    const rec = parseDesiredRecord(raw)
    if (rec === null) return
    if (rec.sha256 === m.sha256) n.assigned++
    else if (rec.from?.sha256 === m.sha256) n.previous++
    else if (rec.body !== null && fallbackTemplates.has(rec.body)) n.fallback++
  })
  await scanHash(o.redis, o.keys.reported, batch, (_, raw) => {
    const rep = safeJson(LiveReportedSchema, raw)
    if (rep?.slots.some((s) => s.model.sha256 === m.sha256) === true) n.resident++
  })
  const why = [
    ...(n.assigned > 0 ? [`${n.assigned} devices are assigned it`] : []),
    ...(n.previous > 0 ? [`${n.previous} devices may return to it (the model they ran before)`] : []),
    ...(n.fallback > 0 ? [`it is the fallback of ${n.fallback} devices' release`] : []),
    ...(n.resident > 0 ? [`${n.resident} devices run or keep it in a slot`] : []),
  ]
  return why.length === 0 ? null : why.join('; ')
}
