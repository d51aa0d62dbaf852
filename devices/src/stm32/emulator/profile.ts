/**
 * Hardware profiles of emulated MCUs. Sizes follow the STM32H743's datasheet class (2 MiB flash,
 * 1 MiB RAM, 480 MHz Cortex-M7); the timing and power figures are modelling assumptions, not
 * measurements — tune them per board.
 */
export interface Stm32Profile {
  hardware: string
  firmware: string
  cpuHz: number
  flashBytes: number
  ramBytes: number
  /** Bytes of each of the two model slots. */
  slotBytes: number
  /** Largest frame payload the firmware accepts. */
  maxPayload: number
  /** RAM the firmware itself uses, bytes. */
  firmwareRamBytes: number
  /** Inference arena as a fraction of the model size (activations, scratch). */
  arenaPerModelByte: number
  timing: {
    /** Flash programming rate, bytes per ms. */
    flashWriteBytesPerMs: number
    /** Erasing one sector, ms; a fresh transfer erases the sectors it needs. */
    sectorEraseMs: number
    sectorBytes: number
    /** Software SHA-256 over flash, bytes per ms. */
    hashBytesPerMs: number
    inferFixedCycles: number
    inferCyclesPerModelByte: number
  }
  power: { idleMw: number; activeMw: number; flashWriteMw: number }
  thermal: { ambientC: number; cPerW: number }
}

export const STM32H743: Stm32Profile = Object.freeze({
  hardware: 'stm32h743',
  firmware: 'lln-emu-1.0.0',
  cpuHz: 480_000_000,
  flashBytes: 2 * 1024 * 1024,
  ramBytes: 1024 * 1024,
  slotBytes: 768 * 1024,
  maxPayload: 4096,
  firmwareRamBytes: 96 * 1024,
  arenaPerModelByte: 0.5,
  timing: {
    flashWriteBytesPerMs: 1024,
    sectorEraseMs: 20,
    sectorBytes: 128 * 1024,
    hashBytesPerMs: 8 * 1024,
    inferFixedCycles: 40_000,
    inferCyclesPerModelByte: 16,
  },
  power: { idleMw: 120, activeMw: 380, flashWriteMw: 250 },
  thermal: { ambientC: 25, cPerW: 40 },
})

export const PROFILES: Readonly<Record<string, Stm32Profile>> = Object.freeze({ stm32h743: STM32H743 })
