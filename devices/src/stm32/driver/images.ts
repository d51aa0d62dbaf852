import type { ModelImage, SlotName } from '@liquid-edge/agent'
import { buildSlotImage } from '../protocol/slot-image.js'

/** The agent's slot names and the MCU's slot numbers. */
export const SLOT_INDEX: Readonly<Record<SlotName, number>> = { a: 0, b: 1 }

/** Builds the MCU slot image of a model package: the manifest's shapes and name, and the model bytes. */
export function slotImageOf(image: ModelImage): Buffer {
  const m = image.manifest
  return buildSlotImage({ name: m.name, version: m.version, inputShape: m.input.shape, outputShape: m.output.shape, model: image.model })
}
