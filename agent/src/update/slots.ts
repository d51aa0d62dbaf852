import { parsePackage, sha256Hex, type ModelPackage } from '@liquid-edge/package'
import {
  FleetError,
  budgetFor,
  isFleetError,
  renderReason,
  toErrorPayload,
  type PackageManifest,
  type ReasonCode,
  type ReasonValues,
} from '@liquid-edge/protocol'
import type { AgentInternals } from '../internals.js'
import type { SlotName } from '../ports.js'

/** The state-store name of a slot's package (kept so that the slot can be restored after a restart). */
export function slotFile(slot: SlotName): string {
  return `slot-${slot}.liquid`
}

/**
 * Stage a verified package into `slot`: forget the slot first (persisted), write the package file
 * atomically, load it into the driver, then record it. A crash in between leaves the slot empty,
 * never half-recorded.
 * @throws {FleetError} `AGENT_LOAD_FAILED`, `AGENT_DISK_FULL`
 */
export async function stageSlot(ai: AgentInternals, slot: SlotName, bytes: Uint8Array, pkg: ModelPackage, sha256: string): Promise<void> {
  const s = ai.state
  s.slots[slot] = null
  ai.manifests[slot] = null
  if (s.active !== slot && s.standby !== null) s.standby = null
  await ai.commit()
  await ai.store.write(slotFile(slot), bytes)
  try {
    await ai.driver.load(slot, { manifest: pkg.manifest, model: pkg.model })
  } catch (err) {
    throw new FleetError('AGENT_LOAD_FAILED', `the driver could not load ${pkg.manifest.name}@${pkg.manifest.version}`, {
      cause: err,
      details: { driverError: toErrorPayload(err, 'DEVICE_INFERENCE_FAILED') },
    })
  }
  ai.manifests[slot] = pkg.manifest
  s.slots[slot] = { name: pkg.manifest.name, version: pkg.manifest.version, sha256, size: bytes.byteLength }
}

/** Unload a slot, delete its package and forget it. Returns the bytes freed. */
export async function freeSlot(ai: AgentInternals, slot: SlotName): Promise<number> {
  const rec = ai.state.slots[slot]
  await ai.driver.unload(slot).catch((err: unknown) => {
    ai.log.write('warn', 'slot unload failed', { slot, err })
  })
  ai.state.slots[slot] = null
  ai.manifests[slot] = null
  if (ai.state.active !== slot) ai.state.standby = null
  await ai.store.remove?.(slotFile(slot))
  return rec?.size ?? 0
}

/** At start: load every recorded slot from its package file; a missing or corrupt file empties the slot. */
export async function restoreSlots(ai: AgentInternals): Promise<void> {
  for (const slot of ['a', 'b'] as const) {
    const rec = ai.state.slots[slot]
    if (rec === null) continue
    try {
      const bytes = await ai.store.read(slotFile(slot))
      if (bytes === null) throw new FleetError('PACKAGE_TRUNCATED', 'the slot package file is missing')
      if (sha256Hex(bytes) !== rec.sha256) throw new FleetError('PACKAGE_SHA256_MISMATCH', 'the slot file does not match its record')
      const parsed = parsePackage(bytes)
      if (!parsed.ok) throw new FleetError(parsed.code, parsed.message)
      await ai.driver.load(slot, { manifest: parsed.package.manifest, model: parsed.package.model })
      ai.manifests[slot] = parsed.package.manifest
    } catch (err) {
      ai.log.write('error', 'slot could not be restored', { slot, model: `${rec.name}@${rec.version}`, err })
      ai.state.slots[slot] = null
      if (ai.state.active === slot) ai.state.active = null
      else ai.state.standby = null
    }
  }
}

export interface GoldenCheck {
  passed: boolean
  /** Why: a `CHECK_` reason code, with its values; `detail` is the sentence rendered from them. */
  code: ReasonCode
  values: ReasonValues
  maxAbsError: number
  maxLatencyMs: number
  detail: string
}

