import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEdgeNodeDriver, createSimulatedDriver } from '@liquid-edge/devices'
import { runDeviceDriverConformance } from './conformance.js'

const empty = mkdtempSync(join(tmpdir(), 'lln-sysfs-'))

runDeviceDriverConformance('edge-node', () => createEdgeNodeDriver({ powercapRoot: empty, thermalRoot: empty }))
runDeviceDriverConformance('edge-node (worker thread)', () => createEdgeNodeDriver({ worker: 'always' }))
runDeviceDriverConformance('simulated stm32h743', () => createSimulatedDriver({ profile: 'stm32h743', seed: 3 }))
runDeviceDriverConformance('simulated stm32h743 (echo-golden)', () =>
  createSimulatedDriver({ profile: 'stm32h743', inference: 'echo-golden' }),
)
runDeviceDriverConformance('simulated x86-edge', () => createSimulatedDriver({ profile: 'x86-edge' }))
