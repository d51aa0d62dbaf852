/**
 * Pseudo-terminals without native modules: a small python3 helper (`pty-bridge.py`, python3 is on
 * every Linux and macOS machine) opens the pty and relays it to pipes. Decided over `socat` (not
 * installed everywhere) and node-pty (a native addon with a build step).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { FleetError } from '@liquid-edge/protocol'

export const PTY_BRIDGE = fileURLToPath(new URL('./pty-bridge.py', import.meta.url))

export interface Pty {
  /** The slave path a serial client opens, e.g. `/dev/pts/7` (or the symlink asked for). */
  readonly path: string
  readonly process: ChildProcess
  close(): Promise<void>
}

export interface PtyOptions {
  /** Also create this symlink to the slave (a stable name such as `/tmp/ttySTM32`). */
  link?: string
  /** Run this command with the pty master as stdin/stdout instead of relaying to pipes. */
  exec?: string[]
  python?: string
}

/** Open a pty; without `exec`, bytes written to `process.stdin` come out of the slave and vice versa. */
export async function openPty(options: PtyOptions = {}): Promise<Pty> {
  const args = [
    PTY_BRIDGE,
    ...(options.link === undefined ? [] : ['--link', options.link]),
    ...(options.exec === undefined ? [] : ['--exec', ...options.exec]),
  ]
  const child = spawn(options.python ?? 'python3', args, { stdio: ['pipe', options.exec === undefined ? 'pipe' : 'ignore', 'pipe'] })
  const slave = await new Promise<string>((resolve, reject) => {
    let err = ''
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString('utf8')
      const m = /^PTY (\S+)\n/m.exec(err)
      if (m?.[1] !== undefined) resolve(m[1])
    })
    child.once('error', (e) => {
      reject(new FleetError('DEVICE_LINK_ERROR', `cannot start the pty helper (python3): ${e.message}`, { cause: e }))
    })
    child.once('exit', (code) => {
      reject(new FleetError('DEVICE_LINK_ERROR', `the pty helper exited (${code ?? 'signal'}): ${err.trim()}`))
    })
  })
  let closing: Promise<void> | undefined
  return {
    path: options.link ?? slave,
    process: child,
    close: () =>
      (closing ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        const exited = once(child, 'exit')
        child.stdin?.end()
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
        await exited
        clearTimeout(timer)
      })()),
  }
}
