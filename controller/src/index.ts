/**
 * @liquid-edge/controller — device registry, model store, rollout engine and HTTP API.
 */
export { createController, Controller, type ControllerOptions, type ControllerEvents } from './controller.js'
export { loadConfig, controllerConfig, ConfigSchema, type Config } from './config.js'
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
export { DesiredReconciler, type PassResult, type Trigger } from './desired/reconciler.js'
export { DesiredRecordSchema, type DesiredRecord } from './desired/desired-states.js'
export { TokenStore, SCOPES, type Scope } from './api/tokens.js'
export { apiDocument } from './api/openapi.js'
export { createRunbook, type Runbook, type RunbookOptions } from './runbook/runbook.js'
export { CommandFanout, type CommandLink, type DeviceAnswer, type FanoutRequest, type FanoutResult } from './runbook/fanout.js'
export { WindowTelemetryReader, type TelemetryReader, type DeviceTelemetry } from './runbook/tracker.js'
export { BaselineSchema, type Baseline } from './runbook/verbs/benchmark.js'
export { Telemetry, createTelemetry, type TelemetryOptions } from './telemetry/telemetry.js'
export { WindowStore, cohortOf as cohortOfModel, type DeviceShare } from './telemetry/window-store.js'
export { METRICS, metricOf, mergeStats, type WindowStats, type WindowMetric } from './telemetry/window-stats.js'
export { RuleSchema, RuleSetSchema, defaultRules, type Rule, type RuleInput, type RuleSet } from './rules/rule.js'
export { evaluateRule, type RuleResult, type RuleOutcome, type RuleContext } from './rules/evaluate.js'
export { evaluateDeviceRule, responsiveness, type DeviceFacts } from './rules/device-rules.js'
export { thresholdsOf, withThresholds, ThresholdRecordSchema, type Thresholds, type ThresholdRecord } from './rules/thresholds.js'
export { runConformance, conformanceChecks, CHECK_ORDER, type ConformanceOptions, type ConformanceDeps } from './conformance/engine.js'
export {
  ConformanceReportSchema,
  ConformanceLineSchema,
  type ConformanceReport,
  type ConformanceLine,
  type CheckResult,
  type CheckStatus,
  type OperatorAction,
} from './conformance/report.js'
