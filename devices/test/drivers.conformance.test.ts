import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEdgeNodeDriver, createSimulatedDriver } from '@liquid-edge/devices'
import { runDeviceDriverConformance } from './conformance.js'

const empty = mkdtempSync(join(tmpdir(), 'lln-sysfs-'))

runDeviceDriverConformance('edge-node', () => createEdgeNodeDriver({ powercapRoot: empty, thermalRoot: empty }))
runDeviceDriverConformance('edge-node (worker thread)', () => createEdgeNodeDriver({ worker: 'always' }))
runDeviceDriverConformance('simulated stm32h743 (timing model)', () => createSimulatedDriver({ profile: 'stm32h743', seed: 3 }))
runDeviceDriverConformance('simulated x86-edge (real onnxruntime)', () => createSimulatedDriver({ profile: 'x86-edge', inference: 'real' }))
