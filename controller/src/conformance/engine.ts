import { FleetError } from '@liquid-edge/protocol'
import type { ReportedBody } from '@liquid-edge/protocol'
import type { ModelRecord } from '../models/model-store.js'
import { parseModelSpec } from '../models/model-store.js'
import type { LiveReported, LiveStore } from '../registry/live.js'
import type { Registry } from '../registry/registry.js'
import type { Check } from './checks/check.js'
import { COMMAND_CHECKS } from './checks/commands.js'
import { DESIRED_CHECKS, errorOf, serving, settle } from './checks/desired.js'
import { SESSION_CHECKS } from './checks/session.js'
import { TELEMETRY_CHECKS } from './checks/telemetry.js'
import { TRIAL_CHECKS } from './checks/trials.js'
import { Kit, spec, type KitDeps } from './kit.js'
import { CheckFailure, CHECK_STATUSES, type CheckResult, type ConformanceReport, type OperatorAction } from './report.js'
import { DeviceTap } from './tap.js'

export interface ConformanceDeps extends KitDeps {
  registry: Pick<Registry, 'get'>
  live: Pick<LiveStore, 'views'>
}

export interface ConformanceOptions {
  deviceId: string
  /** Two `name@version` the device can run; the kit picks from the store when omitted. */
  models?: readonly string[]
  /** Check ids to leave out, or `offline` for every check that needs the device taken offline. */
  skip?: readonly string[]
  /** Trial length of the kit's deploys, ms. @defaultValue 3000 */
  trialMs?: number
  /** How long one step may take, ms. @defaultValue 30000 */
  stepTimeoutMs?: number
  /** How long the operator has for each offline action, ms. @defaultValue 120000 */
  offlineTimeoutMs?: number
  /** Each check as it finishes. */
  onCheck?: (result: CheckResult) => void
  /** The kit needs the operator (or a test) to do something; it then waits for the effect. */
  onAction?: (action: OperatorAction) => void | Promise<void>
  signal?: AbortSignal
}

function byName(list: readonly Check[], id: string): Check {
  const c = list.find((x) => x.id === id)
  if (c === undefined) throw new Error(`no check ${id}`)
  return c
}

const ALL = [...SESSION_CHECKS, ...TELEMETRY_CHECKS, ...COMMAND_CHECKS, ...DESIRED_CHECKS, ...TRIAL_CHECKS]

/** The order the kit runs its checks in: each leaves the device where the next one expects it. */
export const CHECK_ORDER: readonly string[] = [
  'session.status',
  'reported.state',
  'telemetry.windows',
  'command.ping',
  'command.repeat',
  'command.expired',
  'command.unknown',
  'desired.activate',
  'command.status',
  'command.verify',
  'command.storage',
  'command.profile',
  'command.logs',
  'command.evaluate',
  'desired.repeat',
  'command.rollback',
  'desired.stage',
  'command.switch',
  'command.decommission',
  'trial.rollback',
  'trial.revert',
  'desired.expired',
  'desired.superseded',
  'signature.forged',
  'session.will',
  'offline.catchup',
  'session.number',
  'telemetry.offline',
  'envelope.ids',
]

/** Every check of the kit, in order, with its clause (for documentation and `--list`). */
export function conformanceChecks(): { id: string; clause: string; title: string; offline: boolean }[] {
  return CHECK_ORDER.map((id) => byName(ALL, id)).map((c) => ({ id: c.id, clause: c.clause, title: c.title, offline: c.offline === true }))
}

function compatible(record: ModelRecord, hardware: string): boolean {
  return record.manifest.hardware.length === 0 || record.manifest.hardware.includes(hardware)
}

/** The two models the kit moves the device between: given, or the one it runs and another it can run. */
async function pairFor(
  deps: ConformanceDeps,
  o: ConformanceOptions,
  hardware: string,
  runs: string | null,
): Promise<[ModelRecord, ModelRecord]> {
  if (o.models !== undefined && o.models.length > 0) {
    if (o.models.length !== 2) throw new FleetError('API_INVALID_REQUEST', 'give exactly two models: name@version,name@version')
    const [a, b] = await Promise.all(o.models.map((m) => parseModelSpec(m)).map((m) => deps.models.get(m.name, m.version)))
    if (a === undefined || b === undefined || a.sha256 === b.sha256)
      throw new FleetError('API_INVALID_REQUEST', 'the two models must differ')
    return [a, b]
  }
  const candidates = (await deps.models.list()).filter((m) => compatible(m, hardware))
  const home = candidates.find((m) => m.sha256 === runs)
  const others = candidates.filter((m) => m.sha256 !== home?.sha256 && (home === undefined || m.name === home.name))
  const second = others.at(-1) ?? candidates.filter((m) => m.sha256 !== home?.sha256).at(-1)
  const first = home ?? candidates.find((m) => m.sha256 !== second?.sha256)
  if (first === undefined || second === undefined) {
    throw new FleetError(
      'MODEL_NOT_FOUND',
      `conformance needs two model versions a ${hardware} device can run in the store (found ${candidates.length}); push them with liquid-lln model push, or name them with --models`,
    )
  }
  return [first, second]
}

