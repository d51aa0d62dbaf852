import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  REDIS_URL,
  deleteKeys,
  opaquePackage,
  redisClient,
  startPlainBroker,
  uniquePrefix,
  uniqueRoot,
  type PlainBroker,
} from '@liquid-edge/test/harness'
import { createController, loadConfig, type Controller } from '../src/index.js'

export interface Publisher {
  publicKey: KeyObject
  privateKey: KeyObject
}

export function newPublisher(): Publisher {
  return generateKeyPairSync('ed25519')
}

/** A signed `.liquid` package with a tiny opaque model. */
export function makePackage(
  pub: Publisher,
  name: string,
  version: string,
  modelBytes = 64,
  budgets: { latencyThresholdMs?: number; energyBudgetMw?: number } = {},
): Uint8Array {
  return opaquePackage(pub.privateKey, { name, version, modelBytes, ...budgets })
}

export const ADMIN = 'admin-token-0123456789abcdef'

export interface Env extends AsyncDisposable {
  broker: PlainBroker
  root: string
  prefix: string
  bullPrefix: string
  storeDir: string
  publisher: Publisher
  /** A controller on this env; `overrides` change its configuration. */
  start(instanceId?: string, overrides?: Record<string, unknown>): Promise<Controller>
  controllers: Controller[]
  close(): Promise<void>
}

/**
 * A broker on port 0, unique Redis/BullMQ prefixes and topic root, a publisher key, and
 * controllers on demand, configured by `base` on top of fast test defaults.
 */
export async function testEnv(base: Record<string, unknown> = {}): Promise<Env> {
  const broker = await startPlainBroker()
  const root = uniqueRoot()
  const prefix = uniquePrefix('ctl')
  const bullPrefix = uniquePrefix('bull')
  const storeDir = mkdtempSync(join(tmpdir(), 'lln-store-'))
  const publisher = newPublisher()
  const controllers: Controller[] = []
  const env: Env = {
    broker,
    root,
    prefix,
    bullPrefix,
    storeDir,
    publisher,
    controllers,
    async start(instanceId, overrides = {}) {
      const config = loadConfig(
        {},
        {
          redisUrl: REDIS_URL,
          prefix,
          bullPrefix,
          mqttUrl: broker.url,
          root,
          httpPort: 0,
          storeDir,
          adminToken: ADMIN,
          tickMs: 100,
          leaseMs: 1500,
          ...base,
          ...overrides,
        },
      )
      const c = await createController({
        config,
        publisherKeys: [publisher.publicKey],
        ...(instanceId === undefined ? {} : { instanceId }),
      })
      controllers.push(c)
      return c
    },
    async close() {
      await Promise.all(controllers.map((c) => c.close()))
      await broker.close()
      const redis = redisClient()
      await deleteKeys(redis, prefix)
      await deleteKeys(redis, bullPrefix)
      await redis.quit()
      rmSync(storeDir, { recursive: true, force: true })
    },
    [Symbol.asyncDispose]() {
      return env.close()
    },
  }
  return env
}

/** A tiny API client for tests. */
export function api(c: Controller, token = ADMIN) {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  return async <T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const binary = body instanceof Uint8Array
    const res = await fetch(`${c.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': binary ? 'application/octet-stream' : 'application/json' }),
      },
      ...(body === undefined ? {} : { body: binary ? Buffer.from(body) : JSON.stringify(body) }),
    })
    const text = await res.text()
    return { status: res.status, body: (text === '' ? {} : JSON.parse(text)) as T }
  }
}

export interface FleetSetup {
  ids: string[]
  v1: { name: string; version: string; sha256: string }
  v2: { name: string; version: string; sha256: string }
}

/** Register `n` devices (labels env=staging, hw alternating), push kws 1.0.0 and 2.0.0. Devices start on 1.0.0. */
export async function setupFleet(c: Controller, env: Env, n: number, prefix = 'dev'): Promise<FleetSetup> {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${i}`)
  await c.registry.addMany(ids.map((id, i) => ({ id, labels: { env: 'staging', hw: i % 2 === 0 ? 'stm32h743' : 'rpi4' } })))
  const a = (await c.models.push(makePackage(env.publisher, 'kws', '1.0.0'))).record
  const b = (await c.models.push(makePackage(env.publisher, 'kws', '2.0.0'))).record
  return { ids, v1: { name: a.name, version: a.version, sha256: a.sha256 }, v2: { name: b.name, version: b.version, sha256: b.sha256 } }
}

/** Wait until the rollout reaches `state`; returns it. */
export async function waitForState(c: Controller, id: string, state: string | string[], timeoutMs = 15_000) {
  const states = typeof state === 'string' ? [state] : state
  const { waitFor } = await import('@liquid-edge/test/harness')
  return waitFor(
    async () => {
      const r = await c.repo.find(id)
      return r !== null && states.includes(r.state) ? r : null
    },
    { timeoutMs, what: `rollout ${id} to be ${states.join('|')}` },
  )
}
