/**
 * deploy/kubernetes/ without a cluster: every manifest file and every overlay as `kubectl kustomize`
 * renders it is checked against the Kubernetes API schemas (the `kubernetes-models` validators:
 * types, required fields, formats) and against the API types (a misspelt field, which the API
 * server would drop without a word, is a type error); the workloads have what the issue asks
 * (StatefulSet + headless Service, HPA, disruption budgets, probes, hardening, network policies);
 * each container's command is the real executable's, with flags its `--help` lists and LLN_*
 * variables its config reads. kubernetes-pods.test.ts runs the pods.
 */
import { readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig as loadBrokerConfig } from '@liquid-edge/broker'
import { loadConfig as loadControllerConfig } from '@liquid-edge/controller'
import { BINS, commandPath, help, optionsOf, read, ROOT, SCRIPT_VARS, variablesOf } from './executables.js'
import {
  apiErrors,
  argvOf,
  find,
  KUBE,
  kubectl,
  KUBECTL_MISSING,
  OVERLAYS,
  parseYaml,
  render,
  sourceFiles,
  type Container,
  type Labels,
  type PodSpec,
  type Resource,
} from './kubernetes-api.js'

// ---- helpers over the rendered objects

const byKind = (rs: readonly Resource[], kind: string) => rs.filter((r) => r.kind === kind)
const workloads = (rs: readonly Resource[]) => rs.filter((r) => r.spec?.template !== undefined)
const selects = (selector: Labels | undefined, labels: Labels) =>
  selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v)
const matchLabels = (r: Resource) => (r.spec?.selector as { matchLabels?: Labels } | undefined)?.matchLabels

/** Images built from our Dockerfile (`liquid-edge/<target>`), by target, and the executables each links. */
function imageBins(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  let target = ''
  for (const line of read('Dockerfile').split('\n')) {
    const from = /^FROM \S+ AS (\S+)/.exec(line)
    if (from?.[1] !== undefined) target = from[1]
    for (const m of line.matchAll(/ln -s \S+ \/usr\/local\/bin\/([a-z-]+)/g))
      out.set(target, (out.get(target) ?? new Set()).add(m[1] ?? ''))
  }
  return out
}
const IMAGE_BINS = imageBins()
/** Our image's target (`broker` for `registry.example.com/liquid-edge/broker:0.1.0`), or undefined for a third-party image. */
function ourTarget(image: string): string | undefined {
  const m = /(?:^|\/)liquid-edge\/([a-z]+)(?::[^/]+)?$/.exec(image)
  return m?.[1]
}

const OUR_OVERLAYS = (async () => Promise.all(OVERLAYS.map(async (o) => [o, await render(o)] as const)))()
async function ourContainers(): Promise<{ where: string; c: Container; init: boolean }[]> {
  const out: { where: string; c: Container; init: boolean }[] = []
  for (const [overlay, rs] of await OUR_OVERLAYS)
    for (const w of workloads(rs)) {
      const pod = w.spec?.template?.spec
      const all = [
        ...(pod?.initContainers ?? []).map((c) => ({ c, init: true })),
        ...(pod?.containers ?? []).map((c) => ({ c, init: false })),
      ]
      for (const { c, init } of all)
        if (ourTarget(c.image) !== undefined) out.push({ where: `${relative(KUBE, overlay)} ${w.metadata.name}/${c.name}`, c, init })
    }
  return out
}

