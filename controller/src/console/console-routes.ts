import * as z from 'zod'
import { FleetError } from '@liquid-edge/protocol'
import { route, type RouteDef } from '../api/route.js'
import { SCOPES, type TokenStore } from '../api/tokens.js'
import { DeviceViewSchema, SummarySchema, deviceView, deviceViews, summarize } from '../api/views.js'
import type { LiveStore } from '../registry/live.js'
import type { DeviceRecord, Registry } from '../registry/registry.js'
import { matchesSelector, parseSelector, type Labels } from '../registry/selector.js'
import type { RolloutRepo } from '../rollout/repo.js'
import { MAX_REPLAY, type LiveHub } from './live-hub.js'

export interface ConsoleRouteDeps {
  registry: Registry
  live: LiveStore
  repo: RolloutRepo
  tokens: TokenStore
  hub: LiveHub
}

const STREAM_ID = /^\d{1,16}-\d{1,10}$/

/** Filters the console's fleet table shares with its counts: a target in the CLI's grammar and an id fragment. */
const FleetFilter = z.strictObject({
  target: z.string().max(2048).optional(),
  q: z.string().max(128).optional(),
})

const FleetPageQuery = FleetFilter.extend({
  /** A reported phase, or `unknown` for devices that never reported. */
  phase: z.string().max(32).optional(),
  online: z.enum(['online', 'offline', 'unknown']).optional(),
  /** The active model `name@version`, or `none`. */
  model: z.string().max(200).optional(),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(500).default(100),
})
type FleetPageQuery = z.output<typeof FleetPageQuery>

function bearer(header: string | undefined): string {
  return /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1] ?? ''
}

async function filtered(d: ConsoleRouteDeps, f: { target?: string | undefined; q?: string | undefined }): Promise<DeviceRecord[]> {
  const all = await d.registry.list(f.target === undefined || f.target.trim() === '' ? undefined : f.target)
  const q = f.q?.trim().toLowerCase() ?? ''
  return q === '' ? all : all.filter((x) => x.id.toLowerCase().includes(q))
}

/** Narrow by live state (phase, online, model) only when asked: it reads every matching device's state. */
async function byLiveState(d: ConsoleRouteDeps, records: DeviceRecord[], q: FleetPageQuery): Promise<DeviceRecord[]> {
  if (q.phase === undefined && q.online === undefined && q.model === undefined) return records
  const live = await d.live.views(records.map((x) => x.id))
  return records.filter((rec, i) => {
    const v = deviceView(rec, live[i], null)
    if (q.phase !== undefined && (v.phase ?? 'unknown') !== q.phase) return false
    if (q.online !== undefined && (v.online === null ? 'unknown' : v.online ? 'online' : 'offline') !== q.online) return false
    return q.model === undefined || (v.active ?? 'none') === q.model
  })
}

/** The saved groups as matchers: which groups a device's labels put it in. */
async function groupMatcher(registry: Registry): Promise<(labels: Labels) => string[]> {
  const groups = (await registry.groups()).flatMap((g) => {
    try {
      return [{ name: g.name, sel: parseSelector(g.selector) }]
    } catch {
      return []
    }
  })
  return (labels) => groups.filter((g) => matchesSelector(g.sel, labels)).map((g) => g.name)
}

/** Counts of the saved groups among `records` (groups with none left out). */
function groupCounts(records: readonly DeviceRecord[], groupsOf: (labels: Labels) => string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const r of records) for (const g of groupsOf(r.labels)) out[g] = (out[g] ?? 0) + 1
  return out
}

/** Routes the web console needs besides the API's own: a paged fleet, its counts, who is logged in, the live stream. */
export function consoleRoutes(d: ConsoleRouteDeps): RouteDef[] {
  return [
    route({
      method: 'GET',
      url: '/v1/fleet/devices',
      summary: 'One page of devices with their live state, filtered by target, id fragment, phase, online state or model',
      scope: 'read',
      query: FleetPageQuery,
      response: z.object({
        total: z.number().int(),
        offset: z.number().int(),
        devices: z.array(DeviceViewSchema.extend({ groups: z.array(z.string()).describe('The saved groups the device is in.') })),
      }),
      handler: async ({ query }) => {
        const records = await byLiveState(d, await filtered(d, query), query)
        const page = records.slice(query.offset, query.offset + query.limit)
        const groupsOf = await groupMatcher(d.registry)
        const devices = (await deviceViews(d.live, d.repo, page)).map((v) => ({ ...v, groups: groupsOf(v.labels) }))
        return { total: records.length, offset: query.offset, devices }
      },
    }),
    route({
      method: 'GET',
      url: '/v1/fleet/summary',
      summary: 'Device counts by online state, phase, active model, hardware class and saved group, for a target and id fragment',
      scope: 'read',
      query: FleetFilter,
      response: z.object({ total: z.number().int(), summary: SummarySchema }),
      handler: async ({ query }) => {
        const records = await filtered(d, query)
        const [live, groupsOf] = await Promise.all([d.live.views(records.map((x) => x.id)), groupMatcher(d.registry)])
        const summary = summarize(records.map((rec, i) => deviceView(rec, live[i], null)))
        return { total: records.length, summary: { ...summary, group: groupCounts(records, groupsOf) } }
      },
    }),
    route({
      method: 'GET',
      url: '/v1/whoami',
      summary: "The calling token's name and scopes",
      scope: 'read',
      response: z.object({ name: z.string(), scopes: z.array(z.enum(SCOPES)) }),
      handler: async ({ raw }) => {
        const record = await d.tokens.verify(bearer(raw.headers.authorization))
        if (record === null) throw new FleetError('API_UNAUTHORIZED', 'unknown bearer token')
        return { name: record.name, scopes: record.scopes }
      },
    }),
    route({
      method: 'GET',
      url: '/v1/stream',
      summary:
        'Server-sent events: audit records (id = stream id; reconnect with Last-Event-ID to get what was missed), rollout revisions, rule evaluations, device changes',
      scope: 'read',
      query: z.strictObject({ backlog: z.coerce.number().int().min(0).max(MAX_REPLAY).default(0) }),
      handler: async ({ raw, reply, query }) => {
        const last = raw.headers['last-event-id']
        const lastEventId = typeof last === 'string' && STREAM_ID.test(last.trim()) ? last.trim() : null
        reply.hijack()
        await d.hub.open(reply.raw, { token: bearer(raw.headers.authorization), lastEventId, backlog: query.backlog })
      },
    }),
  ]
}
