import type { TLSSocket } from 'node:tls'
import type { AuthenticateError, Client } from 'aedes'
import type { Logger } from 'pino'
import type { CredentialRecord, Identity } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import type { BrokerMetrics, LoginRefusal } from '../ops/metrics.js'
import type { AppTopics } from '../policy/app-topics.js'
import { ClientSession } from '../policy/session.js'
import { TokenBucket } from '../policy/token-bucket.js'
import type { CredentialStore } from './credential-store.js'
import type { LoginLimiter, TakeoverGuard } from './login-limiter.js'
import { verifySecret } from './scrypt.js'

/** CONNACK return codes (aedes' `AuthErrorCode` is a type-only const enum, so the literals). */
const IDENTIFIER_REJECTED = 2
const SERVER_UNAVAILABLE = 3
const BAD_USERNAME_OR_PASSWORD = 4
const NOT_AUTHORIZED = 5

export interface AuthenticatorOptions {
  store: CredentialStore
  limiter: LoginLimiter
  takeovers: TakeoverGuard
  metrics: BrokerMetrics
  logger: Logger
  clock: Clock
  root: string
  sessions: WeakMap<Client, ClientSession>
  rate: { ratePerSec: number; burst: number }
  /** The live client with this id on this node, if any (for the takeover policy). */
  liveClient: (id: string) => Client | undefined
  onRefused: (clientId: string, reason: LoginRefusal) => void
  /** Development mode: a CONNECT without a username is an anonymous client (never under the fleet root). */
  allowAnonymous?: boolean
  /** Application-topic rules, beside the fleet's. */
  appTopics?: AppTopics | null
}

/**
 * Controller replicas share one credential: each connects under the client id
 * `<username>:<replica>` (`:` is never part of a device id), so adding a replica needs no new
 * credential, and two replicas never take each other's session over.
 */
export function isReplicaOf(clientId: string, username: string): boolean {
  return clientId.length > username.length + 1 && clientId.startsWith(`${username}:`)
}

/** What a successful login yields: a credential record, or an anonymous client (development mode). */
type Login = { record: CredentialRecord } | { anonymous: true }

/** The identity a credential record grants. */
export function identityOf(record: CredentialRecord): Identity {
  return record.role === 'gateway' ? { role: 'gateway', id: record.id, children: record.children } : { role: record.role, id: record.id }
}

/** The remote address of a client: TCP/TLS socket, or the HTTP request behind a WebSocket. */
export function addressOf(client: Client): string {
  const conn = client.conn as { remoteAddress?: string }
  return conn.remoteAddress ?? client.req?.socket.remoteAddress ?? 'unknown'
}

function certificateId(client: Client): string | null {
  const socket = client.conn as Partial<TLSSocket>
  if (socket.authorized !== true || typeof socket.getPeerCertificate !== 'function') return null
  const cert = socket.getPeerCertificate() as { subject?: { CN?: unknown } }
  const cn = cert.subject?.CN
  return typeof cn === 'string' ? cn : null
}

function refusal(code: number, message: string): AuthenticateError {
  const err = new Error(message) as AuthenticateError
  ;(err as { returnCode: number }).returnCode = code
  return err
}

/**
 * aedes' `authenticate` hook: client id = username = device id (a controller replica: see
 * {@link isReplicaOf}); the secret is checked against
 * the scrypt hash in the credential store (or a verified TLS client certificate whose CN is the
 * client id stands in for it). Failures back off per (client id, address), see {@link LoginLimiter}.
 */
export function createAuthenticate(o: AuthenticatorOptions) {
  const refuse = (
    client: Client,
    reason: LoginRefusal,
    code: number,
    done: (err: AuthenticateError | null, ok: boolean | null) => void,
  ) => {
    const address = addressOf(client)
    o.metrics.loginsRefused.labels(reason).inc()
    o.onRefused(client.id, reason)
    o.logger.warn({ clientId: client.id, address, reason, retryInMs: o.limiter.waitMs(client.id, address) }, 'login refused')
    done(refusal(code, reason), false)
  }

  async function check(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<[LoginRefusal, number] | Login> {
    const id = client.id
    const address = addressOf(client)
    const verdict = o.limiter.verdict(id, address)
    if (verdict === 'backoff' || verdict === 'address_limited') return [verdict, NOT_AUTHORIZED]
    if (verdict === 'exempt') o.metrics.loginsExempted.inc()
    const byCert = certificateId(client) === id
    if (o.allowAnonymous === true && !byCert && username === undefined) return checkAnonymous(id)
    const replica = !byCert && username !== undefined && isReplicaOf(id, username)
    if (!byCert && username !== id && !replica) {
      o.limiter.recordFailure(id, address)
      return ['client_id_mismatch', IDENTIFIER_REJECTED]
    }
    let record: CredentialRecord | null
    try {
      record = await o.store.get(replica ? username : id)
    } catch (err) {
      o.logger.error({ err, clientId: id }, 'credential store unavailable')
      return ['store_unavailable', SERVER_UNAVAILABLE]
    }
    const ok = record !== null && (byCert || (password !== undefined && (await verifySecret(password.toString('utf8'), record.hash))))
    if (!ok || record === null) {
      o.limiter.recordFailure(id, address)
      return ['bad_credentials', BAD_USERNAME_OR_PASSWORD]
    }
    // Only a controller's credential is shared by replicas; a device's id is its one session.
    if (replica && record.role !== 'controller') {
      o.limiter.recordFailure(id, address)
      return ['client_id_mismatch', IDENTIFIER_REJECTED]
    }
    const live = o.liveClient(id)
    if (live !== undefined && live !== client && !live.closed) {
      if (!o.takeovers.allow(id)) return ['flapping', IDENTIFIER_REJECTED]
      o.metrics.takeovers.inc()
      o.logger.info({ clientId: id }, 'client id taken over by a new connection')
    }
    return { record }
  }

  /** An anonymous client may not use a registered id: it would take over that device's session. */
  async function checkAnonymous(id: string): Promise<[LoginRefusal, number] | Login> {
    try {
      if ((await o.store.get(id)) !== null) return ['reserved_id', IDENTIFIER_REJECTED]
    } catch (err) {
      o.logger.error({ err, clientId: id }, 'credential store unavailable')
      return ['store_unavailable', SERVER_UNAVAILABLE]
    }
    return { anonymous: true }
  }

  function sessionOf(client: Client, login: Login, username: string | undefined): ClientSession {
    const identity: Identity = 'record' in login ? identityOf(login.record) : { role: 'anonymous', id: client.id }
    const ids = identity.role === 'gateway' ? 1 + identity.children.length : 1
    const bucket = identity.role === 'controller' ? null : new TokenBucket(o.rate.ratePerSec * ids, o.rate.burst * ids, o.clock.now())
    return new ClientSession(identity, {
      root: o.root,
      address: addressOf(client),
      credentialHash: 'record' in login ? login.record.hash : '',
      bucket,
      username,
      appTopics: o.appTopics ?? null,
    })
  }

  return function authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (err: AuthenticateError | null, ok: boolean | null) => void,
  ): void {
    check(client, username, password).then(
      (result) => {
        if (Array.isArray(result)) {
          refuse(client, result[0], result[1], done)
          return
        }
        o.sessions.set(client, sessionOf(client, result, username))
        if ('record' in result) o.limiter.recordSuccess(client.id, addressOf(client))
        done(null, true)
      },
      (err: unknown) => {
        o.logger.error({ err, clientId: client.id }, 'authentication failed unexpectedly')
        refuse(client, 'store_unavailable', SERVER_UNAVAILABLE, done)
      },
    )
  }
}