describe('Kubernetes manifests against the API schemas', () => {
  it('finds kubectl (the overlays are rendered with `kubectl kustomize`)', async () => {
    expect(await kubectl(), KUBECTL_MISSING).toBe(true)
  })

  it('validates every manifest file of the base and the overlays', async () => {
    const files = [...new Set([join(KUBE, 'base'), ...OVERLAYS].flatMap(sourceFiles))]
    expect(files.map((f) => relative(KUBE, f))).toEqual(expect.arrayContaining(['base/broker.yaml', 'base/controller.yaml']))
    const errors: string[] = []
    for (const file of files) errors.push(...(await apiErrors(parseYaml(readFileSync(file, 'utf8'), file), relative(ROOT, file))))
    expect(errors).toEqual([])
  }, 120_000)

  it.each(OVERLAYS.map((o) => [relative(KUBE, o), o]))(
    'renders %s with kubectl kustomize, and every object validates',
    async (_, overlay) => {
      const rs = await render(overlay)
      expect(rs.length).toBeGreaterThan(10)
      expect(await apiErrors(rs, relative(ROOT, overlay))).toEqual([])
    },
    120_000,
  )

  it('catches what the API server would refuse or silently drop', async () => {
    const broker = parseYaml(read('deploy/kubernetes/base/broker.yaml'), 'broker.yaml')
    const sts = structuredClone(find(broker, 'StatefulSet', 'liquid-broker')) as Resource
    const container = sts.spec?.template?.spec.containers[0] as unknown as Record<string, unknown>
    container.securityContext = { readOnlyRootFileSystem: true } // misspelt: would be dropped
    const pdb = structuredClone(find(broker, 'PodDisruptionBudget', 'liquid-broker')) as Resource
    ;(pdb.spec as Record<string, unknown>).maxUnavailable = { one: 1 } // neither a number nor a string
    const service = structuredClone(find(broker, 'Service', 'liquid-broker')) as Resource
    ;(service.spec?.ports?.[0] as Record<string, unknown>).port = 'eighteen' // not an integer
    const errors = await apiErrors([sts, pdb, service], 'mutated')
    expect(errors.some((e) => e.includes('StatefulSet/liquid-broker') && e.includes('readOnlyRootFileSystem'))).toBe(true)
    expect(errors.some((e) => e.startsWith('mutated: PodDisruptionBudget/liquid-broker'))).toBe(true)
    expect(errors.some((e) => e.startsWith('mutated: Service/liquid-broker'))).toBe(true)
    expect(await apiErrors([{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: {} }], 'empty')).not.toEqual([])
  }, 120_000)
})

