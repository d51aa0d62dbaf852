import type { TLSSocket } from 'node:tls'
import type { AuthenticateError, Client } from 'aedes'
import type { Logger } from 'pino'
import type { CredentialRecord, Identity } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import type { BrokerMetrics, LoginRefusal } from '../ops/metrics.js'
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
}

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
 * aedes' `authenticate` hook: client id = username = device id; the secret is checked against
 * the scrypt hash in the credential store (or a verified TLS client certificate whose CN is the
 * client id stands in for it). Failures are rate limited per id and per address.
 */
export function createAuthenticate(o: AuthenticatorOptions) {
  const refuse = (
    client: Client,
    reason: LoginRefusal,
    code: number,
    done: (err: AuthenticateError | null, ok: boolean | null) => void,
  ) => {
    o.metrics.loginsRefused.labels(reason).inc()
    o.onRefused(client.id, reason)
    o.logger.warn({ clientId: client.id, address: addressOf(client), reason }, 'login refused')
    done(refusal(code, reason), false)
  }

  async function check(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<[LoginRefusal, number] | CredentialRecord> {
    const id = client.id
    const address = addressOf(client)
    if (o.limiter.isBlocked(id, address)) return ['rate_limited', NOT_AUTHORIZED]
    const byCert = certificateId(client) === id
    if (!byCert && username !== id) {
      o.limiter.recordFailure(id, address)
      return ['client_id_mismatch', IDENTIFIER_REJECTED]
    }
    let record: CredentialRecord | null
    try {
      record = await o.store.get(id)
    } catch (err) {
      o.logger.error({ err, clientId: id }, 'credential store unavailable')
      return ['store_unavailable', SERVER_UNAVAILABLE]
    }
    const ok = record !== null && (byCert || (password !== undefined && (await verifySecret(password.toString('utf8'), record.hash))))
    if (!ok || record === null) {
      o.limiter.recordFailure(id, address)
      return ['bad_credentials', BAD_USERNAME_OR_PASSWORD]
    }
    const live = o.liveClient(id)
    if (live !== undefined && live !== client && !live.closed) {
      if (!o.takeovers.allow(id)) return ['flapping', IDENTIFIER_REJECTED]
      o.metrics.takeovers.inc()
      o.logger.info({ clientId: id }, 'client id taken over by a new connection')
    }
    return record
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
        const identity = identityOf(result)
        const ids = identity.role === 'gateway' ? 1 + identity.children.length : 1
        const bucket = identity.role === 'controller' ? null : new TokenBucket(o.rate.ratePerSec * ids, o.rate.burst * ids, o.clock.now())
        o.sessions.set(
          client,
          new ClientSession(identity, { root: o.root, address: addressOf(client), credentialHash: result.hash, bucket }),
        )
        o.limiter.recordSuccess(client.id)
        done(null, true)
      },
      (err: unknown) => {
        o.logger.error({ err, clientId: client.id }, 'authentication failed unexpectedly')
        refuse(client, 'store_unavailable', SERVER_UNAVAILABLE, done)
      },
    )
  }
}
