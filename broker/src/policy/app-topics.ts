import * as z from 'zod'
import { filterWithin, isValidFilter, type Identity, type Role } from '@liquid-edge/protocol'

export const APP_TOPIC_ROLES = ['device', 'gateway', 'controller', 'consumer', 'anonymous'] as const satisfies readonly Role[]
export const APP_TOPIC_ACCESS = ['read', 'write', 'readwrite'] as const

/**
 * One application-topic rule, Mosquitto-style: a topic filter where `%c` stands for the client id
 * and `%u` for the username, the access it grants, and the roles it grants it to.
 */
export const AppTopicRuleSchema = z.strictObject({
  pattern: z
    .string()
    .min(1)
    .max(1024)
    .refine((p) => isValidFilter(p.replaceAll('%c', 'x').replaceAll('%u', 'x')), 'pattern must be a valid MQTT topic filter')
    .refine((p) => !p.startsWith('$'), 'pattern must not start with $ (broker topics)')
    .refine(
      (p) => p.split('/').every((l) => !/%[cu]/.test(l) || /^[^+#]*$/.test(l)),
      '%c and %u stand for whole characters, not wildcards',
    ),
  access: z.enum(APP_TOPIC_ACCESS),
  roles: z.array(z.enum(APP_TOPIC_ROLES)).min(1),
})
export type AppTopicRule = z.output<typeof AppTopicRuleSchema>

/**
 * Parse the one-line form `ACCESS PATTERN ROLES`, rules separated by `;` (env and flags), e.g.
 * `readwrite app/%c/# device,gateway; read app/# consumer`. Anything else is passed through for the
 * schema to judge.
 */
export function parseAppTopicRules(value: unknown): unknown {
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return parseAppTopicRules(value.join(';'))
  if (typeof value !== 'string') return value
  return value
    .split(';')
    .map((r) => r.trim())
    .filter((r) => r !== '')
    .map((r) => {
      const [access, pattern, roles, ...rest] = r.split(/\s+/)
      if (rest.length > 0 || roles === undefined) return { rule: r }
      return { access, pattern, roles: roles.split(',').filter((x) => x !== '') }
    })
}

/** A level of a substituted pattern may not bring in wildcards or separators from an id. */
const UNSAFE_ID = /[/+#]/

/**
 * Application topics beside the fleet's: what each role may publish and subscribe outside the fleet
 * root. They never apply under the root — the protocol's ACL alone governs it — so no rule can loosen
 * the fleet's rules, whatever its pattern.
 */
export class AppTopics {
  readonly #rules: readonly AppTopicRule[]
  readonly #rootLevels: readonly string[]

  constructor(rules: readonly AppTopicRule[], root: string) {
    this.#rules = rules
    this.#rootLevels = root.split('/')
  }

  get empty(): boolean {
    return this.#rules.length === 0
  }

  /**
   * True when every topic `filterOrTopic` can match lies under the fleet root (its first levels are
   * the root's, literally). Such a filter or topic is the protocol ACL's alone.
   */
  isUnderRoot(filterOrTopic: string): boolean {
    const levels = filterOrTopic.split('/')
    return levels.length >= this.#rootLevels.length && this.#rootLevels.every((l, i) => levels[i] === l)
  }

  /** May the client publish to `topic` (a topic name outside the root)? */
  mayPublish(identity: Identity, username: string | undefined, topic: string): boolean {
    if (topic.startsWith('$') || this.isUnderRoot(topic)) return false
    return this.#granted(identity, username, 'write', (p) => filterWithin(topic, p))
  }

  /**
   * May the client subscribe to `filter` (or receive a message on a topic name)? A filter that could
   * also match fleet topics (`#`) may be granted here; each delivery of a fleet topic is then judged
   * by the protocol ACL alone, because a topic name under the root is refused here.
   */
  mayRead(identity: Identity, username: string | undefined, filter: string): boolean {
    if (filter.startsWith('$') || this.isUnderRoot(filter)) return false
    return this.#granted(identity, username, 'read', (p) => filterWithin(filter, p))
  }

  #granted(identity: Identity, username: string | undefined, want: 'read' | 'write', matches: (pattern: string) => boolean): boolean {
    for (const rule of this.#rules) {
      if (!rule.roles.includes(identity.role) || (rule.access !== 'readwrite' && rule.access !== want)) continue
      const pattern = substitute(rule.pattern, identity.id, username)
      if (pattern !== null && matches(pattern)) return true
    }
    return false
  }
}

/** `%c` → client id, `%u` → username; `null` when an id would widen the pattern or is missing. */
function substitute(pattern: string, clientId: string, username: string | undefined): string | null {
  if (pattern.includes('%c') && (clientId === '' || UNSAFE_ID.test(clientId))) return null
  if (pattern.includes('%u') && (username === undefined || username === '' || UNSAFE_ID.test(username))) return null
  return pattern.replaceAll('%c', clientId).replaceAll('%u', username ?? '')
}
