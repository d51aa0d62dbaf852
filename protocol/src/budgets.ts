/**
 * Budgets per hardware class: a package and a rollout policy carry default budgets (latency,
 * energy, memory) and may override them per hardware class (`stm32h743`, `x86-edge`, …), so that
 * every device is judged against its own class. A class may also mark measures optional: a device
 * of that class that cannot make them is `unknown` there, and no gate fails on it. Without that
 * mark, a budget whose measure is unknown fails the gate that requires it: unknown is not healthy.
 */
import * as z from 'zod'
import { LabelValueSchema } from './primitives.js'

/** The measures a budget or a gate can require. */
export const BUDGET_MEASURES = ['latency', 'energy', 'memory', 'accuracy'] as const
export const BudgetMeasureSchema = z
  .enum(BUDGET_MEASURES)
  .describe('A measure: latency (ms), energy (average power, mW), memory (bytes in use), accuracy (share of correct answers).')
export type BudgetMeasure = z.infer<typeof BudgetMeasureSchema>

/** The name budgets resolve to when the policy names no budgets for a device's hardware class. */
export const DEFAULT_CLASS = 'default'

const LatencyBudgetSchema = z.number().positive().max(3_600_000)
const EnergyBudgetSchema = z.number().positive().max(1e9)
const MemoryBudgetSchema = z
  .number()
  .int()
  .positive()
  .max(2 ** 50)
export const OptionalMeasuresSchema = z
  .array(BudgetMeasureSchema)
  .max(BUDGET_MEASURES.length)
  .describe(
    'Measures these devices may be unable to make (no power meter, no memory figure): unknown there is accepted instead of failing the gate that requires it.',
  )

/** One hardware class's budgets; each field left out keeps the default. */
export const ClassBudgetSchema = z
  .object({
    latencyThresholdMs: LatencyBudgetSchema.optional().describe('Latency threshold of this class in milliseconds (>0 to 3600000).'),
    energyBudgetMw: EnergyBudgetSchema.nullable()
      .optional()
      .describe('Average power budget of this class in milliwatts (>0 to 1e9); null: none for this class.'),
    memoryBudgetBytes: MemoryBudgetSchema.nullable()
      .optional()
      .describe("Memory this class's devices may use, bytes (1 to 2^50); null: none for this class."),
    optional: OptionalMeasuresSchema.optional(),
  })
  .describe('Budgets of one hardware class; a field left out keeps the default budget.')
export type ClassBudget = z.output<typeof ClassBudgetSchema>

/** Budgets per hardware class, keyed by class (the `hardware` a device reports). */
export const ClassBudgetsSchema = z
  .record(LabelValueSchema, ClassBudgetSchema)
  .refine((r) => Object.keys(r).length <= 64, { message: 'at most 64 hardware classes' })
  .describe('Budgets per hardware class (stm32h743, x86-edge, …), at most 64; a device of a class not listed gets the defaults.')
export type ClassBudgets = z.output<typeof ClassBudgetsSchema>

/** What budgets resolve from: a package manifest or a policy. */
export interface BudgetSource {
  latencyThresholdMs: number
  energyBudgetMw: number | null
  memoryBudgetBytes?: number | null
  /** Accuracy (0–1) the model must hold on its labelled set; null or absent: none. */
  minAccuracy?: number | null
  optional?: readonly BudgetMeasure[]
  budgets?: ClassBudgets
}

/** The budgets one device is judged against. */
export interface Budget {
  /** The class whose budgets apply: the device's hardware when the source names it, else {@link DEFAULT_CLASS}. */
  hardwareClass: string
  latencyThresholdMs: number
  energyBudgetMw: number | null
  memoryBudgetBytes: number | null
  /** Accuracy (0–1) below which the accuracy gate breaks; null: no minimum. */
  minAccuracy: number | null
  /** Measures this device may be unable to make without failing a gate. */
  optional: readonly BudgetMeasure[]
}

/** The budgets of a device of hardware class `hardware` (`null` or unlisted: the defaults). */
export function budgetFor(src: BudgetSource, hardware: string | null): Budget {
  const c = hardware === null ? undefined : src.budgets?.[hardware]
  return {
    hardwareClass: c === undefined || hardware === null ? DEFAULT_CLASS : hardware,
    latencyThresholdMs: c?.latencyThresholdMs ?? src.latencyThresholdMs,
    energyBudgetMw: c?.energyBudgetMw === undefined ? src.energyBudgetMw : c.energyBudgetMw,
    memoryBudgetBytes: c?.memoryBudgetBytes === undefined ? (src.memoryBudgetBytes ?? null) : c.memoryBudgetBytes,
    minAccuracy: src.minAccuracy ?? null,
    optional: c?.optional ?? src.optional ?? [],
  }
}

/** Whether a gate may accept `measure` being unknown on a device with these budgets. */
export function isOptional(b: Budget, measure: BudgetMeasure): boolean {
  return b.optional.includes(measure)
}

/** Class budgets of a package overridden, class by class and field by field, by those of a request. */
export function mergeClassBudgets(base: ClassBudgets | undefined, over: ClassBudgets | undefined): ClassBudgets {
  const out: ClassBudgets = { ...base }
  for (const [hw, b] of Object.entries(over ?? {})) out[hw] = { ...out[hw], ...b }
  return out
}
