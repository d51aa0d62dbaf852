import * as z from 'zod'
import { DeviceRecordSchema, type Registry } from '../registry/registry.js'
import { GroupRecordSchema } from '../registry/targets.js'
import { route, type RouteDef } from './route.js'

const NameParams = z.strictObject({ name: GroupRecordSchema.shape.name })
const GroupViewSchema = GroupRecordSchema.extend({ devices: z.number().int() })

/** Named targets: groups (saved selectors) and what a target means. */
export function groupRoutes(registry: Registry): RouteDef[] {
  const view = async (g: z.infer<typeof GroupRecordSchema>) => ({ ...g, devices: (await registry.list(g.selector)).length })
  return [
    route({
      method: 'GET',
      url: '/v1/groups',
      summary: 'Saved groups (named selectors) with their device counts',
      scope: 'read',
      response: z.object({ groups: z.array(GroupViewSchema) }),
      handler: async () => ({ groups: await Promise.all((await registry.groups()).map(view)) }),
    }),
    route({
      method: 'POST',
      url: '/v1/groups',
      summary: 'Save a group: a name for a selector (replaces one of the same name)',
      scope: 'operate',
      status: 201,
      body: z.strictObject({
        name: GroupRecordSchema.shape.name,
        selector: GroupRecordSchema.shape.selector,
        colour: GroupRecordSchema.shape.colour.optional(),
      }),
      response: GroupViewSchema,
      handler: async ({ body }) => view(await registry.saveGroup(body)),
    }),
    route({
      method: 'GET',
      url: '/v1/groups/:name',
      summary: 'One group and its devices',
      scope: 'read',
      params: NameParams,
      response: GroupRecordSchema.extend({ devices: z.array(DeviceRecordSchema) }),
      handler: async ({ params }) => {
        const g = await registry.group(params.name)
        return { ...g, devices: await registry.list(g.selector) }
      },
    }),
    route({
      method: 'DELETE',
      url: '/v1/groups/:name',
      summary: 'Remove a group (its devices stay)',
      scope: 'operate',
      params: NameParams,
      response: z.object({ removed: z.string() }),
      handler: async ({ params }) => {
        await registry.removeGroup(params.name)
        return { removed: params.name }
      },
    }),
    route({
      method: 'GET',
      url: '/v1/targets/resolve',
      summary: 'What a target means: the selector, device or group it names, how each word was read, its devices',
      scope: 'read',
      query: z.strictObject({ target: z.string().max(2048) }),
      response: z.object({
        text: z.string(),
        selector: z.string(),
        deviceId: z.string().nullable(),
        group: GroupRecordSchema.nullable(),
        how: z.array(z.string()),
        devices: z.array(z.string()),
      }),
      handler: async ({ query }) => {
        const { target, devices } = await registry.resolve(query.target)
        return { ...target, devices: devices.map((x) => x.id) }
      },
    }),
  ]
}
