import * as z from 'zod'
import { FleetError } from '@liquid-edge/protocol'
import { formatSelector, parseSelector, type Requirement } from './selector.js'

/** A saved selector with a name: `production-green` → `env=production`. */
export const GroupRecordSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,63}$/, 'group names are 1-63 of [A-Za-z0-9._-]'),
  /** The label selector the group stands for ('' = every device). */
  selector: z.string().max(2048),
  /**
   * Blue-green: the group is one colour of the devices its selector picks (both colours share them,
   * each model in its own slot). A deploy to a colour stages the model there, under the colour's name.
   */
  colour: z.enum(['blue', 'green']).nullable(),
  createdAt: z.number().int(),
})
export type GroupRecord = z.infer<typeof GroupRecordSchema>

/** What a target means: every group and bare word spelled out as a selector, or one device. */
export interface ResolvedTarget {
  /** What the operator typed. */
  text: string
  /** The selector it stands for ('' = every device); for one device, the empty selector. */
  selector: string
  /** A registered device id, when the target is one device. */
  deviceId: string | null
  /** The group, when the target is one group. */
  group: GroupRecord | null
  /** How each word was read, in order (for `liquid-lln target` and error messages). */
  how: string[]
}

/** Resolution order of a bare word, as operators are told. */
export const WORD_ORDER = 'a group, then a device id, then a label value found under one label key only'

interface Known {
  deviceIds: ReadonlySet<string>
  /** label value → the keys it appears under */
  values: ReadonlyMap<string, ReadonlySet<string>>
  keys: ReadonlySet<string>
  groups: ReadonlyMap<string, GroupRecord>
}

/** What the words of targets can name, from the registry's devices and groups. */
export function knownNames(devices: readonly { id: string; labels: Record<string, string> }[], groups: readonly GroupRecord[]): Known {
  const values = new Map<string, Set<string>>()
  const keys = new Set<string>()
  for (const d of devices)
    for (const [k, v] of Object.entries(d.labels)) {
      keys.add(k)
      values.set(v, (values.get(v) ?? new Set()).add(k))
    }
  return { deviceIds: new Set(devices.map((d) => d.id)), values, keys, groups: new Map(groups.map((g) => [g.name, g])) }
}

function wordRequirements(word: string, negated: boolean, k: Known, strict: boolean, how: string[]): Requirement[] {
  const group = negated ? undefined : k.groups.get(word)
  if (group !== undefined) {
    how.push(`'${word}' is a group: ${group.selector === '' ? 'every device' : group.selector}`)
    const inner = new Map(k.groups)
    inner.delete(word)
    return requirements(group.selector, { ...k, groups: inner }, strict, how)
  }
  const keys = [...(k.values.get(word) ?? [])].sort()
  if (keys.length === 1) {
    how.push(`'${word}' is the value of label '${keys[0] ?? ''}'`)
    return [{ op: negated ? 'notin' : 'in', key: keys[0] ?? '', values: [word] }]
  }
  if (keys.length > 1)
    throw new FleetError(
      'REGISTRY_TARGET_AMBIGUOUS',
      `'${word}' is ambiguous: it is a value of several labels; write one of ${keys.map((key) => `${key}=${word}`).join(', ')}`,
      { details: { word, candidates: keys.map((key) => `${key}=${word}`) } },
    )
  if (k.keys.has(word)) {
    how.push(`'${word}' is a label key: devices that carry it`)
    return [{ op: negated ? 'untagged' : 'tagged', word }]
  }
  if (strict && !negated)
    throw new FleetError('ROLLOUT_NO_DEVICES', `the target '${word}' names nothing: no ${WORD_ORDER} is called '${word}'`, {
      details: { word },
    })
  return [{ op: negated ? 'untagged' : 'tagged', word }]
}

function requirements(text: string, k: Known, strict: boolean, how: string[]): Requirement[] {
  return parseSelector(text).flatMap((r) =>
    r.op === 'tagged' || r.op === 'untagged' ? wordRequirements(r.word, r.op === 'untagged', k, strict, how) : [r],
  )
}

/**
 * Read a target: a label selector, a device id or a named group. A bare word is, in this order, a
 * group, a device id (alone), or a label value that appears under one key only (`stm32h743` →
 * `hw=stm32h743`); a value found under several keys is refused with the candidates. Words inside a
 * selector are read the same way (a device id only alone). With `strict`, a word that names nothing
 * is refused; without, it stays a word that matches no device.
 * @throws {FleetError} `REGISTRY_INVALID_SELECTOR`, `REGISTRY_TARGET_AMBIGUOUS`, `ROLLOUT_NO_DEVICES` (strict)
 */
export function resolveTarget(text: string, k: Known, strict: boolean): ResolvedTarget {
  const how: string[] = []
  const parsed = parseSelector(text)
  const only = parsed.length === 1 ? parsed[0] : undefined
  if (only?.op === 'tagged') {
    const group = k.groups.get(only.word)
    if (group === undefined && k.deviceIds.has(only.word))
      return { text, selector: '', deviceId: only.word, group: null, how: [`'${only.word}' is a device id`] }
    const selector = formatSelector(wordRequirements(only.word, false, k, strict, how))
    return { text, selector, deviceId: null, group: group ?? null, how }
  }
  return { text, selector: formatSelector(requirements(text, k, strict, how)), deviceId: null, group: null, how }
}
