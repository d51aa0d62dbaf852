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
import type { AgentLog } from '../log/agent-log.js'
import type { DeviceDriver, SlotName, StateStore } from '../ports.js'
import type { SlotRecord } from '../state/agent-state.js'

/** The state-store name of a slot's package (kept so that the slot can be restored after a restart). */
export function slotFile(slot: SlotName): string {
  return `slot-${slot}.liquid`
}

/** What the slot operations touch: the driver, the package files, and the manifests of the loaded slots. */
export interface SlotDevice {
  readonly driver: DeviceDriver
  readonly store: StateStore
  readonly log: AgentLog
  readonly manifests: Record<SlotName, PackageManifest | null>
}

/**
 * Write a verified package into `slot`'s file (atomically) and load it into the driver. The caller
 * forgot the slot first (persisted) and records it after: a crash in between leaves it empty.
 * @throws {FleetError} `AGENT_LOAD_FAILED`, `AGENT_DISK_FULL`
 */
export async function loadSlot(dev: SlotDevice, slot: SlotName, bytes: Uint8Array, pkg: ModelPackage): Promise<void> {
  dev.manifests[slot] = null
  await dev.store.write(slotFile(slot), bytes)
  try {
    await dev.driver.load(slot, { manifest: pkg.manifest, model: pkg.model })
  } catch (err) {
    throw new FleetError('AGENT_LOAD_FAILED', `the driver could not load ${pkg.manifest.name}@${pkg.manifest.version}`, {
      cause: err,
      details: { driverError: toErrorPayload(err, 'DEVICE_INFERENCE_FAILED') },
    })
  }
  dev.manifests[slot] = pkg.manifest
}

/** Unload a slot from the driver and delete its package (the state forgot it already). */
export async function unloadSlot(dev: SlotDevice, slot: SlotName): Promise<void> {
  await dev.driver.unload(slot).catch((err: unknown) => {
    dev.log.write('warn', 'slot unload failed', { slot, err })
  })
  dev.manifests[slot] = null
  await dev.store.remove?.(slotFile(slot))
}

/** At start: load a recorded slot from its package file. False when the file is missing or corrupt (logged). */
export async function restoreSlot(dev: SlotDevice, slot: SlotName, rec: SlotRecord): Promise<boolean> {
  try {
    const bytes = await dev.store.read(slotFile(slot))
    if (bytes === null) throw new FleetError('PACKAGE_TRUNCATED', 'the slot package file is missing')
    if (sha256Hex(bytes) !== rec.sha256) throw new FleetError('PACKAGE_SHA256_MISMATCH', 'the slot file does not match its record')
    const parsed = parsePackage(bytes)
    if (!parsed.ok) throw new FleetError(parsed.code, parsed.message)
    await dev.driver.load(slot, { manifest: parsed.package.manifest, model: parsed.package.model })
    dev.manifests[slot] = parsed.package.manifest
    return true
  } catch (err) {
    dev.log.write('error', 'slot could not be restored', { slot, model: `${rec.name}@${rec.version}`, err })
    return false
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
