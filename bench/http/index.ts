/**
 * bench/http: the footprint of the HTTP server a device carries (the agent's local API, the
 * simulated fleet's fault control; the broker's /health and /metrics use the same toolkit).
 * Three implementations of the same three routes, each alone in a process: hand-written node:http
 * (the baseline), @liquid-edge/http, and fastify (the controller's framework). For each: start
 * time, RSS after start and after a load of POST /inference, requests per second, and what its
 * packages add to the agent's installed dependencies.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { Agent as HttpAgent, request } from 'node:http'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const root = join(import.meta.dirname, '..', '..')
const child = join(import.meta.dirname, 'server-child.ts')

function call(port: number, agent: HttpAgent, method: string, path: string, body?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () => {
          if (res.statusCode === 200) resolve(text)
          else reject(new Error(`HTTP ${res.statusCode}`))
        })
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

interface Footprint {
  startMs: number
  rssStartMiB: number
  rssLoadedMiB: number
  perSecond: number
}

async function measure(impl: string): Promise<Footprint> {
  const proc = spawn(process.execPath, ['--conditions=@liquid-edge/source', '--import', 'tsx', child, impl], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const line = await new Promise<string>((resolve) => createInterface({ input: proc.stdout }).once('line', resolve))
  const { port, startMs } = JSON.parse(line) as { port: number; startMs: number }
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 8 })
  const rss = async () => (JSON.parse(await call(port, agent, 'GET', '/health')) as { rss: number }).rss / 1048576
  const rssStartMiB = await rss()
  const body = JSON.stringify({ input: [1, 2, 3, 4] })
  let n = 0
  const t0 = performance.now()
  const end = t0 + SECONDS * 1000
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (performance.now() < end) {
        await call(port, agent, 'POST', '/inference', body)
        n++
      }
    }),
  )
  const perSecond = n / ((performance.now() - t0) / 1000)
  await call(port, agent, 'GET', '/metrics')
  const rssLoadedMiB = await rss()
  agent.destroy()
  proc.kill()
  return { startMs, rssStartMiB, rssLoadedMiB, perSecond }
}

/** Installed size of packages' dependency closure, resolved the way Node resolves them from `from`. */
function closure(names: readonly string[], from: string): Map<string, number> {
  const seen = new Map<string, number>()
  const resolveDir = (dir: string, name: string): string | null => {
    for (let d = dir; ; d = dirname(d)) {
      const c = join(d, 'node_modules', name)
      if (existsSync(join(c, 'package.json'))) return c
      if (dirname(d) === d) return null
    }
  }
  const size = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce(
      (t, e) => (e.name === 'node_modules' ? t : t + (e.isDirectory() ? size(join(dir, e.name)) : statSync(join(dir, e.name)).size)),
      0,
    )
  const walk = (dir: string): void => {
    if (seen.has(dir)) return
    seen.set(dir, size(dir))
    const m = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: object; optionalDependencies?: object }
    for (const d of Object.keys({ ...m.dependencies, ...m.optionalDependencies })) {
      const r = resolveDir(dir, d)
      if (r !== null) walk(r)
    }
  }
  for (const n of names) {
    const r = resolveDir(from, n)
    if (r !== null) walk(r)
  }
  return seen
}

const agentDir = join(root, 'agent')
const agentDeps = Object.keys((JSON.parse(readFileSync(join(agentDir, 'package.json'), 'utf8')) as { dependencies: object }).dependencies)
const base = closure(agentDeps, agentDir)
const added = (extra: string): { packages: number; mib: number } => {
  const withIt = closure([...agentDeps, extra], agentDir)
  const mib = [...withIt].filter(([d]) => !base.has(d)).reduce((t, [, s]) => t + s, 0) / 1048576
  return { packages: withIt.size - base.size, mib }
}

const rows: [string, Footprint, { packages: number; mib: number }][] = []
for (const [impl, pkg] of [
  ['node-http', null],
  ['toolkit', '@liquid-edge/http'],
  ['fastify', 'fastify'],
] as const) {
  rows.push([impl, await measure(impl), pkg === null ? { packages: 0, mib: 0 } : base.has(pkg) ? { packages: 0, mib: 0 } : added(pkg)])
}
const baseline = rows[0]?.[1]
console.log(
  `agent's installed dependencies: ${base.size} packages, ${([...base.values()].reduce((a, b) => a + b, 0) / 1048576).toFixed(1)} MiB`,
)
console.log('server        start ms   RSS start MiB   RSS after load MiB   POST /inference req/s (× baseline)   adds to the agent')
for (const [impl, f, add] of rows) {
  const ratio = baseline === undefined ? 1 : f.perSecond / baseline.perSecond
  console.log(
    `${impl.padEnd(12)}  ${f.startMs.toFixed(0).padStart(8)}   ${f.rssStartMiB.toFixed(1).padStart(13)}   ${f.rssLoadedMiB.toFixed(1).padStart(18)}   ${f.perSecond.toFixed(0).padStart(21)} (${ratio.toFixed(2)}×)   ${add.packages} packages, ${add.mib.toFixed(2)} MiB`,
  )
}
