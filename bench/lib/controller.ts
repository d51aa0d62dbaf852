/** A controller in a process of its own (`liquid-controller` as operators run it), for benches. */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { usageOf, type Usage } from './child.js'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const ADMIN = 'bench-admin-token-0123456789'

export interface ControllerProc {
  url: string
  pid: number
  child: ChildProcess
  call<T>(method: string, path: string, body?: unknown): Promise<T>
  usage(): Usage
  stop(): Promise<void>
}

/** Start `liquid-controller` with `env` (LLN_* settings) and an admin token; resolves once its API listens. */
export async function startController(env: Record<string, string>): Promise<ControllerProc> {
  const child = spawn(
    process.execPath,
    ['--conditions=@liquid-edge/source', '--import', 'tsx', join(repo, 'controller/src/bin/liquid-controller.ts')],
    {
      env: { ...process.env, LLN_ADMIN_TOKEN: ADMIN, LLN_LOG_LEVEL: 'warn', LLN_HTTP_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (\S+)/.exec(out)
      if (m?.[1] !== undefined) resolve(m[1])
    })
    child.once('exit', (code) => {
      reject(new Error(`controller exited with ${code}`))
    })
  })
  return {
    url,
    pid: child.pid ?? 0,
    child,
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      const binary = body instanceof Uint8Array
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${ADMIN}`,
          ...(body === undefined ? {} : { 'content-type': binary ? 'application/octet-stream' : 'application/json' }),
        },
        ...(body === undefined ? {} : { body: binary ? Buffer.from(body) : JSON.stringify(body) }),
      })
      const text = await res.text()
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
      return (text === '' ? {} : JSON.parse(text)) as T
    },
    usage: () => usageOf(child.pid ?? 0),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const done = once(child, 'exit')
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await done
      clearTimeout(timer)
    },
  }
}
