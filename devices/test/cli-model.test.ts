import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { DemoIndexSchema } from '@liquid-edge/devices'
import { findSigningKey } from '../src/cli/build-cfc.js'
import { modelCommand } from '../src/cli/model.js'
import { runCli } from './support/cli.js'

/** Run `liquid-agent model …` in-process (spawning costs seconds per call on a busy machine). */
async function model(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true))
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true))
  const before = process.exitCode
  try {
    await modelCommand(env).exitOverride().parseAsync(args, { from: 'user' })
    return { code: typeof process.exitCode === 'number' ? process.exitCode : 0, stdout, stderr }
  } finally {
    process.exitCode = before
    out.mockRestore()
    err.mockRestore()
  }
}

describe('liquid-agent model', () => {
  it('generates a key, packs a model, inspects and verifies it, and refuses tampered packages', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lln-model-'))
    const f = (name: string) => join(dir, name)
    expect((await model(['keygen', '--out', f('k.pem')])).code).toBe(0)
    expect((await model(['build-cfc', '--size', 'tiny', '--seed', '3', '--out', f('m.onnx')])).code).toBe(0)
    const packed = await runCli([
      'model',
      'pack',
      '--model',
      f('m.onnx'),
      '--name',
      'anomaly',
      '--version',
      '1.2.0',
      '--latency-ms',
      '5',
      '--energy-mw',
      '300',
      '--key',
      f('k.pem'),
      '--out',
      f('a.liquid'),
      '--json',
    ])
    expect(packed.code, packed.stderr).toBe(0)
    const result = JSON.parse(packed.stdout) as { sha256: string; size: number }
    expect(result.size).toBe(readFileSync(f('a.liquid')).byteLength)

    const inspected = await model(['inspect', f('a.liquid')])
    expect(inspected.stdout).toMatch(/anomaly 1\.2\.0/)
    expect(inspected.stdout).toMatch(/x \[1, 16\] float32/)
    expect(inspected.stdout).toMatch(/300 mW budget/)

    const ok = await model(['verify', f('a.liquid'), '--key', f('k.pub.pem'), '--golden', '--sha256', result.sha256])
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toMatch(/^ok: anomaly 1\.2\.0.*signature valid, golden vectors within/)

    const bytes = readFileSync(f('a.liquid'))
    bytes[bytes.byteLength - 200]! ^= 0x40
    writeFileSync(f('tampered.liquid'), bytes)
    writeFileSync(f('truncated.liquid'), readFileSync(f('a.liquid')).subarray(0, 100))
    const tampered = await model(['verify', f('tampered.liquid'), '--key', f('k.pub.pem')])
    expect(tampered.code).toBe(1)
    expect(tampered.stderr).toMatch(/PACKAGE_SIGNATURE_INVALID: refused: /)
    const truncated = await model(['verify', f('truncated.liquid'), '--key', f('k.pub.pem')])
    expect(truncated.stderr).toMatch(/PACKAGE_TRUNCATED: refused: the package is truncated/)
  })

  it('writes the signed demo packages with an index when asked for a demo directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lln-demo-'))
    const r = await model(['demo', '--out', join(dir, 'models'), '--key', join(dir, 'key.pem'), '--seed', '4'])
    expect(r.code, r.stderr).toBe(0)
    const index = DemoIndexSchema.parse(JSON.parse(readFileSync(join(dir, 'models', 'index.json'), 'utf8')))
    expect(index.packages.map((p) => p.version)).toEqual(['1.0.0', '1.1.0', '2.0.0'])
    const v = await model([
      'verify',
      join(dir, 'models', 'cfc-sense-2.0.0.liquid'),
      '--key',
      join(dir, 'models', 'publisher.pub.pem'),
      '--golden',
    ])
    expect(v.code, v.stderr).toBe(0)
  })

  it('sets the demo budgets to fit every hardware profile asked for, creating missing directories', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lln-demo-'))
    const out = join(dir, 'a', 'models')
    const key = join(dir, 'b', 'key.pem')
    const budgets = async (profile: string) => {
      const r = await model(['demo', '--out', out, '--key', key, '--profile', profile])
      expect(r.code, r.stderr).toBe(0)
      return DemoIndexSchema.parse(JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'))).packages.map((p) => [
        p.latencyThresholdMs,
        p.energyBudgetMw,
      ])
    }
    const stm32 = await budgets('stm32h743')
    const edge = await budgets('x86-edge')
    // The slowest latency and the hungriest power of the two, version by version.
    expect(await budgets('stm32h743,x86-edge')).toEqual(
      stm32.map(([ms, mw], i) => [Math.max(ms!, edge[i]![0]!), Math.max(mw ?? 0, edge[i]![1] ?? 0)]),
    )
    const bad = await model(['demo', '--out', out, '--key', key, '--profile', 'stm32h743,pdp-11'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/CONFIG_INVALID.*--profile/)
  })

  it('build-cfc writes a signed package with budgets per class and an evaluation set when the output is a .liquid file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lln-cfc-'))
    expect((await model(['keygen', '--out', join(dir, 'k.pem')])).code).toBe(0)
    const out = join(dir, 'new_model.liquid')
    const built = await model(['build-cfc', '--size', 'nano', '--name', 'cfc-nano', '--version', '1.1.0', '--out', out], {
      LLN_SIGNING_KEY: join(dir, 'k.pem'),
    })
    expect(built.code, built.stderr).toBe(0)
    expect(built.stdout).toContain(`signed with ${join(dir, 'k.pem')}`)
    const shown = await model(['inspect', out, '--json'])
    const m = (JSON.parse(shown.stdout) as { manifest: Record<string, unknown> }).manifest as {
      name: string
      version: string
      input: { shape: number[] }
      budgets: Record<string, unknown>
      evaluation: { samples: unknown[] }
    }
    expect(m).toMatchObject({ name: 'cfc-nano', version: '1.1.0', input: { shape: [1, 4] } })
    expect(Object.keys(m.budgets).sort()).toEqual(['cortex-a53', 'stm32h743', 'x86-edge'])
    expect(m.evaluation.samples).toHaveLength(32)
    const ok = await model(['verify', out, '--key', join(dir, 'k.pub.pem'), '--golden'])
    expect(ok.code, ok.stderr).toBe(0)
    const keyless = await model(['build-cfc', '--size', 'nano', '--out', join(dir, 'x.liquid')], { LLN_SIGNING_KEY: '' })
    if (findSigningKey(undefined, {}, process.cwd()) === null) expect(keyless.stderr).toMatch(/no signing key: pass --key FILE/)
  })

  it('build-cfc finds the sandbox signing key in the directory it runs in or one above', () => {
    const repo = mkdtempSync(join(tmpdir(), 'lln-repo-'))
    mkdirSync(join(repo, '.lln', 'sandbox'), { recursive: true })
    mkdirSync(join(repo, 'a', 'b'), { recursive: true })
    writeFileSync(join(repo, '.lln', 'sandbox', 'publisher.pem'), 'key')
    expect(findSigningKey(undefined, {}, join(repo, 'a', 'b'))).toBe(join(repo, '.lln', 'sandbox', 'publisher.pem'))
    expect(findSigningKey(undefined, { LLN_SIGNING_KEY: '/k.pem' }, repo)).toBe('/k.pem')
    expect(findSigningKey('/flag.pem', { LLN_SIGNING_KEY: '/k.pem' }, repo)).toBe('/flag.pem')
    expect(findSigningKey(undefined, {}, tmpdir())).toBeNull()
  })

  it('exits with code 2 and names the problem when a flag is invalid', async () => {
    const r = await runCli(['run', '--device-id', 'bad/id', '--publisher-key', '/nonexistent.pem'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/CONFIG_INVALID[\s\S]*deviceId/)
  })
})
