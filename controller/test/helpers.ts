import { spawn, type ChildProcess } from 'node:child_process'
import type { ClientRequest } from 'node:http'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { REDIS_URL, waitFor } from '@liquid-edge/test/harness'
import { ADMIN, type Env, makePackage } from '@liquid-edge/test/controller'
import type { Controller } from '../src/index.js'

export { ADMIN, api, makePackage, newPublisher, testEnv, type Env, type Publisher } from '@liquid-edge/test/controller'

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

const BIN = join(dirname(fileURLToPath(import.meta.url)), '../src/bin/liquid-controller.ts')

/** A `liquid-controller` process on an env's broker, Redis prefixes and store. */
export interface ControllerProcess {
  readonly child: ChildProcess
  readonly url: string
  /** Resident set size now, in bytes (Linux `/proc`). */
  rss(): number
  output(): string
}

/** Start `liquid-controller start` as a child process on `env`, with `extra` LLN_* variables; resolves when it listens. */
export async function spawnController(env: Env, extra: Record<string, string> = {}): Promise<ControllerProcess> {
  const child = spawn(process.execPath, ['--conditions=@liquid-edge/source', '--import', 'tsx', BIN], {
    env: {
      ...process.env,
      LLN_REDIS_URL: REDIS_URL,
      LLN_PREFIX: env.prefix,
      LLN_BULL_PREFIX: env.bullPrefix,
      LLN_MQTT_URL: env.broker.url,
      LLN_ROOT: env.root,
      LLN_HTTP_PORT: '0',
      LLN_STORE_DIR: env.storeDir,
      LLN_ADMIN_TOKEN: ADMIN,
      LLN_TICK_MS: '100',
      LLN_LEASE_MS: '1000',
      LLN_LOG_LEVEL: 'silent',
      LLN_PUBLISHER_KEYS: env.publisher.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr.on('data', (b: Buffer) => (err += b.toString()))
  // Starting under tsx takes 12–25 s on a loaded 2-core machine (load 25): the deadline is for a hung start, not a slow one.
  const url = await waitFor(() => /listening on (\S+)/.exec(out)?.[1], { timeoutMs: 90_000, what: 'controller to listen' }).catch(
    (e: unknown) => {
      child.kill('SIGKILL')
      throw new Error(`${String(e)}\nstdout: ${out}\nstderr: ${err.slice(-3000)}`)
    },
  )
  return {
    child,
    url,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid ?? 0}/status`, 'utf8'))?.[1] ?? 0) * 1024,
    output: () => `${out}${err}`,
  }
}

/**
 * Write `total` bytes to `req` in 64 KiB chunks as fast as it takes them, until `stop()` says so
 * (the answer came) or `pauseAfter` bytes are out (then wait: a stalled body). Returns the bytes sent so far.
 */
export function pumpBody(req: ClientRequest, total: number, stop: () => boolean, pauseAfter = total): () => number {
  const chunk = Buffer.alloc(64 * 1024, 0x7b)
  let sent = 0
  const pump = (): void => {
    while (!stop() && sent < Math.min(total, pauseAfter)) {
      const n = Math.min(chunk.byteLength, total - sent)
      sent += n
      if (!req.write(chunk.subarray(0, n))) {
        req.once('drain', pump)
        return
      }
    }
    if (sent >= total) req.end()
  }
  pump()
  return () => sent
}
