import { setTimeout as sleep } from 'node:timers/promises'
import * as z from 'zod'
import { DeviceIdSchema, FleetError, MessageIdSchema, ModelNameSchema, ReplyBodySchema, SemverSchema } from '@liquid-edge/protocol'
import { ModelRecordSchema, type ModelStore } from '../models/model-store.js'
import type { CommandClient } from '../mqtt/commands.js'
import type { LiveStore } from '../registry/live.js'
import { DeviceRecordSchema, LabelsSchema, type Registry } from '../registry/registry.js'
import { parseSelector } from '../registry/selector.js'
import type { RolloutRepo } from '../rollout/repo.js'
import { DecommissionRequestSchema, DeployRequestSchema, RollbackRequestSchema, SwitchRequestSchema } from '../rollout/requests.js'
import type { RolloutService } from '../rollout/service.js'
import { RolloutSchema } from '../rollout/types.js'
import { groupRoutes } from './group-routes.js'
import { route, type RouteDef } from './route.js'
import { SCOPES, type TokenStore } from './tokens.js'
import { Upload } from './upload.js'
import { DeviceViewSchema, RolloutViewSchema, SummarySchema, deviceViews, rolloutView, summarize } from './views.js'

export interface RouteDeps {
  registry: Registry
  models: ModelStore
  rollouts: RolloutService
  repo: RolloutRepo
  live: LiveStore
  tokens: TokenStore
  commands: CommandClient
  /** Routes of other parts (telemetry, rules, events). */
  extraRoutes?: RouteDef[]
}

const IdParams = z.strictObject({ id: DeviceIdSchema })
const RolloutParams = z.strictObject({ id: MessageIdSchema })
const ModelParams = z.strictObject({ name: ModelNameSchema, version: SemverSchema })
const SelectorQuery = z.strictObject({ target: z.string().max(2048).optional() })
const AnswersSchema = z.object({ answers: z.array(z.object({ deviceId: z.string(), reply: ReplyBodySchema.nullable() })) })
const ModelRowSchema = ModelRecordSchema.omit({ manifest: true })

/**
 * Decommission frees the old slot: never while a switch on these devices is still switching (the
 * old model is the way back). Waits for it until the deadline. @throws {FleetError} `ROLLOUT_CONFLICT`
 */
async function untilNoSwitch(repo: RolloutRepo, ids: readonly string[], deadline: number): Promise<void> {
  for (;;) {
    const locks = new Set((await repo.locks(ids)).filter((x): x is string => x !== null))
    const switching = (await Promise.all([...locks].map((id) => repo.find(id)))).filter((r) => r?.state === 'switching')
    if (switching.length === 0) return
    if (Date.now() >= deadline)
      throw new FleetError(
        'ROLLOUT_CONFLICT',
        `rollout ${switching.map((r) => r?.id ?? '').join(', ')} is still switching these devices; decommission frees the old slot only after the switch (wait, or watch: liquid-lln rollout show <id>)`,
      )
    await sleep(250)
  }
}

