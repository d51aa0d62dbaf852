import * as z from 'zod'
import { ClassBudgetsSchema, OptionalMeasuresSchema } from '../budgets.js'
import { ErrorPayloadSchema } from '../errors/fleet-error.js'
import { CountSchema, DurationMsSchema, EpochMsSchema, MessageIdSchema, ModelIdSchema, ModelRefSchema } from '../primitives.js'
import { deviceEnvelope } from './envelope.js'

/** What the device watches during a trial, and the limits it reverts on. */
export const PolicySchema = z
  .object({
    /** How long the new model runs in trial before the agent confirms it. @defaultValue 60000 */
    trialMs: DurationMsSchema.default(60_000).describe(
      'Trial length in milliseconds (0 to one year, default 60000): the model is confirmed active when the trial ends unbroken. 0 = no trial (a way back to a confirmed model).',
    ),
    /** The model's latency threshold; a trial reverts when p95 latency exceeds it by `latencyTolerance`. */
    latencyThresholdMs: z
      .number()
      .positive()
      .max(3_600_000)
      .describe('Latency threshold in milliseconds (>0 to 3600000): a trial reverts when p95 latency exceeds it × (1 + latencyTolerance).'),
    /** The model's energy budget in mW; `null` when the model declares none. */
    energyBudgetMw: z
      .number()
      .positive()
      .max(1e9)
      .nullable()
      .default(null)
      .describe(
        'Average power budget in milliwatts (>0 to 1e9), or null (default) for none: a trial reverts when average power exceeds it × (1 + energyTolerance).',
      ),
    /** Error rate (0–1) above which a trial reverts. @defaultValue 0.1 */
    maxErrorRate: z
      .number()
      .min(0)
      .max(1)
      .default(0.1)
      .describe('Error rate (errors ÷ inference attempts, 0-1, default 0.1) above which a trial reverts.'),
    /** Relative margin over the latency threshold before a trial reverts. @defaultValue 0.5 */
    latencyTolerance: z
      .number()
      .min(0)
      .max(100)
      .default(0.5)
      .describe('Relative margin over latencyThresholdMs (0-100, default 0.5 = +50%) before a trial reverts.'),
    /** Relative margin over the energy budget before a trial reverts. @defaultValue 0.25 */
    energyTolerance: z
      .number()
      .min(0)
      .max(100)
      .default(0.25)
      .describe('Relative margin over energyBudgetMw (0-100, default 0.25 = +25%) before a trial reverts.'),
    memoryBudgetBytes: z
      .number()
      .int()
      .positive()
      .max(2 ** 50)
      .nullable()
      .default(null)
      .describe(
        'Memory the device may use, bytes (1 to 2^50), or null (default) for no budget: a trial reverts when memory in use exceeds it.',
      ),
    minAccuracy: z
      .number()
      .min(0)
      .max(1)
      .nullable()
      .default(null)
      .describe(
        "Accuracy (share of correct answers, 0-1) the release must hold on its package's labelled set, as devices measure it when asked to evaluate: the controller's accuracy rule rolls the release back below it; null (default) for none. The controller takes it from the package's evaluation set unless the rollout sets it.",
      ),
    optional: OptionalMeasuresSchema.default([]),
    budgets: ClassBudgetsSchema.default({}).describe(
      'Budgets per hardware class, overriding latencyThresholdMs, energyBudgetMw, memoryBudgetBytes and optional for devices that report that hardware; default none. A device judges itself against its own class.',
    ),
    switchGraceMs: DurationMsSchema.nullable()
      .default(null)
      .describe(
        'How long after it was sent the model a device may stay silent while it switches (download, verify, load) before it can count as unresponsive, milliseconds; null (default) = trialMs.',
      ),
    /**
     * Verbose diagnostics while this state holds (`liquid-lln deploy --debug`): the agent keeps its
     * debug lines, each telemetry window's figures among them, in the log that `logs` reads. @defaultValue false
     */
    debug: z
      .boolean()
      .default(false)
      .describe(
        "Verbose diagnostics for this release (default false): while the state holds, the agent keeps debug lines in the log the 'logs' command reads — each telemetry window's figures, download and verification, self-test results and failed inferences — and drops them again with the next state that does not ask for it.",
      ),
    /** Inferences needed before a trial may be judged on rates. @defaultValue 20 */
    minSamples: CountSchema.default(20).describe(
      'Inference attempts (default 20) a trial needs before it may be judged on rates and latency.',
    ),
    /**
     * Where a device goes when the release is rolled back or aborted and it has no previous model to
     * return to (a first install, or a previous model the controller's store does not hold): this
     * model version, or `null` for no model (the agent unloads and idles). @defaultValue null
     */
    fallback: ModelIdSchema.nullable()
      .default(null)
      .describe(
        'Where the controller sends a device that has no previous model to return to when this release is rolled back or aborted: a model name and version, or null (default) for no model (the agent unloads and reports idle).',
      ),
  })
  .describe('The trial rules: how long the new model runs in trial, and the limits on which the device reverts by itself.')
