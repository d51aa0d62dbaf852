/** @liquid-edge/agent — the device runtime. Drivers implement the ports declared here. */
export {
  systemClock,
  type SlotName,
  type ModelImage,
  type InferenceResult,
  type SensorReadings,
  type SelfTestResult,
  type DeviceDriver,
  type Clock,
} from './ports.js'
