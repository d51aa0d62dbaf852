import { pbkdf2Sync, randomBytes } from 'node:crypto'
import bcrypt from 'bcryptjs'
import * as z from 'zod'
import {
  BrokerIdentitySchema,
  isValidRoot,
  publishPatterns,
  subscribePatterns,
  type BrokerIdentity,
  type Identity,
} from '@liquid-edge/protocol'

/** The controller's `GET /v1/broker/identities`, validated again here. */
export const IdentitiesAnswerSchema = z.object({
  root: z.string().refine(isValidRoot, 'not a topic root'),
  identities: z.array(BrokerIdentitySchema),
  skipped: z.number().int(),
})

/** A broker user: who logs in, with which secret, and what it may publish and subscribe to (MQTT filters). */
export interface BrokerUser {
  id: string
  role: BrokerIdentity['role']
  /** Gateways: the devices it speaks for. */
  children: string[]
  secret: string
  publish: string[]
  subscribe: string[]
}

export interface BrokerPlan {
  root: string
  users: BrokerUser[]
  /** Identities that log in themselves but have no secret in the credentials file: they get no user. */
  noSecret: string[]
  /** Ids in the credentials file that the registry does not know (removed devices, typos): they get no user. */
  unknown: string[]
}

/**
 * Who gets a user on the broker: every identity with a secret in the file. A gateway's children
 * connect through their gateway (its permissions cover them), so a child without a secret of its
 * own is not missing. The permissions are `@liquid-edge/protocol`'s ACL, the one the embedded
 * broker enforces.
 */
export function planUsers(root: string, identities: readonly BrokerIdentity[], secrets: ReadonlyMap<string, string>): BrokerPlan {
  const children = new Set(identities.flatMap((i) => (i.role === 'gateway' ? i.children : [])))
  const known = new Set(identities.map((i) => i.id))
  const users: BrokerUser[] = []
  const noSecret: string[] = []
  for (const i of identities) {
    const secret = secrets.get(i.id)
    if (secret === undefined) {
      if (!(i.role === 'device' && children.has(i.id))) noSecret.push(i.id)
      continue
    }
    const identity: Identity = i.role === 'gateway' ? { role: 'gateway', id: i.id, children: i.children } : { role: i.role, id: i.id }
    users.push({
      id: i.id,
      role: i.role,
      children: i.children,
      secret,
      publish: publishPatterns(identity, root),
      subscribe: subscribePatterns(identity, root),
    })
  }
  return { root, users, noSecret, unknown: [...secrets.keys()].filter((id) => !known.has(id)) }
}

/**
 * A Mosquitto password-file hash, `$7$<iterations>$<salt>$<hash>`: PBKDF2-SHA512 with a 12-byte salt
 * and a 64-byte key, the format `mosquitto_passwd` writes by default (Mosquitto ≥ 2.0). 101
 * iterations is its default too: our secrets are 256 random bits, which no stretching makes
 * stronger, and Mosquitto derives the key again at every CONNECT of every device.
 */
export function mosquittoHash(secret: string, iterations = 101): string {
  const salt = randomBytes(12)
  const key = pbkdf2Sync(secret, salt, iterations, 64, 'sha512')
  return `$7$${String(iterations)}$${salt.toString('base64')}$${key.toString('base64')}`
}

export interface MosquittoFiles {
  passwd: string
  acl: string
  conf: string
}

/**
 * Mosquitto 2's own authentication and authorisation, no plugin: a password file and an ACL file
 * (`user` blocks of `topic read|write` lines; a subscription is granted, and each message then
 * delivered only where the user may read it), and the settings that make them the only way in.
 */
