/**
 * Hardware profiles of the simulated device: how long a model takes (by its multiply-accumulate
 * count), how much power the board draws idle and busy, how it heats, and what fits in it.
 * Figures are order-of-magnitude models of the boards, not measurements of them.
 */
export interface HardwareProfile {
  /** Profile name, reported as the device's hardware label. */
  name: string
  description: string
  /** Effective float32 multiply-accumulates per ms for small recurrent models. */
  macsPerMs: number
  /** Fixed per-inference cost (call, copy, dispatch), ms. */
  overheadMs: number
  /** Log-normal spread of latency (sigma of ln); 0 = constant. */
  jitterSigma: number
  /** Board power when idle and when inferring, mW. */
  idleMw: number
  activeMw: number
  memory: { totalBytes: number; baseUsedBytes: number }
  /** Model storage: total bytes for both slots, and the largest model one slot holds. */
  storage: { totalBytes: number; slotBytes: number }
  thermal: {
    ambientC: number
    /** Steady-state rise per watt, °C/W. */
    cPerW: number
    /** Time constant of the first-order thermal model, ms. */
    tauMs: number
    /** Above this the clock is throttled: latency × `throttleFactor`. */
    throttleC: number
    throttleFactor: number
  }
}

const KIB = 1024
const MIB = 1024 * KIB
const GIB = 1024 * MIB

export const HARDWARE_PROFILES = {
  /** STM32H743: Cortex-M7 at 480 MHz, 1 MiB RAM, 2 MiB flash (two 896 KiB model slots). */
  stm32h743: {
    name: 'stm32h743',
    description: 'STM32H743 microcontroller (Cortex-M7 480 MHz, 1 MiB RAM, 2 MiB flash)',
    macsPerMs: 20_000,
    overheadMs: 0.05,
    jitterSigma: 0.05,
    idleMw: 30,
    activeMw: 300,
    memory: { totalBytes: 1 * MIB, baseUsedBytes: 160 * KIB },
    storage: { totalBytes: 1792 * KIB, slotBytes: 896 * KIB },
    thermal: { ambientC: 25, cPerW: 40, tauMs: 30_000, throttleC: 85, throttleFactor: 2 },
  },
  /** A Cortex-A53 Linux edge node (Raspberry Pi 3 class). */
  'cortex-a53': {
    name: 'cortex-a53',
    description: 'Cortex-A53 Linux edge node (4 × 1.2 GHz, 1 GiB RAM, 8 GiB storage)',
    macsPerMs: 400_000,
    overheadMs: 0.03,
    jitterSigma: 0.1,
    idleMw: 1_400,
    activeMw: 3_700,
    memory: { totalBytes: 1 * GIB, baseUsedBytes: 180 * MIB },
    storage: { totalBytes: 8 * GIB, slotBytes: 1 * GIB },
    thermal: { ambientC: 25, cPerW: 12, tauMs: 60_000, throttleC: 80, throttleFactor: 1.6 },
  },
  /** An x86-64 edge node (small fan-less PC). */
  'x86-edge': {
    name: 'x86-edge',
    description: 'x86-64 edge node (4 cores, 8 GiB RAM, 64 GiB storage)',
    macsPerMs: 4_000_000,
    overheadMs: 0.015,
    jitterSigma: 0.12,
    idleMw: 6_000,
    activeMw: 15_000,
    memory: { totalBytes: 8 * GIB, baseUsedBytes: 900 * MIB },
    storage: { totalBytes: 64 * GIB, slotBytes: 8 * GIB },
    thermal: { ambientC: 25, cPerW: 2.5, tauMs: 120_000, throttleC: 95, throttleFactor: 1.4 },
  },
} as const satisfies Record<string, HardwareProfile>

export type HardwareProfileName = keyof typeof HARDWARE_PROFILES
export const HARDWARE_PROFILE_NAMES = Object.keys(HARDWARE_PROFILES) as [HardwareProfileName, ...HardwareProfileName[]]

/** Median latency of a model of `macs` multiply-accumulates on a profile, before jitter and throttling, ms. */
export function modelLatencyMs(profile: HardwareProfile, macs: number): number {
  return profile.overheadMs + macs / profile.macsPerMs
}

/** Average power, mW, of a profile running `ratePerS` inferences per second of `latencyMs` each. */
export function averagePowerMw(profile: HardwareProfile, latencyMs: number, ratePerS: number): number {
  const duty = Math.min(1, (latencyMs * ratePerS) / 1000)
  return profile.idleMw + (profile.activeMw - profile.idleMw) * duty
}

/** RAM a loaded model needs: its weights plus working memory, as a small runtime would allocate. */
export function modelRamBytes(modelBytes: number): number {
  return Math.ceil(modelBytes * 1.25) + 16 * KIB
}
