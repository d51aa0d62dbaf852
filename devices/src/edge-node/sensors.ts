import { readdir, readFile, statfs } from 'node:fs/promises'
import { freemem, totalmem } from 'node:os'
import { join } from 'node:path'

/** Where Linux exposes power and temperature; overridable so tests can point at a fake sysfs. */
export interface SysfsPaths {
  /** @defaultValue '/sys/class/powercap' */
  powercapRoot: string
  /** @defaultValue '/sys/class/thermal' */
  thermalRoot: string
}

async function readNumber(path: string): Promise<number | null> {
  try {
    const value = Number((await readFile(path, 'utf8')).trim())
    return Number.isFinite(value) ? value : null
  } catch {
    return null
  }
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch {
    return []
  }
}

interface RaplZone {
  energyPath: string
  rangeUj: number
}

/**
 * Package energy from Linux RAPL (powercap `intel-rapl:N` zones; sub-zones such as `:N:M` are
 * inside their package and not added again). Power is the energy difference between two readings.
 */
export class RaplMeter {
  readonly #zones: RaplZone[]
  #last: { uj: number[]; at: number } | null = null

  private constructor(zones: RaplZone[]) {
    this.#zones = zones
  }

  static async open(root: string): Promise<RaplMeter | null> {
    const zones: RaplZone[] = []
    for (const name of (await list(root)).filter((n) => /^intel-rapl:\d+$/.test(n)).sort()) {
      const energyPath = join(root, name, 'energy_uj')
      if ((await readNumber(energyPath)) === null) continue
      zones.push({ energyPath, rangeUj: (await readNumber(join(root, name, 'max_energy_range_uj'))) ?? 2 ** 32 })
    }
    if (zones.length === 0) return null
    const meter = new RaplMeter(zones)
    await meter.powerMw(performance.now())
    return meter
  }

  /** Average power since the previous call, mW (`null` on the first call or when a counter vanished). */
  async powerMw(now: number): Promise<number | null> {
    const uj: number[] = []
    for (const zone of this.#zones) {
      const value = await readNumber(zone.energyPath)
      if (value === null) return null
      uj.push(value)
    }
    const last = this.#last
    this.#last = { uj, at: now }
    if (last === null || now <= last.at) return null
    let total = 0
    uj.forEach((v, i) => {
      const before = last.uj[i] ?? v
      const range = this.#zones[i]?.rangeUj ?? 2 ** 32
      total += v >= before ? v - before : v + range - before // the counter wrapped
    })
    return Math.round((total / (now - last.at)) * 10) / 10 // µJ per ms = mW
  }
}

/** The hottest thermal zone, °C (`null` when the machine exposes none). */
export async function readTemperatureC(root: string): Promise<number | null> {
  let hottest: number | null = null
  for (const name of (await list(root)).filter((n) => n.startsWith('thermal_zone'))) {
    const milli = await readNumber(join(root, name, 'temp'))
    if (milli !== null && milli > -273_150) hottest = Math.max(hottest ?? -Infinity, milli / 1000)
  }
  return hottest
}

/** System memory in use and total. */
export function readMemory(): { usedBytes: number; totalBytes: number } {
  const total = totalmem()
  return { usedBytes: total - freemem(), totalBytes: total }
}

/** Free and total bytes of the file system holding `dir` (`null` when it cannot be read). */
export async function readStorage(dir: string): Promise<{ freeBytes: number; totalBytes: number } | null> {
  try {
    const s = await statfs(dir)
    return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize }
  } catch {
    return null
  }
}
