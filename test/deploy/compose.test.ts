/**
 * docker-compose.yml, the Dockerfile and .dockerignore, checked without a Docker engine: the compose
 * file against the Compose Specification's JSON Schema (after interpolation, as `docker compose`
 * does), and the properties the deployment promises: hardened services, healthchecks, one-shot
 * provisioning steps, a scalable fleet, volumes that exist, image targets that exist.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv } from 'ajv'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..', '..')
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')

type Json = Record<string, unknown>
interface Service {
  image?: string
  build?: { target?: string; context?: string; dockerfile?: string }
  command?: string[]
  entrypoint?: string[]
  environment?: Record<string, string>
  volumes?: string[]
  tmpfs?: string[]
  read_only?: boolean
  restart?: string
  profiles?: string[]
  healthcheck?: { test?: string[]; disable?: boolean }
  depends_on?: Record<string, { condition: string }>
  deploy?: { replicas?: number | string }
  ports?: string[]
  user?: string
}

/** Compose interpolation with an empty environment: `${X:-d}`/`${X-d}` → d, `${X}` → '', `$$` → `$`. */
function interpolate(value: unknown): unknown {
  if (typeof value === 'string')
    return value.replace(
      /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g,
      (whole, _name, op: string | undefined, arg: string | undefined) => {
        if (whole === '$$') return '$'
        if (op === ':?' || op === '?') throw new Error(`${whole} requires a variable the test does not set`)
        return op === undefined ? '' : (arg ?? '')
      },
    )
  if (Array.isArray(value)) return value.map(interpolate)
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v)]))
  return value
}

const raw = parse(read('docker-compose.yml'), { merge: true }) as Json
const compose = interpolate(raw) as { services: Record<string, Service>; volumes: Record<string, unknown> }
const services = Object.entries(compose.services)
const ours = services.filter(([, s]) => s.build !== undefined)
const oneShot = (s: Service): boolean => s.restart === 'no'

/** The schema is draft-07 (Ajv's default); its `$schema` spells the draft's URL with https, which Ajv does not know by that name. */
function composeValidator() {
  const { $schema: _draft, ...schema } = JSON.parse(read('deploy/schema/compose-spec.json')) as Json
  return new Ajv({ allErrors: true, strict: false }).compile(schema)
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema, before and after interpolation', () => {
    const validate = composeValidator()
    for (const doc of [raw, compose]) {
      const ok = validate(doc)
      expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([])
      expect(ok).toBe(true)
    }
  })

  it('the schema check can fail: an unknown service key and a wrong type are refused', () => {
    const validate = composeValidator()
    expect(validate({ services: { broker: { image: 'x', replica: 2 } } })).toBe(false)
    expect(validate({ services: { broker: { image: 'x', depends_on: 'redis' } } })).toBe(false)
  })

  it('runs Redis, NATS with JetStream, broker, controller, a fleet, Prometheus and Grafana', () => {
    const names = Object.keys(compose.services)
    expect(names).toEqual(expect.arrayContaining(['redis', 'nats', 'broker', 'controller', 'fleet', 'edge-agent', 'prometheus', 'grafana']))
    expect(compose.services.nats?.command).toContain('--jetstream')
    expect(compose.services.broker?.command).toEqual(expect.arrayContaining(['--nats-url', 'nats://nats:4222', '--persistence', 'redis']))
  })

  it('scales the simulated fleet with deploy.replicas, and each replica gets device ids of its own', () => {
    const fleet = compose.services.fleet
    expect(fleet?.deploy?.replicas).toBe('1')
    expect(raw.services).toHaveProperty(['fleet', 'deploy', 'replicas'], '${LLN_FLEET_REPLICAS:-1}')
    // Replicas share one environment: the entrypoint puts the container hostname into the id prefix.
    expect(fleet?.environment?.ENTRYPOINT_ID_PREFIX_FROM_HOSTNAME).toBe('true')
    // `--scale` needs a service without a fixed host port or container name.
    expect(fleet?.ports).toBeUndefined()
    expect(fleet).not.toHaveProperty('container_name')
  })

  it('hardens every service: read-only root filesystem, a tmpfs /tmp, no new privileges, no capabilities', () => {
    for (const [name, s] of services) {
      expect(s.read_only, name).toBe(true)
      expect(s.tmpfs, name).toContain('/tmp')
      expect(s, name).toHaveProperty('security_opt', ['no-new-privileges:true'])
      expect(s, name).toHaveProperty('cap_drop', ['ALL'])
      expect(s.user ?? 'image default', name).not.toMatch(/^(0|root)(:|$)/)
    }
  })

  it('gives every long-running service a healthcheck (its own or its image target’s)', () => {
    const dockerfileChecks = new Set(
      stages()
        .filter((st) => st.lines.some((l) => l.startsWith('HEALTHCHECK')))
        .map((st) => st.name),
    )
    for (const [name, s] of services) {
      if (oneShot(s)) continue
      const own = s.healthcheck?.test !== undefined && s.healthcheck.disable !== true
      const fromImage = s.build?.target !== undefined && dockerfileChecks.has(s.build.target) && s.healthcheck?.disable !== true
      expect(own || fromImage, `${name} has no healthcheck`).toBe(true)
    }
  })

  it('waits on health and on finished one-shot steps, never on a service that does not exist', () => {
    for (const [name, s] of services) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        const target = compose.services[dep]
        expect(target, `${name} depends on unknown ${dep}`).toBeDefined()
        expect(condition, `${name} → ${dep}`).toBe(
          target !== undefined && oneShot(target) ? 'service_completed_successfully' : 'service_healthy',
        )
      }
    }
  })

  it('writes state only to declared named volumes or read-only bind mounts of deploy/', () => {
    for (const [name, s] of services) {
      for (const v of s.volumes ?? []) {
        const [source = '', target = '', mode] = v.split(':')
        expect(target.startsWith('/'), `${name}: ${v}`).toBe(true)
        if (source.startsWith('.')) {
          expect(mode, `${name}: bind mounts are read-only`).toBe('ro')
          expect(existsSync(join(ROOT, source)), `${name}: ${source} exists`).toBe(true)
        } else {
          expect(Object.keys(compose.volumes), `${name}: volume ${source}`).toContain(source)
        }
      }
    }
  })

  it('builds our services from Dockerfile targets that exist', () => {
    const targets = new Set(stages().map((st) => st.name))
    expect(ours.length).toBeGreaterThan(0)
    for (const [name, s] of ours) {
      expect(s.build?.context, name).toBe('.')
      expect(s.build?.dockerfile, name).toBe('Dockerfile')
      expect(targets, name).toContain(s.build?.target)
    }
  })

  it('is documented: docs/deploy.md describes every service', () => {
    const doc = read('docs/deploy.md')
    for (const name of Object.keys(compose.services)) expect(doc, name).toContain(`\`${name}\``)
  })

  it('publishes the API, Prometheus and Grafana on loopback only', () => {
    for (const name of ['controller', 'prometheus', 'grafana']) {
      for (const p of compose.services[name]?.ports ?? []) expect(p, name).toMatch(/^127\.0\.0\.1:/)
    }
  })
})

