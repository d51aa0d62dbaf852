/**
 * Model check of the agent's update lifecycle: the real reducer and executor run against a model of
 * the device (driver slots, package files, persisted state). From every state reached, every event
 * is applied, once to the end and once with a crash before each of the operations it causes
 * (persist, effect, task); after a crash the agent restarts from what was persisted. After each,
 * the invariants are checked: at most one serving slot, no unverified package active, a trial
 * interrupted by a crash reverts to the previous model, the generation never goes backwards.
 */
import { DesiredBodySchema, PHASES, type DesiredBody, type ModelRef, type Phase } from '@liquid-edge/protocol'
import { describe, expect, it } from 'vitest'
import type { SlotName } from '../src/ports.js'
import { AgentStateSchema, initialState, reportedSlots, type AgentState } from '../src/state/agent-state.js'
import { step, type LifecycleEvent } from '../src/update/lifecycle.js'
import { LifecycleExecutor, type EffectRunner, type ImmediateEffect, type TaskEffect } from '../src/update/lifecycle-executor.js'

const NOW = Date.UTC(2026, 0, 1)
const SIGNATURE = Buffer.alloc(64).toString('base64')

function model(version: string, digit: string): ModelRef {
  return {
    name: 'm',
    version,
    sha256: digit.repeat(64),
    size: 100,
    url: `http://artifacts.invalid/${version}.liquid`,
    signature: SIGNATURE,
  }
}

/** Good packages, and packages that fail one step each. */
const M1 = model('1.0.0', '1')
const M2 = model('2.0.0', '2')
const FORGED = model('6.6.6', 'f') // fails verification (signature)
const SICK = model('7.0.0', 'e') // verifies, fails its self-test
const MISSING = model('8.0.0', 'd') // the download fails
const GOOD = new Set([M1.sha256, M2.sha256])

interface Device {
  /** Package files in the state store, by slot (what a restart can restore). */
  files: Record<SlotName, string | null>
  /** What the driver holds in memory (lost in a crash). */
  loaded: Record<SlotName, string | null>
  active: SlotName | null
}

interface Node {
  state: AgentState
  device: Device
}

class Crash extends Error {}

/** The device model as an {@link EffectRunner}; crashes before operation number `crashAt`. */
class ModelRunner implements EffectRunner {
  ops = 0
  crashed = false
  persisted: AgentState
  readonly violations: string[] = []

  constructor(
    readonly device: Device,
    persisted: AgentState,
    private readonly crashAt: number,
  ) {
    this.persisted = persisted
  }

  private op(): void {
    if (this.crashed || this.ops++ >= this.crashAt) {
      this.crashed = true
      throw new Crash('crash')
    }
  }

  persist(state: AgentState): Promise<void> {
    this.op()
    if (state.generation < this.persisted.generation) {
      this.violations.push(`generation went back from ${this.persisted.generation} to ${state.generation}`)
    }
    this.persisted = state
    return Promise.resolve()
  }

  run(effect: ImmediateEffect): Promise<LifecycleEvent | null> {
    this.op()
    const d = this.device
    switch (effect.type) {
      case 'restore': {
        const lost: SlotName[] = []
        for (const slot of effect.slots) {
          const file = d.files[slot]
          if (file !== null && file === this.persisted.slots[slot]?.sha256) d.loaded[slot] = file
          else lost.push(slot)
        }
        return Promise.resolve({ type: 'restored', lost })
      }
      case 'activate': {
        const sha = d.loaded[effect.slot]
        if (sha === null) this.violations.push(`activated empty slot ${effect.slot}`)
        else if (!GOOD.has(sha)) this.violations.push(`activated unverified package ${sha.slice(0, 4)}`)
        d.active = effect.slot
        break
      }
      case 'free':
        d.loaded[effect.slot] = null
        d.files[effect.slot] = null
        if (d.active === effect.slot) d.active = null
        break
      default:
        break
    }
    return Promise.resolve(null)
  }

