import * as z from 'zod'
import { DeviceIdSchema, FleetError, MessageIdSchema, ModelNameSchema, SemverSchema } from '@liquid-edge/protocol'
import type { ModelStore } from '../models/model-store.js'
import type { CommandClient } from '../mqtt/commands.js'
import type { LiveStore } from '../registry/live.js'
import { LabelsSchema, type Registry } from '../registry/registry.js'
import { parseSelector } from '../registry/selector.js'
import type { RolloutRepo } from '../rollout/repo.js'
import { DecommissionRequestSchema, DeployRequestSchema, RollbackRequestSchema, SwitchRequestSchema } from '../rollout/requests.js'
import type { RolloutService } from '../rollout/service.js'
import { route, type RouteDef } from './route.js'
import { SCOPES, type TokenStore } from './tokens.js'
import { deviceViews, rolloutView, summarize } from './views.js'

export interface RouteDeps {
  registry: Registry
  models: ModelStore
  rollouts: RolloutService
  repo: RolloutRepo
  live: LiveStore
  tokens: TokenStore
  commands: CommandClient
  /** Routes of other parts (telemetry, rules, events: #7). */
  extraRoutes?: RouteDef[]
}

const IdParams = z.strictObject({ id: DeviceIdSchema })
const RolloutParams = z.strictObject({ id: MessageIdSchema })
const ModelParams = z.strictObject({ name: ModelNameSchema, version: SemverSchema })
const SelectorQuery = z.strictObject({ target: z.string().max(2048).optional() })

function deviceRoutes(d: RouteDeps): RouteDef[] {
  return [
    route({
      method: 'GET',
      url: '/v1/devices',
      summary: 'List devices (optionally by selector) with their live state',
      scope: 'read',
      query: SelectorQuery,
      handler: async ({ query }) => ({ devices: await deviceViews(d.live, d.repo, await d.registry.list(query.target)) }),
    }),
    route({
      method: 'POST',
      url: '/v1/devices',
      summary: 'Provision a device and its broker credential; the secret is returned once',
      scope: 'admin',
      status: 201,
      body: z.strictObject({ id: DeviceIdSchema, labels: LabelsSchema.default({}), credential: z.boolean().default(true) }),
      handler: ({ body }) => d.registry.add(body),
    }),
    route({
      method: 'POST',
      url: '/v1/devices/bulk',
      summary: 'Register many devices without credentials',
      scope: 'admin',
      body: z.strictObject({
        devices: z
          .array(z.strictObject({ id: DeviceIdSchema, labels: LabelsSchema.default({}) }))
          .min(1)
          .max(100_000),
      }),
      handler: async ({ body }) => ({ added: await d.registry.addMany(body.devices) }),
    }),
    route({
      method: 'GET',
      url: '/v1/devices/:id',
      summary: 'One device with its live state',
      scope: 'read',
      params: IdParams,
      handler: async ({ params }) => (await deviceViews(d.live, d.repo, [await d.registry.get(params.id)]))[0],
    }),
    route({
      method: 'PATCH',
      url: '/v1/devices/:id',
      summary: 'Set and remove labels',
      scope: 'operate',
      params: IdParams,
      body: z.strictObject({ set: LabelsSchema.default({}), remove: z.array(z.string().max(63)).max(100).default([]) }),
      handler: ({ params, body }) => d.registry.relabel(params.id, body.set, body.remove),
    }),
    route({
      method: 'DELETE',
      url: '/v1/devices/:id',
      summary: 'Remove a device: revoke its credential, clear its retained topics',
      scope: 'admin',
      params: IdParams,
      handler: async ({ params }) => {
        await d.registry.remove(params.id)
        return { removed: params.id }
      },
    }),
    route({
      method: 'POST',
      url: '/v1/devices/query',
      summary: 'Ask devices for storage, memory or slots (status command)',
      scope: 'operate',
      body: z.strictObject({
        target: z.string().max(2048),
        metric: z.enum(['storage', 'memory', 'slots']),
        timeoutMs: z.number().int().min(100).max(60_000).default(5000),
      }),
      handler: async ({ body }) => {
        const ids = (await d.registry.list(body.target)).map((x) => x.id)
        if (ids.length === 0) throw new FleetError('ROLLOUT_NO_DEVICES', `the target '${body.target}' selects no registered devices`)
        return {
          answers: await d.commands.request(
            ids,
            { kind: 'status', metric: body.metric, expiresAt: Date.now() + body.timeoutMs },
            body.timeoutMs,
          ),
        }
      },
    }),
    route({
      method: 'GET',
      url: '/v1/status',
      summary: 'Fleet summary and devices for a selector',
      scope: 'read',
      query: SelectorQuery,
      handler: async ({ query }) => {
        const views = await deviceViews(d.live, d.repo, await d.registry.list(query.target))
        return { summary: summarize(views), devices: views }
      },
    }),
  ]
}

