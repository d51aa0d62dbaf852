import type { KeyObject } from 'node:crypto'
import type { PackageManifestInput } from '@liquid-edge/protocol'
import { packModel, type PackedModel } from '../onnx/pack.js'
import {
  averagePowerMw,
  HARDWARE_PROFILES,
  HARDWARE_PROFILE_NAMES,
  modelLatencyMs,
  type HardwareProfileName,
} from '../simulated/profiles.js'
import { buildCfcModel, cfcMacs, cfcReference, seededRandom, type CfcSpec } from './cfc.js'

/** A latency threshold and an energy budget. */
export interface Budget {
  latencyThresholdMs: number
  energyBudgetMw: number
}

/**
 * The budgets of an ordinary release of a model that takes `latencyMs` on a profile: 4× its latency
 * (to the next 0.5 ms, at least 1 ms), and up to 3× its dynamic power at `ratePerS` (at least 2 % duty).
 */
export function releaseBudget(profileName: HardwareProfileName, latencyMs: number, ratePerS: number): Budget {
  const profile = HARDWARE_PROFILES[profileName]
  const duty = Math.max(3 * Math.min(1, (latencyMs * ratePerS) / 1000), 0.02)
  const energyBudgetMw = Math.ceil(profile.idleMw + (profile.activeMw - profile.idleMw) * duty)
  return {
    latencyThresholdMs: Math.max(1, Math.ceil(4 * latencyMs * 2) / 2),
    energyBudgetMw: Math.max(energyBudgetMw, Math.ceil(averagePowerMw(profile, latencyMs, ratePerS))),
  }
}

/** Seeded vectors in [-1, 1], 4 decimals. */
export function vectors(count: number, length: number, seed: number): number[][] {
  const random = seededRandom(seed)
  return Array.from({ length: count }, () => Array.from({ length }, () => Math.round((random() * 2 - 1) * 1e4) / 1e4))
}

/** 32 labelled samples: the reference network's class, one label in ten changed (accuracy ≈ 0.9, minimum 0.75). */
export function evaluationSet(spec: CfcSpec, seed: number): NonNullable<PackageManifestInput['evaluation']> {
  const random = seededRandom(seed ^ 0x5eed)
  const samples = vectors(32, spec.steps * spec.features, seed + 17).map((input) => {
    const y = cfcReference(spec, input)
    let label = y.indexOf(Math.max(...y))
    if (random() < 0.1) label = (label + 1) % spec.classes
    return { input, label }
  })
  return { name: 'demo-holdout', minAccuracy: 0.75, samples }
}

export interface CfcPackageOptions {
  spec: CfcSpec
  name: string
  version: string
  description?: string
  privateKey: KeyObject
  /** Hardware classes the package carries budgets for. @defaultValue every simulated profile */
  profiles?: readonly HardwareProfileName[]
  /** Inferences per second the energy budgets assume. @defaultValue 5 */
  ratePerS?: number
  createdAt?: number
}

/**
 * A signed `.liquid` package of a reference CfC network: budgets per hardware class (each class's
 * own, the defaults fit them all), four golden vectors and a labelled evaluation set.
 */
export function packCfc(o: CfcPackageOptions): Promise<PackedModel> {
  const profiles = o.profiles ?? HARDWARE_PROFILE_NAMES
  const rate = o.ratePerS ?? 5
  const macs = cfcMacs(o.spec)
  const each = profiles.map((p) => [p, releaseBudget(p, modelLatencyMs(HARDWARE_PROFILES[p], macs), rate)] as const)
  const { features: f, steps: t, hidden: h, classes: c } = o.spec
  return packModel({
    model: buildCfcModel(o.spec, `${o.name}-${o.version}`),
    name: o.name,
    version: o.version,
    description: o.description ?? `CfC liquid network, ${t} steps of ${f} values, ${h} units, ${c} classes`,
    latencyThresholdMs: Math.max(...each.map(([, b]) => b.latencyThresholdMs)),
    energyBudgetMw: Math.max(...each.map(([, b]) => b.energyBudgetMw)),
    budgets: Object.fromEntries(each),
    goldenInputs: vectors(4, f * t, o.spec.seed * 7919),
    evaluation: evaluationSet(o.spec, o.spec.seed * 31),
    ...(o.createdAt === undefined ? {} : { createdAt: o.createdAt }),
    privateKey: o.privateKey,
  })
}
