/** STM32 gateway support: serial protocol, link layer, driver, emulator (docs/serial-protocol.md). */
export { cobsEncode, cobsDecode } from './link/cobs.js'
export { crc32 } from './link/crc32.js'
export {
  FrameKind,
  FRAME_OVERHEAD,
  DEFAULT_MAX_PAYLOAD,
  encodeFrame,
  decodeFrame,
  FrameSplitter,
  type Frame,
  type DecodeFailure,
} from './link/frame.js'
export {
  LinkClient,
  type LinkClientOptions,
  type LinkClientEvents,
  type LinkCounters,
  type LinkResponse,
  type RequestOptions,
} from './link/link-client.js'
export { Op, Status, SlotState, ResetReason, NO_SLOT, PROTOCOL_VERSION, statusName } from './protocol/wire.js'
export type { HelloInfo, McuStats, SlotsBlock, SlotInfo, InferReply } from './protocol/messages.js'
export { buildSlotImage, parseSlotImage, SLOT_IMAGE_HEADER_BYTES, type SlotImageInfo } from './protocol/slot-image.js'
export { Stm32Driver, createStm32Driver, type Stm32DriverOptions, type Stm32DriverEvents } from './driver/stm32-driver.js'
export { slotImageOf } from './driver/images.js'
export { openRealPort, type PortOpener } from './driver/serial.js'
export type { TransferReport } from './driver/transfer.js'
export { Stm32Emulator, type Stm32EmulatorOptions, type Stm32EmulatorEvents } from './emulator/stm32-emulator.js'
export { STM32H743, PROFILES, type Stm32Profile } from './emulator/profile.js'
export { EmulatedLine, prng, type LineOptions, type LineFaults, type LineCounters } from './emulator/line.js'
export { attachEmulator, openMockPort, type EmulatedPort } from './emulator/mock-port.js'
export { exposeOnPty, type PtyEmulator } from './emulator/expose-pty.js'
export { onnxBackend, type InferenceBackend, type ModelRunner } from './emulator/inference.js'
export { openPty, PTY_BRIDGE, type Pty, type PtyOptions } from './pty/pty.js'
export { createStm32Gateway, findPortsByUsbId, Stm32Gateway, type Stm32GatewayOptions, type Stm32GatewayEvents } from './gateway/gateway.js'
export { GatewayChild, defaultDeviceId, type ChildState } from './gateway/child.js'
export { createSharedFetcher, type SharedFetcher } from './gateway/shared-fetcher.js'
export { registerStm32Commands, gatewayCommand, emulateStm32Command, startPtyEmulators, type RunningEmulators } from './cli.js'
export { GatewayConfigSchema, EmulateConfigSchema, gatewayConfig, emulateConfig, type GatewayConfig, type EmulateConfig } from './config.js'