  task(effect: TaskEffect): Promise<LifecycleEvent> {
    this.op()
    const d = this.device
    const failed = (code: 'AGENT_DOWNLOAD_FAILED' | 'PACKAGE_SIGNATURE_INVALID' | 'AGENT_SELF_TEST_FAILED'): LifecycleEvent => ({
      type: 'step-failed',
      job: effect.job,
      error: { code, message: code, retryable: false },
    })
    switch (effect.type) {
      case 'download':
        return Promise.resolve(
          effect.model.sha256 === MISSING.sha256 ? failed('AGENT_DOWNLOAD_FAILED') : { type: 'downloaded', job: effect.job, now: NOW },
        )
      case 'verify':
        return Promise.resolve(
          effect.model.sha256 === FORGED.sha256 ? failed('PACKAGE_SIGNATURE_INVALID') : { type: 'verified', job: effect.job, now: NOW },
        )
      case 'stage': {
        if (d.active === effect.slot) this.violations.push(`staged into the active slot ${effect.slot}`)
        const m = effect.model
        d.files[effect.slot] = m.sha256
        d.loaded[effect.slot] = m.sha256
        const record = { name: m.name, version: m.version, sha256: m.sha256, size: m.size }
        return Promise.resolve({ type: 'loaded', job: effect.job, slot: effect.slot, record })
      }
      case 'self-test':
        return Promise.resolve(
          d.loaded[effect.slot] === SICK.sha256 ? failed('AGENT_SELF_TEST_FAILED') : { type: 'self-tested', job: effect.job, now: NOW },
        )
    }
  }

  error(err: unknown): void {
    if (!(err instanceof Crash)) this.violations.push(`task failed: ${String(err)}`)
  }
}

function desired(generation: number, m: ModelRef | null, extra: Partial<DesiredBody> = {}, trialMs = 60_000): DesiredBody {
  return DesiredBodySchema.parse({
    generation,
    rolloutId: null,
    model: m,
    policy: { trialMs, latencyThresholdMs: 5 },
    reason: m === null ? { code: 'AGENT_SUPERSEDED', message: 'withdrawn', retryable: false } : null,
    ...extra,
  })
}

/** Every event the lifecycle knows, with the values that matter in `s`. */
function events(s: AgentState): { name: string; event: LifecycleEvent | 'restart' }[] {
  const g = s.generation + 1
  const trialGen = s.trial?.generation ?? s.generation
  const breach = { code: 'AGENT_TRIAL_LATENCY', message: 'slow', retryable: false } as const
  const d = (name: string, body: DesiredBody) => ({ name, event: { type: 'desired', desired: body, now: NOW } as const })
  return [
    d('desired m1 (trial)', desired(g, M1)),
    d('desired m2 (trial)', desired(g, M2)),
    d('desired m1 (no trial)', desired(g, M1, {}, 0)),
    d('desired m2 (stage)', desired(g, M2, { mode: 'stage' })),
    d('desired forged', desired(g, FORGED)),
    d('desired sick', desired(g, SICK)),
    d('desired missing', desired(g, MISSING)),
    d('desired none', desired(g, null)),
    d('desired stale', desired(s.generation, M2)),
    d('desired expired', desired(g, M2, { expiresAt: NOW - 1 })),
    { name: 'trial confirmed', event: { type: 'trial-confirmed', generation: trialGen } },
    { name: 'trial breached', event: { type: 'trial-breached', generation: trialGen, error: breach, cause: breach } },
    { name: 'make a active', event: { type: 'make-active', slot: 'a' } },
    { name: 'make b active', event: { type: 'make-active', slot: 'b' } },
    { name: 'decommission', event: { type: 'decommission' } },
    { name: 'rollback fetch m1', event: { type: 'rollback-fetch', model: M1 } },
    { name: 'rollback fetch sick', event: { type: 'rollback-fetch', model: SICK } },
    { name: 'session', event: { type: 'session' } },
    { name: 'restart', event: 'restart' },
  ]
}

function cloneDevice(d: Device): Device {
  return { files: { ...d.files }, loaded: { ...d.loaded }, active: d.active }
}

