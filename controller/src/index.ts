/**
 * @liquid-edge/controller — device registry, model store, rollout engine, HTTP API and CLI.
 */
export { createController, Controller, type ControllerOptions, type ControllerEvents } from './controller.js'
export { loadConfig, envName, ConfigSchema, type Config } from './config.js'
export { systemClock, type Clock } from './clock.js'
export { createKeys, type Keys } from './keys.js'
export {
  parseSelector,
  matchesSelector,
  formatSelector,
  parseLabels,
  type Selector,
  type Requirement,
  type Labels,
} from './registry/selector.js'
export { Registry, type DeviceRecord } from './registry/registry.js'
export { hashSecret, verifySecret, newSecret } from './registry/credentials.js'
export { LiveStore, type LiveView } from './registry/live.js'
export { FsArtifactStore, type ArtifactStore } from './models/artifact-store.js'
export { ModelStore, parseModelSpec, type ModelRecord } from './models/model-store.js'
export { verifyPackage, loadPublisherKeys } from './models/verify.js'
export { BUCKETS, bucketOf, inPercent, cohortOf, type Member, type StepSpec } from './rollout/membership.js'
export { step, judge, type StepResult } from './rollout/state-machine.js'
export type { Effect } from './rollout/effects.js'
export type { Observations, DeviceObservation, ReportedView, Signal } from './rollout/observations.js'
export {
  RolloutSchema,
  ROLLOUT_STATES,
  TERMINAL_STATES,
  ZERO_COUNTS,
  type Rollout,
  type RolloutState,
  type DeviceProgress,
  type Gate,
  type Counts,
} from './rollout/types.js'
export { DeployRequestSchema, RollbackRequestSchema, type DeployRequest, type RollbackRequest } from './rollout/requests.js'
export { RolloutRepo } from './rollout/repo.js'
export { RolloutService } from './rollout/service.js'
export { RolloutEngine } from './rollout/engine.js'
export { TokenStore, SCOPES, type Scope } from './api/tokens.js'
export { createRunbook, type Runbook, type RunbookOptions } from './runbook/runbook.js'
export { CommandFanout, type CommandLink, type DeviceAnswer, type FanoutRequest, type FanoutResult } from './runbook/fanout.js'
export { RecentTelemetry, type TelemetryReader, type DeviceTelemetry } from './runbook/tracker.js'
export { BaselineSchema, type Baseline } from './runbook/verbs/benchmark.js'
export { VERDICT_FAILED } from './runbook/cli-stream.js'
export { Telemetry, createTelemetry, type TelemetryOptions } from './telemetry/telemetry.js'
export { WindowStore, cohortOf as cohortOfModel, type DeviceShare } from './telemetry/window-store.js'
export { METRICS, metricOf, mergeStats, type WindowStats, type WindowMetric } from './telemetry/window-stats.js'
export { RuleSchema, RuleSetSchema, defaultRules, type Rule, type RuleInput, type RuleSet } from './rules/rule.js'
export { evaluateRule, evaluateDeviceRule, type RuleResult, type RuleOutcome, type RuleContext } from './rules/evaluate.js'
export { BaselineSchema as ThresholdBaselineSchema, applyBaseline, type Baseline as ThresholdBaseline } from './rules/thresholds.js'