function deviceRoutes(d: RouteDeps): RouteDef[] {
  return [
    route({
      method: 'GET',
      url: '/v1/devices',
      summary: 'List devices (optionally by selector) with their live state',
      scope: 'read',
      query: SelectorQuery,
      response: z.object({ devices: z.array(DeviceViewSchema) }),
      handler: async ({ query }) => ({ devices: await deviceViews(d.live, d.repo, await d.registry.list(query.target)) }),
    }),
    route({
      method: 'POST',
      url: '/v1/devices',
      summary: 'Provision a device and its broker credential; the secret is returned once',
      scope: 'admin',
      status: 201,
      body: z.strictObject({ id: DeviceIdSchema, labels: LabelsSchema.default({}), credential: z.boolean().default(true) }),
      response: z.object({ device: DeviceRecordSchema, secret: z.string().nullable() }),
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
      response: DeviceViewSchema,
      handler: async ({ params }) => (await deviceViews(d.live, d.repo, [await d.registry.get(params.id)]))[0],
    }),
    route({
      method: 'PATCH',
      url: '/v1/devices/:id',
      summary: 'Set and remove labels',
      scope: 'operate',
      params: IdParams,
      body: z.strictObject({ set: LabelsSchema.default({}), remove: z.array(z.string().max(63)).max(100).default([]) }),
      response: DeviceRecordSchema,
      handler: ({ params, body }) => d.registry.relabel(params.id, body.set, body.remove),
    }),
    route({
      method: 'DELETE',
      url: '/v1/devices/:id',
      summary: 'Remove a device: revoke its credential, clear its retained topics',
      scope: 'admin',
      params: IdParams,
      response: z.object({ removed: z.string() }),
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
      response: AnswersSchema,
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
      response: z.object({ summary: SummarySchema, devices: z.array(DeviceViewSchema) }),
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
      response: z.object({ models: z.array(ModelRowSchema) }),
      handler: async () => ({ models: (await d.models.list()).map(strip) }),
    }),
    route({
      method: 'POST',
      url: '/v1/models',
      summary: 'Push a .liquid package (verified, stored by sha256)',
      scope: 'operate',
      body: 'binary',
      response: z.object({ model: ModelRowSchema, created: z.boolean() }),
      handler: async ({ body, reply }) => {
        if (!(body instanceof Upload)) throw new FleetError('API_INVALID_REQUEST', 'send the package as application/octet-stream')
        const { record, created } = await d.models.push(await body.read())
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
      response: ModelRecordSchema.extend({ ref: z.unknown() }),
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
      response: z.object({ deleted: z.string() }),
      handler: async ({ params }) => {
        await d.models.delete(params.name, params.version)
        return { deleted: `${params.name}@${params.version}` }
      },
    }),
  ]
}

function rolloutRoutes(d: RouteDeps): RouteDef[] {
  const action = (name: 'pause' | 'resume' | 'promote' | 'abort') =>
    route({
      method: 'POST',
      url: `/v1/rollouts/:id/${name}`,
      summary: `${name[0]?.toUpperCase() ?? ''}${name.slice(1)} a rollout`,
      scope: 'operate',
      params: RolloutParams,
      response: RolloutSchema,
      handler: ({ params }) => d.rollouts[name](params.id),
    })
  return [
    route({
      method: 'GET',
      url: '/v1/rollouts',
      summary: 'Recent rollouts',
      scope: 'read',
      query: z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(50) }),
      response: z.object({ rollouts: z.array(RolloutSchema) }),
      handler: async ({ query }) => ({ rollouts: await d.repo.list(query.limit) }),
    }),
    route({
      method: 'POST',
      url: '/v1/rollouts',
      summary: 'Deploy a model to a target',
      scope: 'operate',
      status: 201,
      body: DeployRequestSchema,
      response: RolloutSchema,
      handler: ({ body }) => d.rollouts.deploy(body as z.input<typeof DeployRequestSchema>),
    }),
    route({
      method: 'GET',
      url: '/v1/rollouts/:id',
      summary: 'A rollout with every device: its outcome, where it ended and why',
      scope: 'read',
      params: RolloutParams,
      response: RolloutViewSchema,
      handler: async ({ params }) => rolloutView(d.repo, d.live, await d.repo.get(params.id)),
    }),
    action('pause'),
    action('resume'),
    action('promote'),
    action('abort'),
    route({
      method: 'POST',
      url: '/v1/rollback',
      summary: 'Roll back a rollout, a selector or a device (skips gates, idempotent)',
      scope: 'operate',
      body: RollbackRequestSchema,
      response: z.object({ rollout: RolloutSchema.nullable(), touched: z.number(), unchanged: z.number() }),
      handler: ({ body }) => d.rollouts.rollback(body as z.input<typeof RollbackRequestSchema>),
    }),
    route({
      method: 'POST',
      url: '/v1/switch',
      summary: 'Blue-green: make the staged candidate active',
      scope: 'operate',
      body: SwitchRequestSchema,
      response: RolloutSchema,
      handler: ({ body }) => d.rollouts.switch(body),
    }),
    route({
      method: 'POST',
      url: '/v1/decommission',
      summary: 'Blue-green: free the old slot on the target devices',
      scope: 'operate',
      body: DecommissionRequestSchema,
      response: AnswersSchema,
      handler: async ({ body }) => {
        const ids = (await d.registry.resolve(body.target)).devices.map((x) => x.id)
        if (ids.length === 0) throw new FleetError('ROLLOUT_NO_DEVICES', `the target '${body.target}' selects no registered devices`)
        await untilNoSwitch(d.repo, ids, Date.now() + body.timeoutMs)
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
      response: z.object({ token: z.string(), scopes: z.array(z.enum(SCOPES)) }),
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
  return [...deviceRoutes(d), ...groupRoutes(d.registry), ...modelRoutes(d), ...rolloutRoutes(d), ...(d.extraRoutes ?? [])]
}