describe.each(OVERLAYS.map((o) => [relative(KUBE, o), o]))('the %s overlay', (_, overlay) => {
  it('runs the broker as a StatefulSet governed by a headless Service, one disruption at a time', async () => {
    const rs = await render(overlay)
    const sts = find(rs, 'StatefulSet', 'liquid-broker')
    const labels = sts?.spec?.template?.metadata.labels ?? {}
    const headless = find(rs, 'Service', sts?.spec?.serviceName ?? '')
    expect(headless?.spec?.clusterIP).toBe('None')
    expect(selects(headless?.spec?.selector as Labels, labels)).toBe(true)
    expect(sts?.spec?.replicas).toBeGreaterThanOrEqual(2)
    const pdb = byKind(rs, 'PodDisruptionBudget').find((p) => selects(matchLabels(p), labels))
    expect(pdb?.spec?.maxUnavailable).toBe(1)
    // Each node's stable id is its pod name.
    const broker = sts?.spec?.template?.spec.containers[0]
    expect(broker?.args).toEqual(expect.arrayContaining(['--broker-id', '$(POD_NAME)']))
    expect(broker?.env).toContainEqual({ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } })
    // Devices and controllers reach every ready node through one Service.
    const mqtt = byKind(rs, 'Service').filter((s) => s.spec?.clusterIP !== 'None' && selects(s.spec?.selector as Labels, labels))
    expect(mqtt.flatMap((s) => s.spec?.ports?.map((p) => p.port))).toContain(1883)
  })

  it('runs the controller as a Deployment the HPA scales on 70% CPU from 2 to 20, at least one always available', async () => {
    const rs = await render(overlay)
    const deploy = find(rs, 'Deployment', 'liquid-controller')
    // The HPA owns the count: a `replicas` here would reset it on every apply.
    expect(deploy?.spec?.replicas).toBeUndefined()
    const hpa = byKind(rs, 'HorizontalPodAutoscaler').find((h) => h.spec?.scaleTargetRef?.name === 'liquid-controller')
    expect(hpa?.spec).toMatchObject({ scaleTargetRef: { kind: 'Deployment' }, minReplicas: 2, maxReplicas: 20 })
    expect(hpa?.spec?.metrics).toEqual([
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } },
    ])
    // Utilization is a share of the request: without one the HPA cannot scale.
    expect(deploy?.spec?.template?.spec.containers[0]?.resources?.requests?.cpu).toBeDefined()
    const labels = deploy?.spec?.template?.metadata.labels ?? {}
    const pdb = byKind(rs, 'PodDisruptionBudget').find((p) => selects(matchLabels(p), labels))
    expect(pdb?.spec?.minAvailable).toBe(1)
  })

  it('runs every container unprivileged: non-root, read-only root filesystem, no capabilities, no API token, bounded memory', async () => {
    const rs = await render(overlay)
    for (const w of workloads(rs)) {
      const pod = w.spec?.template?.spec as PodSpec
      expect(pod.automountServiceAccountToken, w.metadata.name).toBe(false)
      expect(pod.securityContext?.runAsNonRoot, w.metadata.name).toBe(true)
      expect(pod.securityContext?.runAsUser, w.metadata.name).toBeGreaterThan(0)
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        const where = `${w.metadata.name}/${c.name}`
        expect(c.securityContext, where).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true })
        expect(c.securityContext?.capabilities?.drop, where).toEqual(['ALL'])
        expect(c.resources?.requests?.memory, where).toBeDefined()
        expect(c.resources?.limits?.memory, where).toBeDefined()
      }
    }
  })

  it('probes what the executables serve, scrapes their /metrics, and lets nothing else in', async () => {
    const rs = await render(overlay)
    const policies = byKind(rs, 'NetworkPolicy')
    // A default deny for every pod of the namespace.
    expect(policies.some((p) => Object.keys(p.spec?.podSelector ?? {}).length === 0 && p.spec?.policyTypes?.includes('Ingress'))).toBe(true)
    for (const w of workloads(rs).filter((w) => w.metadata.name.startsWith('liquid-'))) {
      const tpl = w.spec?.template
      const c = tpl?.spec.containers[0] as Container
      const port = (p: string | number | undefined) => (typeof p === 'number' ? p : c.ports?.find((x) => x.name === p)?.containerPort)
      for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe])
        expect(port(probe?.httpGet?.port), `${w.metadata.name}: a probe on a port the container declares`).toBeDefined()
      expect(tpl?.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/path': '/metrics' })
      const scraped = Number(tpl?.metadata.annotations?.['prometheus.io/port'])
      expect(c.ports?.map((p) => p.containerPort)).toContain(scraped)
      // Its own policy lets in every port it serves (MQTT, the API, /metrics).
      const own = policies.filter((p) => selects(p.spec?.podSelector?.matchLabels, tpl?.metadata.labels ?? {}))
      expect(own.length, w.metadata.name).toBeGreaterThan(0)
      const open = own.flatMap((p) => (p.spec?.ingress ?? []).flatMap((rule) => rule.ports ?? []).map((x) => port(x.port)))
      for (const p of c.ports ?? [])
        expect(open, `${w.metadata.name}: ${p.name ?? p.containerPort} is reachable`).toContain(p.containerPort)
    }
    // A ServiceMonitor names a port its Service has.
    for (const sm of byKind(rs, 'ServiceMonitor')) {
      const services = byKind(rs, 'Service').filter((s) => selects(matchLabels(sm), s.metadata.labels ?? {}))
      for (const e of sm.spec?.endpoints ?? [])
        expect(
          services.flatMap((s) => s.spec?.ports?.map((p) => p.name)),
          `ServiceMonitor/${sm.metadata.name}`,
        ).toContain(e.port)
    }
  })

  it('mounts every ConfigMap, Secret and volume it names, or marks it optional and says who creates it', async () => {
    const rs = await render(overlay)
    const text = readFileSync(join(overlay, 'kustomization.yaml'), 'utf8')
    for (const w of workloads(rs)) {
      const pod = w.spec?.template?.spec as PodSpec
      const volumes = pod.volumes ?? []
      const claims = (w.spec?.volumeClaimTemplates ?? []).map((t) => ({ name: t.metadata.name }))
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        for (const m of c.volumeMounts ?? [])
          expect(
            [...volumes, ...claims].map((v) => v.name),
            `${w.metadata.name}/${c.name}: volume ${m.name}`,
          ).toContain(m.name)
        for (const from of c.envFrom ?? []) {
          const ref = from.configMapRef ?? from.secretRef
          const kind = from.configMapRef !== undefined ? 'ConfigMap' : 'Secret'
          // One the overlay does not carry must be optional, or named in the overlay's install notes.
          if (find(rs, kind, ref?.name ?? '') === undefined && ref?.optional !== true)
            expect(text, `${relative(ROOT, overlay)} says how ${kind} ${ref?.name ?? ''} is made`).toMatch(
              new RegExp(`${kind}\\s+${ref?.name ?? ''}\\b`),
            )
        }
      }
      for (const v of pod.volumes ?? []) {
        if (v.configMap !== undefined && find(rs, 'ConfigMap', v.configMap.name) === undefined)
          expect(text, `${relative(ROOT, overlay)} says how ConfigMap ${v.configMap.name} is made`).toMatch(
            new RegExp(`ConfigMap\\s+${v.configMap.name}\\b`),
          )
        if (v.persistentVolumeClaim !== undefined)
          expect(find(rs, 'PersistentVolumeClaim', v.persistentVolumeClaim.claimName)).toBeDefined()
      }
    }
  })
})