export function mosquittoFiles(plan: BrokerPlan, paths: { passwd: string; acl: string }): MosquittoFiles {
  const passwd = plan.users.map((u) => `${u.id}:${mosquittoHash(u.secret)}\n`).join('')
  const acl = plan.users
    .map((u) => {
      const lines = [
        `# ${u.role}`,
        `user ${u.id}`,
        ...u.publish.filter((p) => !u.subscribe.includes(p)).map((p) => `topic write ${p}`),
        ...u.subscribe.map((p) => `topic ${u.publish.includes(p) ? 'readwrite' : 'read'} ${p}`),
      ]
      return `${lines.join('\n')}\n`
    })
    .join('\n')
  const conf = [
    `# Liquid Edge: authentication and per-device topics (liquid-lln broker-config mosquitto), root ${plan.root}`,
    'per_listener_settings false',
    'allow_anonymous false',
    `password_file ${paths.passwd}`,
    `acl_file ${paths.acl}`,
    "# a client cannot take another one's client id (and so its session): the client id is the user name",
    'use_username_as_clientid true',
    '# retained desired states survive a restart',
    'persistence true',
    '',
  ].join('\n')
  return { passwd, acl: `# Liquid Edge ACL for root ${plan.root}: one block per user\n\n${acl}`, conf }
}

/**
 * The NATS subject of an MQTT topic or filter as nats-server's MQTT listener maps it: `/` → `.`,
 * `+` → `*`, a trailing `#` → `>`. A level holding a `.` has no mapping in nats-server 2.9 (2.10
 * writes it `//`), so such ids and roots are refused before any config is written.
 */
export function natsSubject(filter: string): string {
  return filter
    .split('/')
    .map((l) => (l === '+' ? '*' : l === '#' ? '>' : l))
    .join('.')
}

/** The subjects of MQTT filters; `a/#` also matches `a` in MQTT, so it gives `a` and `a.>`. */
function natsSubjects(filters: readonly string[]): string[] {
  return filters.flatMap((f) => (f.endsWith('/#') ? [natsSubject(f.slice(0, -2)), natsSubject(f)] : [natsSubject(f)]))
}

/** The root and the ids that nats-server 2.9's MQTT cannot map: a `.` inside a topic level. */
export function natsUnmappable(plan: BrokerPlan): string[] {
  const ids = plan.users.flatMap((u) => [u.id, ...u.children])
  return [...new Set([plan.root, ...ids].filter((x) => x.split('/').some((level) => level.includes('.'))))]
}

/**
 * A NATS `accounts` block: one account with JetStream (nats-server's MQTT keeps sessions, retained
 * and QoS 1 messages there) whose users are the plan's, each with a bcrypt hash of its secret and
 * publish/subscribe permissions on the MQTT-mapped subjects. Every MQTT user also subscribes to
 * `$MQTT.sub.>`, where nats-server delivers QoS 1 subscriptions (no MQTT client can name it).
 * Devices, gateways and consumers may connect over MQTT only.
 */
export function natsConfig(plan: BrokerPlan, options: { account: string; bcryptCost: number }): string {
  const q = (s: string): string => JSON.stringify(s)
  const list = (xs: readonly string[]): string => `[${xs.map(q).join(', ')}]`
  const users = plan.users.map((u) => {
    const publish = natsSubjects(u.publish)
    const subscribe = [...natsSubjects(u.subscribe), '$MQTT.sub.>']
    const lines = [
      `        user: ${q(u.id)}`,
      `        password: ${q(bcrypt.hashSync(u.secret, options.bcryptCost))}`,
      ...(u.role === 'controller' ? [] : ['        allowed_connection_types: ["MQTT"]']),
      '        permissions: {',
      // An empty allow list would allow everything in NATS: a user who may publish nothing is denied `>`.
      `          publish: ${publish.length === 0 ? '{ deny: [">"] }' : `{ allow: ${list(publish)} }`}`,
      `          subscribe: { allow: ${list(subscribe)} }`,
      '        }',
    ]
    return `      # ${u.role}\n      {\n${lines.join('\n')}\n      }`
  })
  return [
    `# Liquid Edge: accounts and per-device permissions (liquid-lln broker-config nats), root ${plan.root}.`,
    '# Include it in nats-server.conf beside jetstream {} and mqtt {}; a client without a user is refused.',
    'accounts {',
    `  ${q(options.account)}: {`,
    '    jetstream: enabled',
    '    users: [',
    users.join('\n'),
    '    ]',
    '  }',
    '}',
    '',
  ].join('\n')
}
