import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { buildCfcModel, createEdgeNodeDriver, packModel, REFERENCE_MODELS } from '@liquid-edge/devices'
import { generateSigningKeys, loadPrivateKey } from '@liquid-edge/package'
import { conformanceModels } from './conformance.js'

/** A fake sysfs with one RAPL package (and its sub-zone) and two thermal zones. */
function fakeSysfs(): { powercap: string; thermal: string; setEnergy(uj: number): void } {
  const root = mkdtempSync(join(tmpdir(), 'lln-sysfs-'))
  const powercap = join(root, 'powercap')
  const thermal = join(root, 'thermal')
  for (const zone of ['intel-rapl:0', 'intel-rapl:0:0']) {
    mkdirSync(join(powercap, zone), { recursive: true })
    writeFileSync(join(powercap, zone, 'max_energy_range_uj'), '262143328850\n')
    writeFileSync(join(powercap, zone, 'energy_uj'), '1000\n')
  }
  for (const [zone, milli] of [
    ['thermal_zone0', '41000'],
    ['thermal_zone1', '55500'],
  ] as const) {
    mkdirSync(join(thermal, zone), { recursive: true })
    writeFileSync(join(thermal, zone, 'temp'), `${milli}\n`)
  }
  return {
    powercap,
    thermal,
    setEnergy: (uj) => {
      writeFileSync(join(powercap, 'intel-rapl:0', 'energy_uj'), `${uj}\n`)
    },
  }
}

describe('edge-node driver', () => {
  it('reads power from RAPL energy counters and the hottest thermal zone when the machine has them', async () => {
    const sys = fakeSysfs()
    const d = await createEdgeNodeDriver({ powercapRoot: sys.powercap, thermalRoot: sys.thermal })
    sys.setEnergy(1000 + 5_000_000) // 5 J since the driver opened
    const s = await d.readSensors()
    expect(s.temperatureC).toBe(55.5)
    expect(s.powerMw).toBeGreaterThan(0)
    await d.close()
  })

  it('reports power and temperature as unknown (null) when the machine has no sensors', async () => {
    const none = mkdtempSync(join(tmpdir(), 'lln-sysfs-'))
    const d = await createEdgeNodeDriver({ powercapRoot: none, thermalRoot: join(none, 'missing') })
    const s = await d.readSensors()
    expect(s.powerMw).toBeNull()
    expect(s.temperatureC).toBeNull()
    expect(s.memory?.totalBytes).toBeGreaterThan(0)
    expect(s.storage?.totalBytes).toBeGreaterThan(0)
    const [model] = await conformanceModels()
    await d.load('a', model)
    await d.activate('a')
    expect((await d.infer(Float32Array.from(model.manifest.golden[0]!.input))).energyMj).toBeNull()
    await d.close()
  })

  it('keeps a small model inline and moves one slower than the threshold to a worker thread', async () => {
    const [small] = await conformanceModels()
    const privateKey = loadPrivateKey(generateSigningKeys().privateKeyPem)
    const spec = { ...REFERENCE_MODELS.large, seed: 1 }
    const bigModel = buildCfcModel(spec)
    const big = await packModel({
      model: bigModel,
      name: 'large',
      version: '1.0.0',
      latencyThresholdMs: 100,
      goldenInputs: [new Float32Array(spec.steps * spec.features).fill(0.1)],
      privateKey,
    })
    const d = await createEdgeNodeDriver({ workerThresholdMs: 0.5 })
    await d.load('a', small)
    await d.load('b', { manifest: big.manifest, model: bigModel })
    expect(d.inWorker('a')).toBe(false)
    expect(d.inWorker('b')).toBe(true)
    const results = await Promise.all(Array.from({ length: 8 }, () => d.infer(Float32Array.from(big.manifest.golden[0]!.input), 'b')))
    results.forEach((r) => {
      big.manifest.golden[0]!.output.forEach((v, i) => {
        expect(Math.abs(r.output[i]! - v)).toBeLessThan(1e-4)
      })
    })
    await d.close()
  })
})
