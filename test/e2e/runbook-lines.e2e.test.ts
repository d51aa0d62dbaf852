/**
 * The operators' runbook, typed as it stands: every command line of its bash blocks, in order, by a
 * shell, against a sandbox (real broker, controller and simulated fleets). The lines come from the
 * file: `docs/runbooks/002_8c06fff25a23dd50.txt`, or the shared seed beside the repository when it is
 * there (and then the copy must equal it).
 *
 * What the test changes in a line, and only this: durations are shortened (`sleep 900` → `sleep 1`,
 * `--duration 300|3600|60` → a few seconds); placeholders get the sandbox's values (`device-ip` → a
 * device id, or in a URL the address of that device's local API, which the sandbox serves; `v1.2.3` →
 * the version the fleet ran before). Before the lines it installs cfc-sense 1.0.0 everywhere (what "the
 * existing deployment" is) and makes `new_model.liquid` with the README's one line (cfc-sense 1.2.0, a
 * CfC that takes the runbook's four input values).
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as z from 'zod'
import { deviceEndpoints } from '../sandbox/fleet.js'
import { MODEL, startScenario, type Operator, type Scenario } from './operator.js'

const ROOT = join(import.meta.dirname, '..', '..')
const COPY = join(ROOT, 'docs/runbooks/002_8c06fff25a23dd50.txt')
const SEED = join(ROOT, '../shared/seeds/002_8c06fff25a23dd50.txt')

/** The command lines of the runbook's bash blocks (comments and blank lines left out), in order. */
export function runbookLines(text: string): string[] {
  const blocks = [...text.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1] ?? '')
  return blocks.flatMap((b) =>
    b
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#')),
  )
}

/** Lines that cannot mean anything on a sandbox: what they must fail with. */
const CANNOT: Record<string, { why: string; exit: (code: number | null) => boolean }> = {
  'ping device-ip': {
    why: 'ICMP to a simulated device: it has no host of its own (ping: unknown host, 2; or ping is not installed, 127)',
    exit: (code) => code === 2 || code === 127,
  },
}

const InferenceSchema = z.strictObject({
  output: z.array(z.number()).min(1),
  modelVersion: z.string(),
  latencyMs: z.number().nonnegative(),
})

/** Lines whose exit code says too little (curl exits 0 on any HTTP answer): what their output must show. */
const ANSWERS: Record<string, { what: string; ok: (stdout: string) => boolean }> = {
  'curl -X POST http://device-ip/inference -d \'{"input": [1,2,3,4]}\'': {
    what: "the device's inference by new_model.liquid (cfc-sense 1.2.0): its output scores",
    ok: (stdout) => {
      try {
        return InferenceSchema.parse(JSON.parse(stdout)).modelVersion === '1.2.0'
      } catch {
        return false
      }
    },
  },
}

/** The line as typed on the sandbox: `device` is a device id, `deviceUrl` the address of its local API. */
function sandboxLine(line: string, device: string, deviceHost: string): string {
  return line
    .replace(/^sleep 900$/, 'sleep 1')
    .replace(/--duration (300|3600)\b/, '--duration 5')
    .replace(/--duration 60\b/, '--duration 3')
    .replace(/http:\/\/device-ip\//g, `http://${deviceHost}/`)
    .replace(/device-ip/g, device)
    .replace(/v1\.2\.3/, 'v1.0.0')
}

function sh(line: string, env: Record<string, string>, cwd: string): Promise<{ code: number | null; stdout: string; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', line], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let out = ''
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString()
      out += b.toString()
    })
    child.stderr.on('data', (b: Buffer) => (out += b.toString()))
    child.on('error', reject)
    child.on('close', (code) => {
      resolve({ code, stdout, out })
    })
  })
}

let scenario: Scenario
let op: Operator
const cwd = mkdtempSync(join(tmpdir(), 'lln-runbook-lines-'))