function golden(passed: boolean, code: ReasonCode, values: ReasonValues, maxAbsError: number, maxLatencyMs: number): GoldenCheck {
  return { passed, code, values, maxAbsError, maxLatencyMs, detail: renderReason(code, values) }
}

/**
 * Run the manifest's golden vectors on `slot`: outputs within tolerance, and — unless
 * `latencyThresholdMs` is null — the slowest under that threshold (the package's by default).
 */
export async function runGolden(
  ai: AgentInternals,
  slot: SlotName,
  manifest: PackageManifest,
  latencyThresholdMs: number | null = manifest.latencyThresholdMs,
): Promise<GoldenCheck> {
  let maxAbsError = 0
  let maxLatencyMs = 0
  for (const [index, g] of manifest.golden.entries()) {
    let result
    try {
      result = await ai.probe(Float32Array.from(g.input), slot)
    } catch (err) {
      const error = isFleetError(err) ? err.code : 'AGENT_INTERNAL'
      return golden(false, 'CHECK_GOLDEN_FAILED', { index, error }, maxAbsError, maxLatencyMs)
    }
    if (result.output.length !== g.output.length) {
      const values = { index, values: result.output.length, expected: g.output.length }
      return golden(false, 'CHECK_GOLDEN_SHAPE', values, maxAbsError, maxLatencyMs)
    }
    g.output.forEach((want, j) => {
      const got = result.output[j]
      const diff = got === undefined || Number.isNaN(got) ? Infinity : Math.abs(got - want)
      maxAbsError = Math.max(maxAbsError, diff)
    })
    maxLatencyMs = Math.max(maxLatencyMs, result.latencyMs)
  }
  const tolerance = manifest.tolerance
  if (maxAbsError > tolerance) return golden(false, 'CHECK_GOLDEN_MISMATCH', { maxAbsError, tolerance }, maxAbsError, maxLatencyMs)
  if (latencyThresholdMs !== null && maxLatencyMs > latencyThresholdMs) {
    const values = { latencyMs: maxLatencyMs, thresholdMs: latencyThresholdMs }
    return golden(false, 'CHECK_GOLDEN_SLOW', values, maxAbsError, maxLatencyMs)
  }
  const values = { check: 'golden', observed: maxAbsError, threshold: tolerance }
  return golden(true, 'CHECK_PASSED', values, maxAbsError, maxLatencyMs)
}

/**
 * Hardware self-test plus golden vectors. With `checkLatency: false` only the outputs are judged
 * (a return to a model this device already confirmed). @throws {FleetError} `AGENT_SELF_TEST_FAILED`
 */
export async function selfTest(
  ai: AgentInternals,
  slot: SlotName,
  manifest: PackageManifest,
  options: { checkLatency?: boolean } = {},
): Promise<void> {
  let hw
  try {
    hw = await ai.driver.selfTest()
  } catch (err) {
    hw = { ok: false, detail: isFleetError(err) ? err.message : String(err) }
  }
  if (!hw.ok) throw new FleetError('AGENT_SELF_TEST_FAILED', `hardware self-test failed: ${hw.detail ?? 'no detail'}`)
  // The golden latency is judged against the threshold of this device's own hardware class.
  const threshold = budgetFor(manifest, ai.driver.hardware).latencyThresholdMs
  const check = await runGolden(ai, slot, manifest, (options.checkLatency ?? true) ? threshold : null)
  if (!check.passed) {
    throw new FleetError('AGENT_SELF_TEST_FAILED', check.detail, {
      details: { reason: check.code, maxAbsError: check.maxAbsError, maxLatencyMs: check.maxLatencyMs },
    })
  }
  ai.log.write('debug', 'self-test passed', {
    slot,
    model: `${manifest.name}@${manifest.version}`,
    golden: manifest.golden.length,
    maxAbsError: check.maxAbsError,
    maxLatencyMs: check.maxLatencyMs,
    latencyThresholdMs: threshold,
  })
}
