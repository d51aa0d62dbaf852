import type { KeyObject } from 'node:crypto'
import type { PackageManifestInput } from '@liquid-edge/protocol'
import { packModel, type PackedModel } from '../onnx/pack.js'
import { HARDWARE_PROFILES, modelLatencyMs, type HardwareProfileName } from '../simulated/profiles.js'
import { buildCfcModel, cfcMacs, type CfcSpec } from './cfc.js'
import { evaluationSet, releaseBudget, vectors } from './cfc-package.js'

type Shape = Omit<CfcSpec, 'seed' | 'dt'>

/** Reference sizes of the CfC network (bench and tests use them; `large` is worker-thread territory). */
export const REFERENCE_MODELS = {
  nano: { features: 4, steps: 1, hidden: 8, classes: 3 },
  tiny: { features: 4, steps: 4, hidden: 8, classes: 3 },
  small: { features: 8, steps: 8, hidden: 16, classes: 4 },
  medium: { features: 16, steps: 16, hidden: 64, classes: 8 },
  large: { features: 32, steps: 64, hidden: 256, classes: 10 },
} as const satisfies Record<string, Shape>
export type ReferenceModelSize = keyof typeof REFERENCE_MODELS

export const DEMO_MODEL_NAME = 'cfc-sense'

/**
 * The demo models: one input of 64 values (a window of sensor samples), 4 class scores.
 * v1 and v2 are the same network with different weights; v3 reads the window as 16 steps of 4
 * values with a hidden size of 96 — ~50× the compute: slower, and hotter on small boards.
 */
export const DEMO_VERSIONS = [
  {
    version: '1.0.0',
    shape: { features: 8, steps: 8, hidden: 16, classes: 4 },
    description: 'v1: CfC liquid network, 8×8 window, 16 units',
  },
  { version: '1.1.0', shape: { features: 8, steps: 8, hidden: 16, classes: 4 }, description: 'v2: retrained v1 (new weights, same size)' },
  {
    version: '2.0.0',
    shape: { features: 4, steps: 16, hidden: 96, classes: 4 },
    description: 'v3: 16 steps, 96 units: slower and hotter (rollback demos)',
  },
] as const satisfies readonly { version: string; shape: Shape; description: string }[]

export interface DemoOptions {
  privateKey: KeyObject
  /** @defaultValue 1 */
  seed?: number
  /**
   * Hardware the latency thresholds and energy budgets are set for. With several, each budget
   * fits them all (the slowest latency, the hungriest power): one package serves a mixed fleet.
   * @defaultValue 'stm32h743'
   */
  profile?: HardwareProfileName | readonly HardwareProfileName[]
  /** Inferences per second the budgets assume (the `simulate` workload default). @defaultValue 5 */
  ratePerS?: number
  /**
   * Budgets of further hardware classes that have no simulated profile (e.g. `python-host`, a
   * device written in Python), added to every version. @defaultValue none
   */
  budgets?: NonNullable<PackageManifestInput['budgets']>
}

export interface DemoPackage extends PackedModel {
  fileName: string
  spec: CfcSpec
}

type Budgets = { latencyThresholdMs: number; energyBudgetMw: number }[]

/**
 * Latency thresholds and energy budgets of the demo versions that fit every one of `profiles` (the
 * defaults, for a device of a class the package does not list).
 */
export function demoBudgets(profiles: HardwareProfileName | readonly HardwareProfileName[], ratePerS: number): Budgets {
  const each = profileList(profiles).map((p) => profileBudgets(p, ratePerS))
  return DEMO_VERSIONS.map((_, i) => ({
    latencyThresholdMs: Math.max(...each.map((b) => b[i]?.latencyThresholdMs ?? 0)),
    energyBudgetMw: Math.max(...each.map((b) => b[i]?.energyBudgetMw ?? 0)),
  }))
}

function profileList(profiles: HardwareProfileName | readonly HardwareProfileName[]): readonly HardwareProfileName[] {
  return typeof profiles === 'string' ? [profiles] : profiles
}

/** Each profile's own budgets of version `i`: every hardware class is judged against its own. */
function classBudgets(profiles: readonly HardwareProfileName[], ratePerS: number, i: number): NonNullable<PackageManifestInput['budgets']> {
  return Object.fromEntries(profiles.map((p) => [p, profileBudgets(p, ratePerS)[i] ?? {}]))
}

/** Latency thresholds and energy budgets of the demo versions on a profile (see README: budgets). */
function profileBudgets(profileName: HardwareProfileName, ratePerS: number): Budgets {
  const profile = HARDWARE_PROFILES[profileName]
  const latencies = DEMO_VERSIONS.map((v) => modelLatencyMs(profile, cfcMacs({ ...v.shape, seed: 0 })))
  // v1 and v2 are ordinary releases; v3 keeps v2's energy budget (it is over it: rollback demos).
  const v2 = releaseBudget(profileName, latencies[1] ?? 0, ratePerS)
  return latencies.map((ms, i) => (i < 2 ? v2 : { ...v2, latencyThresholdMs: Math.max(1, Math.ceil(1.6 * ms)) }))
}

/** The signed demo packages v1, v2, v3, deterministic from the seed and the key. */
export async function buildDemoPackages(options: DemoOptions): Promise<DemoPackage[]> {
  const seed = options.seed ?? 1
  const profiles = profileList(options.profile ?? 'stm32h743')
  const budgets = demoBudgets(profiles, options.ratePerS ?? 5)
  const out: DemoPackage[] = []
  for (const [i, v] of DEMO_VERSIONS.entries()) {
    const spec: CfcSpec = { ...v.shape, seed: seed * 1000 + i }
    const inputLength = spec.steps * spec.features
    const packed = await packModel({
      model: buildCfcModel(spec, `${DEMO_MODEL_NAME}-${v.version}`),
      name: DEMO_MODEL_NAME,
      version: v.version,
      description: v.description,
      latencyThresholdMs: budgets[i]?.latencyThresholdMs ?? 10,
      energyBudgetMw: budgets[i]?.energyBudgetMw ?? null,
      budgets: { ...classBudgets(profiles, options.ratePerS ?? 5, i), ...options.budgets },
      goldenInputs: vectors(4, inputLength, seed * 7919 + i),
      evaluation: evaluationSet(spec, seed * 31 + i),
      createdAt: Date.UTC(2026, 0, 1 + i),
      privateKey: options.privateKey,
    })
    out.push({ ...packed, fileName: `${DEMO_MODEL_NAME}-${v.version}.liquid`, spec })
  }
  return out
}