beforeAll(async () => {
  scenario = await startScenario('runbook-lines', {
    fleet: [
      { idPrefix: 'rl-stm32', count: 4, profile: 'stm32h743', labels: { env: 'staging', hw: 'stm32h743' } },
      { idPrefix: 'rl-edge', count: 4, profile: 'x86-edge', labels: { env: 'production', hw: 'x86-edge' } },
    ],
    telemetryWindowMs: 500,
    rulesEvalMs: 500,
    // A deploy line sets no --trial: 2 s instead of the default minute per step keeps the lines' order and outcome.
    rolloutTrialMs: 2000,
  })
  op = scenario.op
  const base = await op.lln(['deploy', '--target', 'simulation', '--model', `${MODEL}@1.0.0`, '--strategy', 'all', '--trial', '2s'])
  expect(base.code, base.stdout + base.stderr).toBe(0)
  // The README's line that makes the runbook's new_model.liquid, typed in the sandbox's shell (env.sh).
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const make = /^liquid-agent model build-cfc .*--out new_model\.liquid/m.exec(readme)?.[0]
  expect(make, 'the README shows how to make new_model.liquid').toBeDefined()
  const made = await sh(`. ${join(scenario.sandbox.dir, 'env.sh')} && ${make ?? ''}`, {}, cwd)
  expect(made.code, made.out).toBe(0)
}, 600_000)

afterAll(() => scenario.close(), 60_000)

describe('the runbook, line by line', () => {
  it('the checked-in copy is the runbook', () => {
    if (existsSync(SEED)) expect(readFileSync(COPY, 'utf8')).toBe(readFileSync(SEED, 'utf8'))
    expect(runbookLines(readFileSync(COPY, 'utf8')).length).toBeGreaterThan(30)
  })

  it('every command line exits 0 on a healthy sandbox, or fails as documented', async ({ annotate }) => {
    const text = readFileSync(existsSync(SEED) ? SEED : COPY, 'utf8')
    const env = { ...scenario.sandbox.cliEnv, PATH: `${join(scenario.sandbox.dir, 'bin')}:${process.env.PATH ?? ''}` }
    const served = (await deviceEndpoints(scenario.sandbox))['rl-edge']
    if (served === undefined) throw new Error('the sandbox serves no local API on the rl-edge fleet')
    const device = served.deviceId
    const results: { line: string; code: number | null; stdout: string; out: string; seconds: number }[] = []
    for (const line of runbookLines(text)) {
      if (line.includes('previous_baseline.json') && existsSync(join(cwd, 'baseline.json')))
        copyFileSync(join(cwd, 'baseline.json'), join(cwd, 'previous_baseline.json')) // the operator kept the last one
      const typed = sandboxLine(line, device, new URL(served.url).host)
      const started = performance.now()
      const r = await sh(typed, env, cwd)
      results.push({ line, code: r.code, stdout: r.stdout, out: r.out.slice(-600), seconds: (performance.now() - started) / 1000 })
    }
    // Where the minutes go: the five slowest lines, in the test's result (the suite refuses console output).
    const slowest = [...results]
      .sort((a, b) => b.seconds - a.seconds)
      .slice(0, 5)
      .map((r) => `${r.seconds.toFixed(1)} s ${r.line}`)
      .join('; ')
    const total = results.reduce((n, r) => n + r.seconds, 0)
    await annotate(`${results.length} lines in ${total.toFixed(0)} s; slowest: ${slowest}`)
    const wrong = results.filter(({ line, code, stdout }) => {
      const cannot = CANNOT[line]
      if (cannot !== undefined) return !cannot.exit(code)
      return code !== 0 || ANSWERS[line]?.ok(stdout) === false
    })
    const timings = results.map((r) => `${r.seconds.toFixed(1)} s ${r.line}`).join('\n')
    expect(
      wrong.map(
        (w) =>
          `${w.line} (${w.seconds.toFixed(1)} s)\n  exit ${String(w.code)}${ANSWERS[w.line] === undefined ? '' : `, expected ${ANSWERS[w.line]?.what ?? ''}`}\n  ${w.out}`,
      ),
      `every line's seconds:\n${timings}`,
    ).toEqual([])
  }, 1_800_000)
})
