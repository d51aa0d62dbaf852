/**
 * The Kubernetes manifests of deploy/kubernetes/ as objects, rendered by `kubectl kustomize`, and
 * their validation against the Kubernetes API: the `kubernetes-models` validators (types, required
 * fields, formats) and the API types (a field the type lacks, which the API server would drop
 * without a word, is a type error).
 */
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { promisify } from 'node:util'
import ts from 'typescript'
import { parseAllDocuments } from 'yaml'
import { ROOT } from './executables.js'

const run = promisify(execFile)
export const KUBE = join(ROOT, 'deploy/kubernetes')
export const OVERLAYS = readdirSync(join(KUBE, 'overlays')).map((name) => join(KUBE, 'overlays', name))

// ---- the manifests as plain objects (only the fields the checks read are typed)

export interface Probe {
  httpGet?: { path: string; port: string | number }
}
export interface EnvVar {
  name: string
  value?: string
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } }
}
export interface Container {
  name: string
  image: string
  command?: string[]
  args?: string[]
  env?: EnvVar[]
  envFrom?: { configMapRef?: { name: string; optional?: boolean }; secretRef?: { name: string; optional?: boolean } }[]
  ports?: { name?: string; containerPort: number }[]
  startupProbe?: Probe
  readinessProbe?: Probe
  livenessProbe?: Probe
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> }
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } }
  volumeMounts?: { name: string; mountPath: string }[]
}
export interface PodSpec {
  automountServiceAccountToken?: boolean
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number }
  initContainers?: Container[]
  containers: Container[]
  volumes?: { name: string; emptyDir?: object; configMap?: { name: string }; persistentVolumeClaim?: { claimName: string } }[]
}
export type Labels = Record<string, string>
export interface Resource {
  apiVersion: string
  kind: string
  metadata: { name: string; labels?: Labels; annotations?: Labels }
  data?: Record<string, string>
  spec?: {
    replicas?: number
    serviceName?: string
    clusterIP?: string
    selector?: Labels | { matchLabels?: Labels }
    podSelector?: { matchLabels?: Labels; matchExpressions?: { key: string; operator: string; values: string[] }[] }
    policyTypes?: string[]
    ingress?: { from?: unknown[]; ports?: { port: string | number }[] }[]
    ports?: { name: string; port: number; targetPort: string | number }[]
    template?: { metadata: { labels: Labels; annotations?: Labels }; spec: PodSpec }
    volumeClaimTemplates?: { metadata: { name: string } }[]
    scaleTargetRef?: { kind: string; name: string }
    minReplicas?: number
    maxReplicas?: number
    metrics?: { type: string; resource?: { name: string; target: { type: string; averageUtilization?: number } } }[]
    minAvailable?: number | string
    maxUnavailable?: number | string
    endpoints?: { port: string; path: string }[]
  }
}

export function parseYaml(text: string, where: string): Resource[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors.map((e) => e.message).join('; ')}`)
    const value = doc.toJS() as Resource | null
    return value === null ? [] : [value]
  })
}

/** Every YAML file a kustomization lists under `resources` (its patches are partial objects, checked once rendered). */
export function sourceFiles(dir: string): string[] {
  const k = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'), dir)[0] as unknown as { resources?: string[] }
  return (k.resources ?? []).flatMap((r) => {
    const path = join(dir, r)
    return statSync(path).isDirectory() ? sourceFiles(path) : [path]
  })
}

export async function kubectl(): Promise<boolean> {
  return run('kubectl', ['version', '--client']).then(
    () => true,
    () => false,
  )
}
export const KUBECTL_MISSING =
  'kubectl is not installed: the overlays are rendered with `kubectl kustomize` (install kubectl, e.g. the Debian package kubernetes-client)'

const rendered = new Map<string, Promise<Resource[]>>()
/** The overlay as `kubectl kustomize` renders it (what `kubectl apply -k` sends). */
export function render(overlay: string): Promise<Resource[]> {
  let out = rendered.get(overlay)
  if (out === undefined) {
    out = (async () => {
      if (!(await kubectl())) throw new Error(KUBECTL_MISSING)
      const { stdout } = await run('kubectl', ['kustomize', overlay], { timeout: 60_000 })
      return parseYaml(stdout, relative(ROOT, overlay))
    })()
    rendered.set(overlay, out)
  }
  return out
}

// ---- validation against the API schemas and types

/** The module of `kubernetes-models` (or a CRD package) that models this apiVersion and kind. */
export function modelModule(r: Pick<Resource, 'apiVersion' | 'kind'>): string {
  if (r.apiVersion.startsWith('monitoring.coreos.com/')) return `@kubernetes-models/prometheus-operator/${r.apiVersion}/${r.kind}`
  return `kubernetes-models/${r.apiVersion}/${r.kind}`
}

/** The schema validator's complaints (required fields, types, formats, enums), or []. */
async function schemaErrors(r: Resource): Promise<string[]> {
  const mod = (await import(modelModule(r)).catch(() => ({}))) as Record<string, (new (data: unknown) => { validate(): void }) | undefined>
  const Model = mod[r.kind]
  if (Model === undefined) return [`${r.apiVersion} ${r.kind} is not a known Kubernetes API type`]
  try {
    new Model(r).validate()
    return []
  } catch (err) {
    return [err instanceof Error ? err.message : String(err)]
  }
}

/**
 * The type checker's complaints: each object is assigned to its API type as an object literal, so
 * a field the type does not have (a typo the API server would drop) is an error at any depth.
 */
function typeErrors(resources: readonly Resource[]): string[][] {
  const file = join(ROOT, 'test/deploy/kubernetes-manifests.generated.ts')
  const imports = resources.map((r, i) => `import type { I${r.kind} as T${i} } from '${modelModule(r)}'`)
  const lines = [...imports, ...resources.map((r, i) => `export const m${i}: T${i} = ${JSON.stringify(r)}`)]
  const text = lines.join('\n')
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  }
  const base = ts.createCompilerHost(options)
  const host: ts.CompilerHost = {
    ...base,
    getSourceFile: (name, lang, ...rest) =>
      name === file ? ts.createSourceFile(name, text, lang) : base.getSourceFile(name, lang, ...rest),
    fileExists: (name) => name === file || base.fileExists(name),
    readFile: (name) => (name === file ? text : base.readFile(name)),
  }
  const program = ts.createProgram([file], options, host)
  const out = resources.map((): string[] => [])
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n')
    const line = d.file !== undefined && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1
    const i = line < imports.length ? line : line - imports.length
    ;(out[i] ?? out[0] ?? []).push(message)
  }
  return out
}

/** Both checks, per object, labelled. */
export async function apiErrors(resources: readonly Resource[], where: string): Promise<string[]> {
  const types = typeErrors(resources)
  const schema = await Promise.all(resources.map(schemaErrors))
  return resources.flatMap((r, i) => [...(schema[i] ?? []), ...(types[i] ?? [])].map((e) => `${where}: ${r.kind}/${r.metadata.name}: ${e}`))
}

export const find = (rs: readonly Resource[], kind: string, name: string) => rs.find((r) => r.kind === kind && r.metadata.name === name)

/** The container's argv as the pod runs it: the image's entrypoint gets `command` (none of ours set it) + `args`, `$(VAR)` from `env`. */
export function argvOf(c: Container, values: Record<string, string> = {}): string[] {
  if (c.command !== undefined) throw new Error(`${c.name}: sets command, which replaces the image's entrypoint (lln-entrypoint)`)
  return (c.args ?? []).map((a) => a.replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (whole, name: string) => values[name] ?? whole))
}
