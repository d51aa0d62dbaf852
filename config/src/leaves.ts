import type * as z from 'zod'

/** How text from a flag or an environment variable becomes a value the schema accepts. */
export type LeafKind = 'string' | 'number' | 'boolean' | 'list' | 'raw'

/** One setting of a configuration schema: a value that is not itself an object of settings. */
export interface Leaf {
  path: readonly string[]
  schema: z.ZodType
  kind: LeafKind
  description: string | undefined
  /** The value the schema gives when the setting is absent (undefined when it has none). */
  defaultValue: unknown
  /** The allowed values of an enum setting. */
  choices: readonly string[] | undefined
}

interface Def {
  type: string
  innerType?: z.ZodType
  in?: z.ZodType
  out?: z.ZodType
  shape?: Record<string, z.ZodType>
  entries?: Record<string, string>
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def
const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional'])

/** The schema inside wrappers and pipes (a preprocess step is skipped: its output decides), and the first description met. */
function unwrap(schema: z.ZodType): { core: z.ZodType; description: string | undefined } {
  let description = schema.description
  let core = schema
  for (;;) {
    const def = defOf(core)
    const next = WRAPPERS.has(def.type)
      ? def.innerType
      : def.type === 'pipe'
        ? defOf(def.in ?? core).type === 'transform'
          ? def.out
          : def.in
        : undefined
    if (next === undefined) return { core, description }
    core = next
    description ??= core.description
  }
}

function kindOf(core: z.ZodType): LeafKind {
  switch (defOf(core).type) {
    case 'number':
    case 'int':
    case 'bigint':
      return 'number'
    case 'boolean':
      return 'boolean'
    case 'array':
      return 'list'
    case 'string':
    case 'enum':
    case 'literal':
    case 'template_literal':
      return 'string'
    default:
      return 'raw'
  }
}

/** The settings of `schema`, depth first in declaration order; objects of settings are walked into. */
export function leavesOf(schema: z.ZodType, path: readonly string[] = []): Leaf[] {
  const { core, description } = unwrap(schema)
  const def = defOf(core)
  if (def.type === 'object' && def.shape !== undefined && (path.length === 0 || !isOpaqueObject(schema))) {
    return Object.entries(def.shape).flatMap(([key, child]) => leavesOf(child, [...path, key]))
  }
  const parsed = schema.safeParse(undefined)
  return [
    {
      path,
      schema,
      kind: kindOf(core),
      description,
      defaultValue: parsed.success ? parsed.data : undefined,
      choices: def.type === 'enum' && def.entries !== undefined ? Object.values(def.entries) : undefined,
    },
  ]
}

/** An object that is optional without a default is one value (set as a whole, e.g. from JSON), not a group of settings. */
function isOpaqueObject(schema: z.ZodType): boolean {
  return defOf(schema).type === 'optional'
}
