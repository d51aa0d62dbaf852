/**
 * @liquid-edge/devices — what implements the agent's ports: the edge-node driver (onnxruntime-node),
 * the simulated device (hardware profiles, fault injection), ONNX packing (`packModel`) and the
 * reference liquid (CfC) models. The `liquid-agent` executable lives in `src/bin/`.
 */
export { runConfig, simulateConfig, RunConfigSchema, SimulateConfigSchema, type RunConfig, type SimulateConfig } from './config.js'
export { packModel, checkGolden, runModel, type PackOptions, type PackedModel } from './onnx/pack.js'
export {
  buildCfcModel,
  cfcReference,
  cfcWeights,
  cfcShapes,
  cfcMacs,
  estimateMacs,
  seededRandom,
  type CfcSpec,
  type CfcWeights,
} from './models/cfc.js'
export {
  REFERENCE_MODELS,
  DEMO_MODEL_NAME,
  DEMO_VERSIONS,
  buildDemoPackages,
  demoBudgets,
  type ReferenceModelSize,
  type DemoOptions,
  type DemoPackage,
} from './models/demo.js'
export { writeDemoPackages, DemoIndexSchema, type DemoIndex } from './models/demo-files.js'
export { SESSION_OPTIONS, openOnnxModel, type OnnxModel } from './onnx/session.js'
export { WorkerModel } from './onnx/worker-model.js'
export { EdgeNodeDriver, createEdgeNodeDriver, DEFAULT_WORKER_THRESHOLD_MS, type EdgeNodeDriverOptions } from './edge-node/driver.js'
export {
  SIMULATED_INFERENCE,
  SimulatedDriver,
  createSimulatedDriver,
  type SimulatedDriverOptions,
  type SimulatedInference,
} from './simulated/driver.js'
export {
  Faults,
  FaultSettingsSchema,
  FAULT_NAMES,
  NO_FAULTS,
  hashSeed,
  type FaultSettings,
  type FaultSettingsInput,
  type FaultEvents,
} from './simulated/faults.js'
export {
  HARDWARE_PROFILES,
  HARDWARE_PROFILE_NAMES,
  modelLatencyMs,
  averagePowerMw,
  modelRamBytes,
  type HardwareProfile,
  type HardwareProfileName,
} from './simulated/profiles.js'
export {
  SimulatedFleet,
  createSimulatedFleet,
  fleetDeviceIds,
  type SimulatedFleetOptions,
  type FleetStats,
  type FleetEvents,
  type DeviceSelection,
} from './fleet/fleet.js'
export { FleetDevice } from './fleet/fleet-device.js'
export { LinkProxy, connectClientId } from './fleet/link-proxy.js'
export { FLEET_RECONNECT, FLEET_RECONNECT_GRACE_MS, LiteMqttHub, type LiteMqttOptions } from './fleet/lite-mqtt.js'
export { SharedBlobs } from './fleet/shared-blobs.js'
export { corruptingFetcher } from './fleet/corrupting-fetcher.js'
export {
  Stm32Driver,
  createStm32Driver,
  Stm32Emulator,
  STM32H743,
  attachEmulator,
  openMockPort,
  exposeOnPty,
  openPty,
  createStm32Gateway,
  Stm32Gateway,
  registerStm32Commands,
  gatewayCommand,
  emulateStm32Command,
  startPtyEmulators,
  EmulatedLine,
  slotImageOf,
  type Stm32DriverOptions,
  type Stm32EmulatorOptions,
  type Stm32Profile,
  type EmulatedPort,
  type LineOptions,
  type Stm32GatewayOptions,
} from './stm32/index.js'
