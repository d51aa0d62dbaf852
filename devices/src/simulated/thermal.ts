import type { HardwareProfile } from './profiles.js'

/**
 * Power and a first-order thermal model of one board. Busy time (inference latency) is added as it
 * happens; power is idle + (active − idle) × duty cycle; the die temperature relaxes towards
 * ambient + °C/W × power with the profile's time constant.
 */
export class ThermalModel {
  readonly #profile: HardwareProfile
  #temperatureC: number
  #thermalAt: number
  #busyForThermalMs = 0
  #powerAt: number
  #busyForPowerMs = 0

  constructor(profile: HardwareProfile, now: number) {
    this.#profile = profile
    this.#temperatureC = profile.thermal.ambientC + (profile.thermal.cPerW * profile.idleMw) / 1000
    this.#thermalAt = now
    this.#powerAt = now
  }

  addBusy(ms: number): void {
    this.#busyForThermalMs += ms
    this.#busyForPowerMs += ms
  }

  #powerMw(busyMs: number, elapsedMs: number, energyFactor: number): number {
    const duty = elapsedMs <= 0 ? 0 : Math.min(1, busyMs / elapsedMs)
    const { idleMw, activeMw } = this.#profile
    return (idleMw + (activeMw - idleMw) * duty) * energyFactor
  }

  /** Die temperature at `now`, °C. */
  temperature(now: number, energyFactor: number): number {
    const elapsed = now - this.#thermalAt
    if (elapsed > 0) {
      const { ambientC, cPerW, tauMs } = this.#profile.thermal
      const steady = ambientC + (cPerW * this.#powerMw(this.#busyForThermalMs, elapsed, energyFactor)) / 1000
      this.#temperatureC += (steady - this.#temperatureC) * (1 - Math.exp(-elapsed / tauMs))
      this.#thermalAt = now
      this.#busyForThermalMs = 0
    }
    return this.#temperatureC
  }

  /** Average power since the previous call, mW; starts a new averaging window. */
  takeAveragePowerMw(now: number, energyFactor: number): number {
    const power = this.#powerMw(this.#busyForPowerMs, now - this.#powerAt, energyFactor)
    this.#powerAt = now
    this.#busyForPowerMs = 0
    return Math.round(power * 10) / 10
  }
}
