import { FleetError, isFleetError, parsePackage, toErrorPayload, type ModelPackage, type PackageManifest } from '@liquid-edge/protocol'
import type { AgentInternals } from '../internals.js'
import type { SlotName } from '../ports.js'
import { sha256Hex } from './verify-package.js'

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
      if (bytes === null) throw new FleetError('AGENT_PACKAGE_INVALID', 'slot package is missing')
      if (sha256Hex(bytes) !== rec.sha256) throw new FleetError('AGENT_PACKAGE_INVALID', 'slot file does not match its record')
      const parsed = parsePackage(bytes)
      if (!parsed.ok) throw new FleetError('AGENT_PACKAGE_INVALID', parsed.message)
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
  maxAbsError: number
  maxLatencyMs: number
  detail: string
}

/** Run the manifest's golden vectors on `slot`: outputs within tolerance, latency under the threshold. */
export async function runGolden(ai: AgentInternals, slot: SlotName, manifest: PackageManifest, checkLatency = true): Promise<GoldenCheck> {
  let maxAbsError = 0
  let maxLatencyMs = 0
  for (const [i, g] of manifest.golden.entries()) {
    let result
    try {
      result = await ai.probe(Float32Array.from(g.input), slot)
    } catch (err) {
      return { passed: false, maxAbsError, maxLatencyMs, detail: `golden vector ${i} failed: ${(err as Error).message}` }
    }
    if (result.output.length !== g.output.length) {
      return { passed: false, maxAbsError, maxLatencyMs, detail: `golden vector ${i}: output has ${result.output.length} values` }
    }
    g.output.forEach((want, j) => {
      const got = result.output[j]
      const diff = got === undefined || Number.isNaN(got) ? Infinity : Math.abs(got - want)
      maxAbsError = Math.max(maxAbsError, diff)
    })
    maxLatencyMs = Math.max(maxLatencyMs, result.latencyMs)
  }
  if (maxAbsError > manifest.tolerance) {
    return { passed: false, maxAbsError, maxLatencyMs, detail: `golden outputs off by ${maxAbsError} (tolerance ${manifest.tolerance})` }
  }
  if (checkLatency && maxLatencyMs > manifest.latencyThresholdMs) {
    return {
      passed: false,
      maxAbsError,
      maxLatencyMs,
      detail: `golden latency ${maxLatencyMs} ms over the ${manifest.latencyThresholdMs} ms threshold`,
    }
  }
  return { passed: true, maxAbsError, maxLatencyMs, detail: 'golden vectors passed' }
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
  const golden = await runGolden(ai, slot, manifest, options.checkLatency ?? true)
  if (!golden.passed) {
    throw new FleetError('AGENT_SELF_TEST_FAILED', golden.detail, {
      details: { maxAbsError: golden.maxAbsError, maxLatencyMs: golden.maxLatencyMs },
    })
  }
}