export type Policy = z.output<typeof PolicySchema>

/**
 * The model a device should run (retained, QoS 1). A device applies a desired state only when its
 * generation is newer than the one it applied last and it has not expired.
 */
export const DesiredBodySchema = z
  .object({
    /** Monotonic per device: a lower or equal generation is never applied. */
    generation: CountSchema.describe(
      'Monotonic per device (the controller never reuses one). A device acts only on a generation above the last one it acted on; lower or equal ones are ignored.',
    ),
    /** The rollout that wrote this state, or `null` for a manual assignment. */
    rolloutId: MessageIdSchema.nullable().describe(
      'The rollout that wrote this state, or null for an assignment outside a rollout. Echoed in reported.rolloutId.',
    ),
    /** The model to run, or `null` for none: the agent unloads its model and reports `idle` with `reason`. */
    model: ModelRefSchema.nullable().describe(
      "The model to run: name, version, artifact URL, size, sha256 and signature; or null for no model: the device unloads every slot and reports idle with this state's reason.",
    ),
    policy: PolicySchema,
    /**
     * `activate`: stage, self-test and run in trial. `stage`: stage beside the running model only
     * (blue-green), to be made active by a `switch` command.
     */
    mode: z
      .enum(['activate', 'stage'])
      .default('activate')
      .describe(
        "'activate' (default): download, verify, stage, self-test and run in trial. 'stage': the same up to the self-test, then keep it staged beside the running model (blue-green) until a switch command.",
      ),
    /** After this instant (epoch ms) the state must not be applied; `null` = never expires. */
    expiresAt: EpochMsSchema.nullable()
      .default(null)
      .describe(
        'Epoch milliseconds after which the state must not be applied (the device reports failed with AGENT_DESIRED_EXPIRED); null (default) = never expires.',
      ),
    /**
     * Why the controller sets this state (a registry code and a message), e.g. why a device is sent
     * to no model; the agent reports it back while the state holds. `null`: an ordinary assignment.
     */
    reason: ErrorPayloadSchema.nullable()
      .default(null)
      .describe(
        'Why the controller sets this state, as a registry code and a message (e.g. ROLLOUT_FALLBACK when a device with no previous model is sent to no model); echoed in reported.reason while the device idles on it. null (default) for an ordinary assignment.',
      ),
  })
  .describe('The model this device should run and the rules of its trial.')
export const DesiredSchema = deviceEnvelope(
  'desired',
  DesiredBodySchema,
  'Desired state (controller → device, QoS 1, retained): the model the device should run. Act on it only when its generation is newer than the last one acted on.',
)
export type DesiredBody = z.output<typeof DesiredBodySchema>
export type Desired = z.output<typeof DesiredSchema>
