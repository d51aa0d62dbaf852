/**
 * The README's five-minute tour and its fault example, typed as they stand by a shell that sourced
 * the sandbox's `env.sh`, against a sandbox with `npm start`'s four fleets and its real-time rules
 * (no shortened windows: the README promises what an operator sees). The one change to a line: the
 * fault example's `PORT` is fleet edge-prd's fault-control port, which `npm start` prints.
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as z from 'zod'
import { apiGet } from '../sandbox/fleet.js'
import { runCommand } from '../sandbox/processes.js'
import { defaultFleet } from '../sandbox/sandbox.js'
import { startScenario, type Scenario } from './operator.js'

const README = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8')

/** The command lines of the `sh` blocks of one README section, block by block (comments and blank lines left out). */
export function shBlocks(markdown: string, heading: string): string[][] {
  const start = markdown.indexOf(`\n${heading}\n`)
  if (start < 0) throw new Error(`no section '${heading}' in the README`)
  const end = markdown.indexOf('\n## ', start + heading.length + 2)
  const section = markdown.slice(start, end < 0 ? undefined : end)
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    (m[1] ?? '')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#')),
  )
}

const [tour = [], fault = []] = shBlocks(README, '## Five-minute tour')
let scenario: Scenario
let started: Promise<Scenario> | undefined
const cwd = mkdtempSync(join(tmpdir(), 'lln-readme-'))

/** One line typed in a shell that sourced env.sh; Ctrl-C past the deadline. */
async function type(line: string, deadlineMs = 10 * 60_000): Promise<{ code: number | null; out: string }> {
  return runCommand('sh', ['-c', `. ${join(scenario.sandbox.dir, 'env.sh')} && ${line}`], { cwd, env: process.env, deadlineMs })
}

// Sixteen devices on a busy machine can take minutes to come up; the sandbox gives up by itself
// when they stop making progress.
beforeAll(async () => {
  started = startScenario('readme', { fleet: defaultFleet(16) })
  scenario = await started
}, 600_000)

// Closes the sandbox even when its start failed or outlived the hook.
afterAll(async () => (await started?.catch(() => undefined))?.close(), 660_000)

const RolloutsSchema = z.looseObject({ rollouts: z.array(z.looseObject({ id: z.string(), state: z.string(), createdAt: z.number() })) })

describe("the README's tour", () => {
  it('has the lines it shows', () => {
    expect(tour[0]).toMatch(/^source \.lln\/sandbox\/env\.sh/)
    expect(tour.filter((l) => l.startsWith('liquid-lln ')).length).toBeGreaterThanOrEqual(8)
    expect(fault.some((l) => l.startsWith('curl ') && l.includes('PORT'))).toBe(true)
  })

  it('every line of the tour exits 0 on the sandbox', async () => {
    const failed: string[] = []
    for (const line of tour.slice(1)) {
      const r = await type(line)
      if (r.code !== 0) failed.push(`${line}\n  exit ${String(r.code)}\n  ${r.out.slice(-800)}`)
    }
    expect(failed).toEqual([])
  }, 1_200_000)

  it('the fault example visibly breaks the running rollout within the minute its monitor line watches', async () => {
    const port = new URL(scenario.sandbox.control['edge-prd'] ?? '').port
    const outputs: string[] = []
    for (const line of fault) {
      const r = await type(line.replaceAll('PORT', port))
      outputs.push(`$ ${line}\n${r.out}`)
      expect(r.code, outputs.join('\n')).toBe(0)
    }
    const broken = (await apiGet(scenario.sandbox, '/v1/rollouts', RolloutsSchema)).rollouts.sort((a, b) => b.createdAt - a.createdAt)[0]
    expect(broken, outputs.join('\n')).toBeDefined()
    const seen = (await scenario.op.events(broken?.id ?? '')).map((e) => e.event)
    // Where the rollout, its rules and the devices stood, for a failure to say.
    const rules = await scenario.op.rules(broken?.id ?? '').catch((err: unknown) => `unreadable (${String(err)})`)
    const devices = await scenario.op.versions().catch((err: unknown) => `unreadable (${String(err)})`)
    const state = `${outputs.join('\n')}\nevents: ${seen.join(', ')}\nrollout: ${JSON.stringify(broken)}\nrules: ${JSON.stringify(rules)}\ndevices: ${JSON.stringify(devices)}`
    // What an operator sees: an alert, or the rollout paused or rolled back by its rules.
    expect(seen.some((e) => e === 'alert' || e === 'decision') || ['paused', 'rolled-back'].includes(broken?.state ?? ''), state).toBe(true)
    // And the monitor line showed it as it happened.
    expect(outputs.join('\n'), state).toMatch(/rules firing: (?!none)/)
  }, 600_000)
})