/** Start the agent on what was persisted: the driver holds nothing; boot, then the pending desired state again. */
async function restart(persisted: AgentState, files: Device['files']): Promise<{ runner: ModelRunner; exec: LifecycleExecutor }> {
  // What a restart reads back must be a valid state file.
  persisted = AgentStateSchema.parse(JSON.parse(JSON.stringify(persisted)))
  const device: Device = { files: { ...files }, loaded: { a: null, b: null }, active: null }
  const runner = new ModelRunner(device, persisted, Infinity)
  const exec = new LifecycleExecutor(persisted, runner)
  const pending = persisted.pending
  await exec.dispatch({ type: 'boot' })
  if (pending !== null) await exec.dispatch({ type: 'desired', desired: pending, now: NOW })
  await exec.settled()
  return { runner, exec }
}

interface Outcome {
  node: Node
  ops: number
  violations: string[]
  /** The persisted state at the crash, when there was one. */
  crashedOn: AgentState | null
}

async function run(node: Node, event: LifecycleEvent | 'restart', crashAt: number): Promise<Outcome> {
  const runner = new ModelRunner(cloneDevice(node.device), node.state, crashAt)
  const exec = new LifecycleExecutor(node.state, runner)
  try {
    if (event === 'restart') await exec.dispatch({ type: 'shutdown', telemetrySeq: node.state.telemetrySeq })
    else await exec.dispatch(event)
    await exec.settled()
  } catch (err) {
    if (!(err instanceof Crash)) throw err
  }
  if (!runner.crashed && event !== 'restart') {
    return {
      node: { state: exec.state, device: runner.device },
      ops: runner.ops,
      violations: runner.violations,
      crashedOn: null,
    }
  }
  const crashedOn = runner.crashed ? runner.persisted : null
  const next = await restart(runner.persisted, runner.device.files)
  if (next.runner.persisted.generation < runner.persisted.generation) next.runner.violations.push('generation went back over a restart')
  return {
    node: { state: next.exec.state, device: next.runner.device },
    ops: runner.ops,
    violations: [...runner.violations, ...next.runner.violations],
    crashedOn,
  }
}

/** What must hold whenever the agent is at rest. */
function check(before: Node, out: Outcome): string[] {
  const v = [...out.violations]
  const { state: s, device: d } = out.node
  if (reportedSlots(s).filter((x) => x.role === 'active' || x.role === 'trial').length > 1) v.push('two serving slots')
  if (s.generation < before.state.generation) v.push(`generation went back from ${before.state.generation} to ${s.generation}`)
  if (s.pending !== null || s.rollbackFetch !== null) v.push('a job was left hanging')
  if (d.active !== s.active) v.push(`driver runs ${d.active}, state says ${s.active}`)
  if (s.active !== null && s.slots[s.active] === null) v.push('the active slot has no model')
  if (s.trial !== null && s.trial.slot !== s.active) v.push('the trial is not the active slot')
  for (const slot of ['a', 'b'] as const) {
    const rec = s.slots[slot]
    if (rec === null) continue
    if (d.files[slot] !== rec.sha256) v.push(`slot ${slot} recorded without its package file`)
    if (d.loaded[slot] !== rec.sha256) v.push(`slot ${slot} recorded but not loaded`)
  }
  const activeSha = s.active === null ? null : d.loaded[s.active]
  if (activeSha !== null && !GOOD.has(activeSha)) v.push('an unverified package is active')
  const trial = out.crashedOn?.trial ?? null
  if (trial !== null) {
    const previous = trial.previous === null ? null : (out.crashedOn?.slots[trial.previous]?.sha256 ?? null)
    if (s.phase !== 'reverted' || s.error?.code !== 'AGENT_TRIAL_INTERRUPTED') v.push(`a crash mid-trial ended in ${s.phase}`)
    if ((s.active === null ? null : (s.slots[s.active]?.sha256 ?? null)) !== previous)
      v.push('a crash mid-trial did not revert to the previous model')
  }
  return v
}

/**
 * What the lifecycle's transitions depend on. Generations count only relative to the current one
 * (a trial's is the current one, or older when a later desired state failed before touching it);
 * error and reason codes are reported, never branched on.
 */
function fingerprint(n: Node): string {
  const s = n.state
  return JSON.stringify([
    s.phase,
    s.active,
    s.standby,
    s.slots.a?.version ?? null,
    s.slots.b?.version ?? null,
    s.trial === null ? null : [s.trial.slot, s.trial.previous, s.trial.generation === s.generation],
    n.device,
  ])
}

