import { FleetError, type ErrorCode } from '@liquid-edge/protocol'
import { Status, statusName } from '../protocol/wire.js'

const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = {
  [Status.SLOT_BUSY]: 'DEVICE_UNSUPPORTED',
  [Status.TOO_LARGE]: 'DEVICE_OUT_OF_MEMORY',
  [Status.HASH_MISMATCH]: 'AGENT_LOAD_FAILED',
  [Status.NOT_READY]: 'AGENT_NO_MODEL',
  [Status.INPUT_SHAPE]: 'AGENT_INPUT_SHAPE',
  [Status.INFER_FAILED]: 'DEVICE_INFERENCE_FAILED',
  [Status.FLASH_ERROR]: 'AGENT_LOAD_FAILED',
  [Status.UNKNOWN_OP]: 'DEVICE_UNSUPPORTED',
}

/** The `FleetError` for an MCU status other than OK. */
export function statusError(status: number, what: string): FleetError {
  const code = CODE_BY_STATUS[status] ?? 'DEVICE_LINK_ERROR'
  return new FleetError(code, `${what}: the MCU answered ${statusName(status)}`, { details: { mcuStatus: statusName(status) } })
}
