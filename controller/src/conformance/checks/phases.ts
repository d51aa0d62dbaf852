import type { Phase, ReportedBody } from '@liquid-edge/protocol'

/** The phase transitions docs/device-contract.md §6.5 allows while one generation is worked on. */
const NEXT: Readonly<Record<Phase, readonly Phase[]>> = {
  idle: ['idle'],
  downloading: ['downloading', 'verifying', 'failed'],
  verifying: ['verifying', 'staging', 'trial', 'staged', 'active', 'failed'],
  staging: ['staging', 'verifying', 'failed'],
  staged: ['staged', 'active'],
  trial: ['trial', 'active', 'reverted'],
  // Settled: only a command moves a settled generation on (rollback, switch), always to active.
  active: ['active'],
  failed: ['failed', 'active'],
  reverted: ['reverted', 'active'],
}

/** Phases in which a generation has been answered (§6.6). */
export const SETTLED: ReadonlySet<Phase> = new Set(['active', 'staged', 'failed', 'reverted', 'idle'])

/**
 * The phases the device reported for generation `gen`, in order (repeats folded), and the first
 * transition §6.5 does not allow, if any.
 */
export function phasePath(reports: readonly ReportedBody[], gen: number): { path: Phase[]; illegal: string | null } {
  const path: Phase[] = []
  let illegal: string | null = null
  for (const r of reports) {
    if (r.generation !== gen) continue
    const last = path.at(-1)
    if (last === r.phase) continue
    if (last !== undefined && illegal === null && !NEXT[last].includes(r.phase)) illegal = `${last} → ${r.phase}`
    path.push(r.phase)
  }
  return { path, illegal }
}

/** The slot of `role`, if any. */
export function roleOf(r: ReportedBody, role: ReportedBody['slots'][number]['role']): ReportedBody['slots'][number] | undefined {
  return r.slots.find((s) => s.role === role)
}

/** Problems with a report's slots (§6.8): at most one serving slot, `previous` only beside one, errors only when failed. */
export function slotProblems(r: ReportedBody): string[] {
  const problems: string[] = []
  const serving = r.slots.filter((s) => s.role === 'active' || s.role === 'trial')
  if (serving.length > 1) problems.push(`${serving.length} serving slots`)
  if (serving.length === 0 && r.slots.some((s) => s.role === 'previous')) problems.push('a previous slot with nothing serving')
  if (new Set(r.slots.map((s) => s.slot)).size !== r.slots.length) problems.push('a slot listed twice')
  if (r.phase === 'trial' && serving[0]?.role !== 'trial') problems.push('phase trial without a trial slot')
  if (r.error !== null && r.phase !== 'failed' && r.phase !== 'reverted') problems.push(`an error (${r.error.code}) in phase ${r.phase}`)
  if (r.error === null && (r.phase === 'failed' || r.phase === 'reverted')) problems.push(`phase ${r.phase} without an error`)
  return problems
}