describe('agent update lifecycle (model check)', () => {
  it('keeps its invariants for every event in every reachable state, with a crash before any operation', { timeout: 120_000 }, async () => {
    const start: Node = { state: initialState(), device: { files: { a: null, b: null }, loaded: { a: null, b: null }, active: null } }
    const seen = new Map<string, Node>([[fingerprint(start), start]])
    const phasesAtRest = new Set<Phase>()
    const phasesAtCrash = new Set<Phase>()
    const eventsApplied = new Set<string>()
    const failures: string[] = []
    let frontier = [start]
    let runs = 0
    for (let depth = 0; depth < 20 && frontier.length > 0; depth++) {
      const next: Node[] = []
      for (const node of frontier) {
        phasesAtRest.add(node.state.phase)
        for (const { name, event } of events(node.state)) {
          const whole = await run(node, event, Infinity)
          runs++
          const outcomes = [whole]
          for (let k = 0; k < whole.ops; k++) {
            outcomes.push(await run(node, event, k))
            runs++
          }
          for (const out of outcomes) {
            if (out.node.state !== node.state) eventsApplied.add(name)
            if (out.crashedOn !== null) phasesAtCrash.add(out.crashedOn.phase)
            for (const v of check(node, out)) failures.push(`${fingerprint(node)} + ${name}${out === whole ? '' : ' (crash)'}: ${v}`)
            const key = fingerprint(out.node)
            if (!seen.has(key)) {
              seen.set(key, out.node)
              next.push(out.node)
            }
          }
        }
      }
      frontier = next
    }
    expect(failures.slice(0, 10)).toEqual([])
    expect(frontier, 'the state space was explored to the end').toEqual([])
    // Every phase is reached at rest or persisted at a crash point, and every event applies somewhere.
    expect([...new Set([...phasesAtRest, ...phasesAtCrash])].sort()).toEqual([...PHASES].sort())
    // A stale desired state never applies; every other event does somewhere.
    const applicable = events(initialState())
      .map((e) => e.name)
      .filter((n) => n !== 'desired stale')
    expect([...eventsApplied].sort()).toEqual(applicable.sort())
    expect(seen.size).toBeGreaterThan(20)
    expect(runs).toBeGreaterThan(1000)
  })

  it("activates a way back to the policy's fallback with no trial and no latency gate", () => {
    let s = initialState()
    const drive = (event: LifecycleEvent) => {
      const r = step(s, event)
      s = r.state
      return r.effects
    }
    const record = (m: ModelRef) => ({ name: m.name, version: m.version, sha256: m.sha256, size: m.size })
    // On M2, confirmed, with no previous model (a first install).
    drive({ type: 'desired', desired: desired(1, M2), now: NOW })
    drive({ type: 'downloaded', job: 1, now: NOW })
    drive({ type: 'verified', job: 1, now: NOW })
    drive({ type: 'loaded', job: 1, slot: 'a', record: record(M2) })
    drive({ type: 'self-tested', job: 1, now: NOW })
    drive({ type: 'trial-confirmed', generation: 1 })
    expect([s.phase, s.trial]).toEqual(['active', null])
    const reason = { code: 'ROLLOUT_FALLBACK', message: 'rollback; no previous model (first install); fallback m@1.0.0', retryable: false }
    drive({ type: 'desired', desired: desired(2, M1, { reason }, 0), now: NOW })
    drive({ type: 'downloaded', job: 2, now: NOW })
    drive({ type: 'verified', job: 2, now: NOW })
    expect(drive({ type: 'loaded', job: 2, slot: 'b', record: record(M1) })).toContainEqual({
      type: 'self-test',
      job: 2,
      slot: 'b',
      checkLatency: false,
    })
    const effects = drive({ type: 'self-tested', job: 2, now: NOW })
    expect(effects.map((e) => e.type)).not.toContain('arm-trial')
    expect([s.phase, s.trial, s.active, s.standby, s.generation]).toEqual(['active', null, 'b', 'previous', 2])
  })

  it('is pure: a step never changes the state it is given', () => {
    const s = initialState()
    const frozen = JSON.stringify(s)
    step(s, { type: 'desired', desired: desired(1, M1), now: NOW })
    expect(JSON.stringify(s)).toBe(frozen)
  })
})
