/**
 * Bench processes: each part of a measured system (fleet, subscriber, controller) runs in a process of
 * its own, as in production, so that none steals the other's event loop and each one's CPU and
 * memory can be read from /proc. Parent and child talk over the IPC channel: `request` sends
 * `{ id, cmd, …args }` and resolves with the child's `{ id, result }` (or rejects on `{ id, error }`).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'

export interface Usage {
  /** CPU seconds, user + system. */
  cpuS: number
  rssBytes: number
}

/** CPU and memory of a process, from /proc (Linux). */
export function usageOf(pid: number): Usage {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  // 100 ticks a second (USER_HZ) on Linux.
  return { cpuS: (Number(stat[11]) + Number(stat[12])) / 100, rssBytes: Number(rss?.[1] ?? 0) * 1024 }
}

export interface BenchChild {
  readonly pid: number
  readonly process: ChildProcess
  request<T>(cmd: string, args?: Record<string, unknown>): Promise<T>
  usage(): Usage
  /** SIGTERM, then SIGKILL after 5 s; resolves when it exited. */
  stop(): Promise<void>
}

interface Reply {
  id: number
  result?: unknown
  error?: string
}

/** Start `script` (TypeScript, run with the workspace's source condition) as a child with an IPC channel; resolves on its first `ready` message. */
export async function startChild(script: string, env: Record<string, string>): Promise<BenchChild> {
  const child = fork(script, [], {
    execArgv: ['--conditions=@liquid-edge/source', '--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  let next = 1
  child.on('message', (m: Reply | 'ready') => {
    if (m === 'ready') return
    const w = waiting.get(m.id)
    waiting.delete(m.id)
    if (m.error !== undefined) w?.reject(new Error(m.error))
    else w?.resolve(m.result)
  })
  child.on('exit', (code, signal) => {
    for (const w of waiting.values()) w.reject(new Error(`${script} exited (${code ?? signal})`))
    waiting.clear()
  })
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null) => {
      reject(new Error(`${script} exited with ${code} before it was ready`))
    }
    child.once('exit', onExit)
    child.on('message', (m) => {
      if (m !== 'ready') return
      child.off('exit', onExit)
      resolve()
    })
  })
  return {
    pid: child.pid ?? 0,
    process: child,
    request<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
      const id = next++
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject })
        child.send({ id, cmd, ...args })
      })
    },
    usage: () => usageOf(child.pid ?? 0),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
  }
}

type Handler = (args: Record<string, unknown>) => unknown
/** The child's side: answer the parent's requests with `handlers[cmd]`, then say `ready`. Exits on SIGTERM or when the parent goes. */
export function serveParent(handlers: Record<string, Handler>, onStop: () => Promise<void> = () => Promise.resolve()): void {
  process.on('message', (m: { id: number; cmd: string } & Record<string, unknown>) => {
    const h = handlers[m.cmd]
    Promise.resolve()
      .then(() => {
        if (h === undefined) throw new Error(`unknown command ${m.cmd}`)
        return h(m)
      })
      .then(
        (result: unknown) => process.send?.({ id: m.id, result }),
        (err: unknown) => process.send?.({ id: m.id, error: err instanceof Error ? err.message : String(err) }),
      )
  })
  const stop = () => {
    void onStop().finally(() => process.exit(0))
  }
  process.once('SIGTERM', stop)
  process.once('disconnect', stop)
  process.send?.('ready')
}