interface Stage {
  name: string
  base: string
  lines: string[]
}

/** Dockerfile stages with their instructions (continuation lines joined). */
function stages(): Stage[] {
  const joined = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
  const out: Stage[] = []
  for (const line of joined) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line)
    if (from !== null) out.push({ base: from[1] ?? '', name: from[2] ?? '', lines: [] })
    else out.at(-1)?.lines.push(line)
  }
  return out
}

/** Whether .dockerignore keeps `path` in the build context (last matching pattern wins). */
function inContext(path: string): boolean {
  const patterns = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
  let kept = true
  for (const p of patterns) {
    const negate = p.startsWith('!')
    const pat = (negate ? p.slice(1) : p).replace(/\/$/, '')
    const re = new RegExp(`^${pat.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`)
    if (re.test(path)) kept = negate
  }
  // A directory is in the context when something under it is allowed back in.
  return kept || patterns.some((p) => p.startsWith(`!${path}/`))
}

describe('Dockerfile', () => {
  const all = stages()
  const finals = ['broker', 'controller', 'agent']

  it('is multi-stage, with one target per executable', () => {
    expect(all.length).toBeGreaterThan(3)
    expect(all.map((s) => s.name)).toEqual(expect.arrayContaining(['build', ...finals]))
  })

  it('runs every target as a non-root user, with a HEALTHCHECK and the shared entrypoint', () => {
    const byName = new Map(all.map((s) => [s.name, s]))
    const chain = (s: Stage): Stage[] => {
      const parent = byName.get(s.base)
      return parent === undefined ? [s] : [...chain(parent), s]
    }
    for (const name of finals) {
      const lines = chain(byName.get(name) ?? { name, base: '', lines: [] }).flatMap((s) => s.lines)
      const user = lines.filter((l) => l.startsWith('USER ')).at(-1)
      expect(user, name).toBe('USER node')
      expect(
        lines.some((l) => l.startsWith('HEALTHCHECK')),
        name,
      ).toBe(true)
      expect(
        lines.some((l) => l.startsWith('ENTRYPOINT ["lln-entrypoint"]')),
        name,
      ).toBe(true)
    }
  })

  it('links each executable named in the packages’ bin fields to the compiled file its launcher runs', () => {
    const text = read('Dockerfile')
    for (const pkg of ['broker', 'controller', 'devices', 'cli']) {
      const bins = (JSON.parse(read(`${pkg}/package.json`)) as { bin?: Record<string, string> }).bin ?? {}
      expect(Object.keys(bins).length, pkg).toBeGreaterThan(0)
      for (const [bin, launcher] of Object.entries(bins)) {
        // The launcher runs dist/bin/<name>.js when it is built (always, in the image), else the source.
        expect(read(`${pkg}/${launcher}`), launcher).toContain(`../dist/bin/${bin}.js`)
        expect(text, bin).toContain(`ln -s /app/${pkg}/dist/bin/${bin}.js /usr/local/bin/${bin}`)
      }
    }
  })

  it('copies only paths that exist and that .dockerignore keeps in the build context', () => {
    const sources = all
      .flatMap((s) => s.lines)
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
      .flatMap((l) => {
        const words = l
          .split(/\s+/)
          .slice(1)
          .filter((w) => !w.startsWith('--'))
        return words.slice(0, -1)
      })
    expect(sources.length).toBeGreaterThan(10)
    for (const src of sources) {
      const path = src.replace(/\/$/, '')
      expect(existsSync(join(ROOT, path)), `${src} exists`).toBe(true)
      expect(inContext(path), `${src} is in the build context`).toBe(true)
    }
    // and the context leaves out what an image must not carry
    for (const path of ['node_modules', '.git', 'broker/test', 'liquid-credentials.json', 'devices/stm32', 'broker/dist'])
      expect(inContext(path), path).toBe(false)
  })
})