function initialReport(r: LiveReported | null): ReportedBody | null {
  if (r === null) return null
  const { generation, rolloutId, phase, slots, hardware, agentVersion } = r
  return { generation, rolloutId, phase, slots, hardware, agentVersion, error: null, reason: null }
}

async function runCheck(kit: Kit, check: Check, skipped: boolean): Promise<CheckResult> {
  const started = kit.deps.clock.now()
  const result = (status: CheckResult['status'], detail: string): CheckResult => ({
    id: check.id,
    clause: check.clause,
    title: check.title,
    status,
    detail,
    elapsedMs: kit.deps.clock.now() - started,
  })
  if (skipped) return result('skip', 'left out on request')
  try {
    return result('pass', await check.run(kit))
  } catch (err) {
    if (err instanceof CheckFailure) return result(err.status, err.message)
    kit.deps.logger.warn({ err, check: check.id }, 'conformance check failed unexpectedly')
    return result('fail', err instanceof Error ? err.message : String(err))
  }
}

/** Put the device back on the model it started with (a check of its own: a device that cannot go back is not conformant). */
async function restore(kit: Kit, home: ModelRecord | null): Promise<CheckResult> {
  const check: Check = {
    id: 'restore',
    clause: '§6.5',
    title: 'the device goes back to the model it started with',
    async run() {
      if (home === null) return 'the device ran no model before; left on the one it runs now'
      if (kit.serving()?.model.sha256 === home.sha256) return `back on ${spec(home)}`
      const resident = kit.reported()?.slots.some((s) => s.role === 'previous' && s.model.sha256 === home.sha256) === true
      const from = kit.tap.mark
      const gen = await kit.desire(kit.ref(home), resident ? { trialMs: 0 } : {})
      const { final } = await settle(kit, gen, from, kit.settings.trialMs + 2 * kit.settings.stepTimeoutMs)
      if (final.phase !== 'active' || serving(final) !== home.sha256) throw new CheckFailure(`generation ${gen} ended ${errorOf(final)}`)
      return `back on ${spec(home)} (generation ${gen})`
    },
  }
  return runCheck(kit, check, false)
}

/**
 * Drive one registered, online device through the contract (docs/device-contract.md) and report
 * every check with its clause. Moves the device between two model versions and back.
 * @throws {FleetError} `REGISTRY_DEVICE_NOT_FOUND`, `REGISTRY_DEVICE_OFFLINE`, `MODEL_NOT_FOUND` (fewer than two usable models)
 */
export async function runConformance(deps: ConformanceDeps, o: ConformanceOptions): Promise<ConformanceReport> {
  await deps.registry.get(o.deviceId)
  const [view] = await deps.live.views([o.deviceId])
  if (view?.status?.online !== true) {
    throw new FleetError('REGISTRY_DEVICE_OFFLINE', `${o.deviceId} is not online; start it (or its gateway) before checking it`)
  }
  const initial = initialReport(view.reported)
  const runs = initial?.slots.find((s) => s.role === 'active' || s.role === 'trial')?.model.sha256 ?? null
  const hardware = initial?.hardware ?? 'unknown'
  const pair = await pairFor(deps, o, hardware, runs)
  const gateway = view.status.gateway ?? null
  const tap = new DeviceTap(deps.link, deps.clock, gateway === null ? [o.deviceId] : [o.deviceId, gateway])
  const settings = {
    trialMs: o.trialMs ?? 3000,
    stepTimeoutMs: o.stepTimeoutMs ?? 30_000,
    offlineTimeoutMs: o.offlineTimeoutMs ?? 120_000,
    onAction: o.onAction ?? (() => undefined),
  }
  const kit = new Kit(deps, settings, tap, { id: o.deviceId, hardware, gateway, initial }, pair)
  const skip = new Set(o.skip ?? [])
  const startedAt = deps.clock.now()
  const checks: CheckResult[] = []
  try {
    for (const id of CHECK_ORDER) {
      if (o.signal?.aborted === true) break
      const check = byName(ALL, id)
      const r = await runCheck(kit, check, skip.has(id) || (check.offline === true && skip.has('offline')))
      checks.push(r)
      o.onCheck?.(r)
    }
    const home = pair.find((m) => m.sha256 === runs) ?? null
    const restored = await restore(kit, home)
    checks.push(restored)
    o.onCheck?.(restored)
  } finally {
    tap.close()
  }
  const counts = Object.fromEntries(
    CHECK_STATUSES.map((s) => [s, checks.filter((c) => c.status === s).length]),
  ) as ConformanceReport['counts']
  return {
    deviceId: o.deviceId,
    models: pair.map(spec),
    startedAt,
    finishedAt: deps.clock.now(),
    passed: counts.fail === 0,
    counts,
    checks,
  }
}
