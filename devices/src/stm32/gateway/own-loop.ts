import type { OutsideSamples } from '@liquid-edge/agent'
import { LatencyStatsSchema } from '@liquid-edge/protocol'
import * as z from 'zod'
import type { LoopStats } from '../protocol/messages.js'

/**
 * The inferences an MCU ran on its own (LOOP_STATS) as the agent counts them: attempts, errors, and
 * the same mergeable latency statistics the agent keeps for its own (count, sum, extremes, log
 * histogram), so its telemetry folds them exactly. The serial link is a boundary: what fails the
 * protocol's latency schema, or claims more errors than attempts, is refused with the reason.
 */
export function outsideSamples(s: LoopStats): { ok: true; samples: OutsideSamples | null } | { ok: false; error: string } {
  if (s.attempts === 0) return { ok: true, samples: null }
  if (s.errors > s.attempts) return { ok: false, error: `${s.errors} errors in ${s.attempts} attempts` }
  const successes = s.attempts - s.errors
  let latency: OutsideSamples['latency'] = null
  if (successes > 0) {
    const parsed = LatencyStatsSchema.safeParse({
      count: successes,
      sumMs: s.sumMicros / 1000,
      minMs: s.minMicros / 1000,
      maxMs: s.maxMicros / 1000,
      histogram: { bins: s.bins, counts: s.counts },
    })
    if (!parsed.success) return { ok: false, error: z.prettifyError(parsed.error) }
    latency = parsed.data
  }
  return { ok: true, samples: { attempts: s.attempts, errors: s.errors, latency, energyJoules: s.energyMicroJ / 1e6 } }
}
