import { statfs } from 'node:fs/promises'
import { freemem, totalmem } from 'node:os'
import type { CommandOf, CommandResult } from '@liquid-edge/protocol'
import type { AgentInternals } from '../internals.js'
import { reportedSlots } from '../state/agent-state.js'

export async function status(ai: AgentInternals, cmd: CommandOf<'status'>): Promise<CommandResult> {
  const s = ai.state
  if (cmd.metric === 'slots') return { kind: 'status', slots: reportedSlots(s) }
  if (cmd.metric === 'memory') {
    const m = process.memoryUsage()
    // The device's own memory as its driver reads it (an MCU behind a gateway: its RAM; a simulated
    // device: its model's); the host's only when the driver cannot tell — the agent may run elsewhere.
    const own = (await ai.driver.readSensors().catch(() => null))?.memory
    const total = own?.totalBytes ?? null
    const system =
      own == null || total === null
        ? { systemTotalBytes: totalmem(), systemFreeBytes: freemem(), measuredOn: 'host' as const }
        : { systemTotalBytes: total, systemFreeBytes: Math.max(0, total - own.usedBytes), measuredOn: 'device' as const }
    return { kind: 'status', memory: { rssBytes: m.rss, heapUsedBytes: m.heapUsed, ...system } }
  }
  const used = (s.slots.a?.size ?? 0) + (s.slots.b?.size ?? 0)
  const sensors = await ai.driver.readSensors().catch(() => null)
  let storage = sensors?.storage ?? null
  if (storage === null) {
    const fs = await statfs(ai.stateDir)
    storage = { totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize }
  }
  return { kind: 'status', storage: { ...storage, usedByModelsBytes: used } }
}

export function ping(ai: AgentInternals): CommandResult {
  return { kind: 'ping', uptimeMs: ai.clock.now() - ai.startedAt, agentVersion: ai.agentVersion }
}