describe('Kubernetes commands are the real executables', () => {
  it('runs in each container an executable its image links', async () => {
    const cs = await ourContainers()
    expect([...new Set(cs.map(({ c }) => argvOf(c)[0]))]).toEqual(
      expect.arrayContaining(['liquid-broker', 'liquid-controller', 'liquid-agent']),
    )
    for (const { where, c } of cs) {
      const bin = argvOf(c)[0] ?? ''
      expect([...BINS.keys()], where).toContain(bin)
      expect([...(IMAGE_BINS.get(ourTarget(c.image) ?? '') ?? [])], `${where}: ${c.image} links ${bin}`).toContain(bin)
    }
  }, 120_000)

  it('passes only flags each command’s --help lists', async () => {
    const checks = (await ourContainers()).map(async ({ where, c }) => {
      const argv = argvOf(c)
      const options = optionsOf(await help(argv[0] ?? '', commandPath(argv)))
      expect([...options], `${where}: --help was parsed`).toContain('--help')
      for (const flag of argv.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0] ?? a))
        expect([...options], `${where}: ${argv[0] ?? ''} ${commandPath(argv).join(' ')} accepts ${flag}`).toContain(flag)
    })
    await Promise.all(checks)
  }, 120_000)

  it('sets only LLN_* variables the executable reads (in env and in the ConfigMaps it loads), and only script variables otherwise', async () => {
    for (const [overlay, rs] of await OUR_OVERLAYS)
      for (const { where, c } of await ourContainers()) {
        if (!where.startsWith(relative(KUBE, overlay))) continue
        const argv = argvOf(c)
        const known = await variablesOf(argv[0] ?? '', commandPath(argv))
        const fromMaps = (c.envFrom ?? []).flatMap((f) => Object.keys(find(rs, 'ConfigMap', f.configMapRef?.name ?? '')?.data ?? {}))
        const refs = new Set((c.args ?? []).flatMap((a) => [...a.matchAll(/\$\(([A-Z_][A-Z0-9_]*)\)/g)].map((m) => m[1])))
        const envFiles = (c.env?.find((e) => e.name === 'ENTRYPOINT_ENV_FILES')?.value ?? '').split(/\s+/).filter((p) => p !== '')
        for (const v of [...(c.env ?? []).map((e) => e.name), ...fromMaps, ...envFiles.map((p) => p.split('=')[0] ?? '')]) {
          if (v.startsWith('LLN_')) expect([...known], `${where}: ${argv[0] ?? ''} reads ${v}`).toContain(v)
          else if (!refs.has(v)) expect([...SCRIPT_VARS], `${where}: ${v} is read by deploy/docker scripts`).toContain(v)
        }
      }
  }, 120_000)

  it('gives the broker and the controller configurations their schemas accept', async () => {
    for (const [, rs] of await OUR_OVERLAYS) {
      const data = (name: string) => find(rs, 'ConfigMap', name)?.data ?? {}
      expect(loadBrokerConfig({ ...data('liquid-broker'), LLN_BROKER_ID: 'liquid-broker-0' })).toMatchObject({
        persistence: 'redis',
        brokerId: 'liquid-broker-0',
      })
      expect(
        loadControllerConfig({ ...data('liquid-controller'), LLN_MQTT_USERNAME: 'liquid-controller-x', LLN_MQTT_PASSWORD: 'from-a-file' }),
      ).toMatchObject({ httpHost: '0.0.0.0', httpPort: 8080, natsUrl: expect.stringMatching(/^nats:\/\//) as unknown })
    }
  })
})
