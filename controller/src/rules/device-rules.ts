import type { RuleOutcome, RuleResult } from './evaluate.js'
import type { Rule } from './rule.js'

/** What the rules know about one device of the candidate cohort. */
export interface DeviceFacts {
  id: string
  /** When this rollout sent it the new model. */
  dispatchedAt: number
  /** Last status: online flag and when it was received; null when unknown. */
  online: boolean | null
  statusAt: number | null
  lastTelemetryAt: number | null
  /** When the controller's unbroken listening began: silence before it is unknown, not silence. */
  listeningSince?: number
  /**
   * When the device's current connection began (its online status's time), or null when its last
   * status is not online: a device that reconnected inside the listening span is back and needs no
   * reconnect grace.
   */
  connectedAt?: number | null
  /** When the controller last received the device's telemetry (its own clock), if known. */
  heardAt?: number | null
  /** How often the device reports (its last telemetry window); null when unknown. */
  telemetryWindowMs: number | null
  lastCrashAt: number | null
}

/** Missed reports before a device counts as silent, whatever the rule's window. */
const SILENT_AFTER_WINDOWS = 3

/** A device's standing for the unresponsive rule. */
export type Responsiveness = 'responsive' | 'unresponsive' | 'graced'

/**
 * Did the device stop answering after it was sent the model: offline for longer than the window
 * since a disconnect after the dispatch (a reboot or a blip is not), or silent for longer than the
 * window (and than three of its own reporting periods) although it was heard within that span
 * before the dispatch? A device already gone at the dispatch never received the model: its step
 * counts it silent, and rolling it back would only stop it from converging when it returns.
 *
 * A device switching models (download, verify, load) may be silent for a while: silence within
 * `graceMs` of the dispatch does not count, and such a device is `graced`, not unresponsive. A
 * disconnect (its Last Will) is not silence and gets no grace. An offline status the device's
 * telemetry contradicts (received after it) is not believed: its silence decides.
 *
 * When the controller starts listening again (its start, a broker reconnect, a takeover of the
 * ingest), devices that lost the broker too are still in their reconnect back-off: neither silence
 * nor an offline status counts before `reconnectGraceMs` after the span began — or, for a device
 * that has reconnected inside the span, before its reconnect.
 */
export function responsiveness(d: DeviceFacts, now: number, windowMs: number, graceMs = 0, reconnectGraceMs = 0): Responsiveness {
  const since = d.listeningSince ?? -Infinity
  const reconnected = d.connectedAt != null && d.connectedAt >= since ? d.connectedAt : Infinity
  const back = Math.min(since + reconnectGraceMs, reconnected)
  // An offline status the device's own telemetry contradicts (heard after it) is not believed —
  // anyone who can publish on its topic can claim it — and silence decides instead.
  const contradicted = d.heardAt != null && d.statusAt !== null && d.heardAt > d.statusAt
  if (d.online === false && !contradicted && d.statusAt !== null && d.statusAt >= d.dispatchedAt) {
    return now - Math.max(d.statusAt, back) > windowMs ? 'unresponsive' : 'responsive'
  }
  // Silence is judged against the device's own cadence too: one that reports every minute is
  // not silent 30 s after its last window.
  const silentAfter = Math.max(windowMs, SILENT_AFTER_WINDOWS * (d.telemetryWindowMs ?? 0))
  if (d.lastTelemetryAt === null || d.lastTelemetryAt < d.dispatchedAt - silentAfter) return 'responsive'
  const silent = (since: number): boolean => now - since > silentAfter
  const last = Math.max(d.lastTelemetryAt, back)
  if (!silent(last) || !silent(d.dispatchedAt)) return 'responsive'
  // Silent without a grace: counted only once the grace after the dispatch has run out too.
  return silent(Math.max(last, d.dispatchedAt + graceMs)) ? 'unresponsive' : 'graced'
}

/**
 * Judge a device rule (unresponsive, crashed) over the candidate cohort's devices; `graceMs` is the
 * switch grace after a dispatch, `reconnectGraceMs` the reconnect grace after listening resumed.
 */
export function evaluateDeviceRule(
  rule: Rule,
  devices: readonly DeviceFacts[],
  now: number,
  graceMs = 0,
  reconnectGraceMs = 0,
): RuleResult {
  const graced: string[] = []
  const tipped: string[] = []
  for (const d of devices) {
    if (rule.metric === 'crashed') {
      if (d.lastCrashAt !== null && d.lastCrashAt >= d.dispatchedAt && now - d.lastCrashAt <= rule.windowMs) tipped.push(d.id)
      continue
    }
    const r = responsiveness(d, now, rule.windowMs, graceMs, reconnectGraceMs)
    if (r === 'unresponsive') tipped.push(d.id)
    else if (r === 'graced') graced.push(d.id)
  }
  tipped.sort()
  graced.sort()
  const breached = tipped.length > rule.threshold
  const outcome: RuleOutcome = devices.length === 0 ? 'no-data' : breached ? 'breached' : 'healthy'
  return {
    rule: rule.name,
    metric: rule.metric,
    comparison: rule.comparison,
    action: rule.action,
    outcome,
    firing: breached,
    breachedForMs: 0,
    observed: tipped.length,
    threshold: rule.threshold,
    baseline: null,
    sampleSize: devices.length,
    windowStart: now - rule.windowMs,
    windowMs: rule.windowMs,
    devices: tipped.slice(0, 1000),
    approximate: false,
    hardware: null,
    budgetClass: null,
    optional: false,
    graced: graced.slice(0, 1000),
    graceMs: rule.metric === 'unresponsive' ? graceMs : null,
  }
}