function modelRoutes(d: RouteDeps): RouteDef[] {
  const strip = <T extends { manifest: unknown }>(m: T) => ({ ...m, manifest: undefined })
  return [
    route({
      method: 'GET',
      url: '/v1/models',
      summary: 'List stored models',
      scope: 'read',
      handler: async () => ({ models: (await d.models.list()).map(strip) }),
    }),
    route({
      method: 'POST',
      url: '/v1/models',
      summary: 'Push a .liquid package (verified, stored by sha256)',
      scope: 'operate',
      body: 'binary',
      handler: async ({ body, reply }) => {
        if (!(body instanceof Buffer)) throw new FleetError('API_INVALID_REQUEST', 'send the package as application/octet-stream')
        const { record, created } = await d.models.push(body)
        void reply.code(created ? 201 : 200)
        return { model: strip(record), created }
      },
    }),
    route({
      method: 'GET',
      url: '/v1/models/:name/:version',
      summary: 'A model and its manifest',
      scope: 'read',
      params: ModelParams,
      handler: async ({ params }) => {
        const m = await d.models.get(params.name, params.version)
        return { ...m, ref: d.models.ref(m) }
      },
    }),
    route({
      method: 'DELETE',
      url: '/v1/models/:name/:version',
      summary: 'Delete a model (refused while in use)',
      scope: 'admin',
      params: ModelParams,
      handler: async ({ params }) => {
        await d.models.delete(params.name, params.version)
        return { deleted: `${params.name}@${params.version}` }
      },
    }),
  ]
}

function rolloutRoutes(d: RouteDeps): RouteDef[] {
  const action = (name: 'pause' | 'resume' | 'abort') =>
    route({
      method: 'POST',
      url: `/v1/rollouts/:id/${name}`,
      summary: `${name[0]?.toUpperCase() ?? ''}${name.slice(1)} a rollout`,
      scope: 'operate',
      params: RolloutParams,
      handler: ({ params }) => d.rollouts[name](params.id),
    })
  return [
    route({
      method: 'GET',
      url: '/v1/rollouts',
      summary: 'Recent rollouts',
      scope: 'read',
      query: z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(50) }),
      handler: async ({ query }) => ({ rollouts: await d.repo.list(query.limit) }),
    }),
    route({
      method: 'POST',
      url: '/v1/rollouts',
      summary: 'Deploy a model to a target',
      scope: 'operate',
      status: 201,
      body: DeployRequestSchema,
      handler: ({ body }) => d.rollouts.deploy(body as z.input<typeof DeployRequestSchema>),
    }),
    route({
      method: 'GET',
      url: '/v1/rollouts/:id',
      summary: 'A rollout with per-device progress',
      scope: 'read',
      params: RolloutParams,
      handler: async ({ params }) => rolloutView(d.repo, await d.repo.get(params.id)),
    }),
    action('pause'),
    action('resume'),
    action('abort'),
    route({
      method: 'POST',
      url: '/v1/rollback',
      summary: 'Roll back a rollout, a selector or a device (skips gates, idempotent)',
      scope: 'operate',
      body: RollbackRequestSchema,
      handler: ({ body }) => d.rollouts.rollback(body as z.input<typeof RollbackRequestSchema>),
    }),
    route({
      method: 'POST',
      url: '/v1/switch',
      summary: 'Blue-green: make the staged candidate active',
      scope: 'operate',
      body: SwitchRequestSchema,
      handler: ({ body }) => d.rollouts.switch(body),
    }),
    route({
      method: 'POST',
      url: '/v1/decommission',
      summary: 'Blue-green: free the old slot on the target devices',
      scope: 'operate',
      body: DecommissionRequestSchema,
      handler: async ({ body }) => {
        const ids = (await d.registry.list(body.target)).map((x) => x.id)
        if (ids.length === 0) throw new FleetError('ROLLOUT_NO_DEVICES', `the target '${body.target}' selects no registered devices`)
        return { answers: await d.commands.request(ids, { kind: 'decommission', expiresAt: Date.now() + body.timeoutMs }, body.timeoutMs) }
      },
    }),
    route({
      method: 'POST',
      url: '/v1/tokens',
      summary: 'Create an operator token (returned once)',
      scope: 'admin',
      status: 201,
      body: z.strictObject({ name: z.string().min(1).max(64), scopes: z.array(z.enum(SCOPES)).min(1) }),
      handler: async ({ body }) => ({ token: await d.tokens.create(body.name, body.scopes), scopes: body.scopes }),
    }),
    route({
      method: 'GET',
      url: '/v1/selectors/parse',
      summary: 'Check a label selector',
      scope: 'read',
      query: z.strictObject({ target: z.string().max(2048) }),
      handler: ({ query }) => Promise.resolve({ requirements: parseSelector(query.target) }),
    }),
  ]
}

export function apiRoutes(d: RouteDeps): RouteDef[] {
  return [...deviceRoutes(d), ...modelRoutes(d), ...rolloutRoutes(d), ...(d.extraRoutes ?? [])]
}
