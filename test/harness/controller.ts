/**
 * A controller under test: a broker on port 0, unique Redis/BullMQ prefixes and topic root, a
 * publisher key, and controllers on demand — for the controller's tests and its clients' (the CLI).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createController, loadConfig, type Config, type Controller, type ControllerOptions } from '@liquid-edge/controller'
import { startPlainBroker, uniqueRoot, type PlainBroker } from './mqtt.js'
import { REDIS_URL, deleteKeys, redisClient, uniquePrefix } from './redis.js'
import { opaquePackage } from './agent.js'

export type { Controller }

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

/**
 * Where one controller (or replicas sharing it) keeps its state in a test or a bench: its own
 * Redis and BullMQ prefixes, topic root and artifact store, and the one cleanup that removes them.
 */
export interface ControllerSpace extends AsyncDisposable {
  root: string
  prefix: string
  bullPrefix: string
  storeDir: string
  /** A controller configuration in this space on the broker at `mqttUrl`, API on a free port; `settings` add or override. */
  config(mqttUrl: string, settings?: Record<string, unknown>): Config
  /** Delete the space's Redis keys and its artifact store. */
  clean(): Promise<void>
}

export function controllerSpace(label = 'ctl', root = uniqueRoot()): ControllerSpace {
  const prefix = uniquePrefix(label)
  const bullPrefix = uniquePrefix(`${label}-bull`)
  const storeDir = mkdtempSync(join(tmpdir(), `lln-${label}-store-`))
  const space: ControllerSpace = {
    root,
    prefix,
    bullPrefix,
    storeDir,
    config: (mqttUrl, settings = {}) =>
      loadConfig({}, { redisUrl: REDIS_URL, prefix, bullPrefix, mqttUrl, root, httpPort: 0, storeDir, ...settings }),
    async clean() {
      const redis = redisClient()
      await deleteKeys(redis, prefix)
      await deleteKeys(redis, bullPrefix)
      await redis.quit()
      rmSync(storeDir, { recursive: true, force: true })
    },
    [Symbol.asyncDispose]: () => space.clean(),
  }
  return space
}

export interface Env extends AsyncDisposable {
  broker: PlainBroker
  root: string
  prefix: string
  bullPrefix: string
  storeDir: string
  publisher: Publisher
  /** A controller on this env; `overrides` change its configuration, `options` its seams (the rules' `signals`). */
  start(instanceId?: string, overrides?: Record<string, unknown>, options?: Pick<ControllerOptions, 'signals'>): Promise<Controller>
  /** Stop the broker and start a new one on the same port: every retained message and session is lost. */
  restartBroker(): Promise<void>
  controllers: Controller[]
  close(): Promise<void>
}

/**
 * A broker on port 0, unique Redis/BullMQ prefixes and topic root, a publisher key, and
 * controllers on demand, configured by `base` on top of fast test defaults.
 */
export async function testEnv(base: Record<string, unknown> = {}): Promise<Env> {
  const broker = await startPlainBroker()
  const space = controllerSpace()
  const { root, prefix, bullPrefix, storeDir } = space
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
    async start(instanceId, overrides = {}, options = {}) {
      const config = space.config(env.broker.url, { adminToken: ADMIN, tickMs: 100, leaseMs: 1500, ...base, ...overrides })
      const c = await createController({
        ...options,
        config,
        publisherKeys: [publisher.publicKey],
        ...(instanceId === undefined ? {} : { instanceId }),
      })
      controllers.push(c)
      return c
    },
    async restartBroker() {
      await env.broker.close()
      env.broker = await startPlainBroker({ port: env.broker.port })
    },
    async close() {
      await Promise.all(controllers.map((c) => c.close()))
      await env.broker.close()
      await space.clean()
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
