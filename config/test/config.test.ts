import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { describe, expect, it } from 'vitest'
import * as z from 'zod'
import { defineConfig } from '@liquid-edge/config'
import { isFleetError } from '@liquid-edge/protocol'

const Schema = z
  .object({
    root: z.string().default('lln/v1').describe('topic root'),
    tcp: z
      .object({
        enabled: z.boolean().default(true).describe('plain listener on'),
        port: z.number().int().min(0).max(65535).default(1883).describe('MQTT port'),
      })
      .prefault({}),
    tls: z.object({ enabled: z.boolean().default(false), certFile: z.string().optional().describe('certificate') }).prefault({}),
    mode: z.enum(['memory', 'redis']).default('memory').describe('persistence'),
    keys: z.array(z.string()).default([]).describe('key files'),
    rules: z
      .preprocess((v) => (Array.isArray(v) ? v.join(';') : v), z.string())
      .default('')
      .describe('rules'),
    password: z.string().min(8).optional().describe('secret'),
    debug: z.boolean().default(false).describe('verbose'),
    drainMs: z.number().int().default(10).describe('drain'),
  })
  .superRefine((c, ctx) => {
    if (c.tls.enabled && c.tls.certFile === undefined)
      ctx.addIssue({ code: 'custom', path: ['tls', 'certFile'], message: 'TLS needs a certificate' })
  })

const spec = defineConfig({
  name: 'probe',
  schema: Schema,
  settings: {
    'tcp.enabled': { env: 'LLN_MQTT_ENABLED', flag: '--no-mqtt' },
    'tcp.port': { env: 'LLN_MQTT_PORT', flag: '--mqtt-port <port>' },
    'tls.enabled': { flag: false },
    'tls.certFile': { flag: '--tls-cert <file>', implies: { 'tls.enabled': true } },
    rules: { flag: '--rule <rule>', repeatable: true, raw: true },
    drainMs: { flag: false },
  },
})

/** Parse argv the way an executable does, and load the configuration from it. */
function run(argv: string[], env: Record<string, string> = {}) {
  let loaded: ReturnType<typeof spec.load> | undefined
  const command = spec.addOptions(new Command('probe').exitOverride()).action((flags: Record<string, unknown>) => {
    loaded = spec.load({ env, flags })
  })
  command.parse(argv, { from: 'user' })
  if (loaded === undefined) throw new Error('the action did not run')
  return loaded
}

function refusal(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (isFleetError(err, 'CONFIG_INVALID')) return err.message
    throw err
  }
  throw new Error('expected CONFIG_INVALID')
}

describe('defineConfig', () => {
  it('names a variable and a flag after each setting unless told otherwise', () => {
    const by = Object.fromEntries(spec.settings.map((s) => [s.key, [s.flag, s.env]]))
    expect(by).toMatchObject({
      root: ['--root <value>', 'LLN_ROOT'],
      'tcp.port': ['--mqtt-port <port>', 'LLN_MQTT_PORT'],
      'tls.enabled': [null, 'LLN_TLS_ENABLED'],
      'tls.certFile': ['--tls-cert <file>', 'LLN_TLS_CERT_FILE'],
      mode: ['--mode <mode>', 'LLN_MODE'],
      keys: ['--keys <list>', 'LLN_KEYS'],
      debug: ['--debug [bool]', 'LLN_DEBUG'],
      drainMs: [null, 'LLN_DRAIN_MS'],
    })
    expect(spec.envNames).toContain('LLN_CONFIG')
  })

  it('refuses a settings entry the schema does not have, and a variable used twice', () => {
    expect(() => defineConfig({ name: 'x', schema: Schema, settings: { nope: {} } })).toThrow(/'nope' is not a setting/)
    expect(() => defineConfig({ name: 'x', schema: Schema, settings: { root: { env: 'LLN_MODE' } } })).toThrow(/LLN_MODE is used twice/)
  })
})

describe('loading', () => {
  it('takes defaults < file < env < flags < values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lln-config-'))
    const file = join(dir, 'probe.json')
    writeFileSync(file, JSON.stringify({ root: 'file/v1', tcp: { port: 1000 }, mode: 'redis', drainMs: 5 }))
    const c = spec.load({
      env: { LLN_CONFIG: file, LLN_MQTT_PORT: '2000', LLN_ROOT: 'env/v1' },
      flags: { root: 'flag/v1' },
      values: { drainMs: 7 },
    })
    expect(c).toMatchObject({ root: 'flag/v1', tcp: { enabled: true, port: 2000 }, mode: 'redis', drainMs: 7 })
    expect(Object.isFrozen(c)).toBe(true)
    expect(spec.load()).toMatchObject({ root: 'lln/v1', tcp: { port: 1883 }, keys: [], debug: false })
  })

  it('turns flag and variable text into numbers, booleans and lists; an empty variable is unset', () => {
    expect(
      spec.load({ env: { LLN_MQTT_PORT: '1884', LLN_MQTT_ENABLED: 'off', LLN_KEYS: 'a.pem, b.pem', LLN_DEBUG: 'yes', LLN_ROOT: '' } }),
    ).toMatchObject({ root: 'lln/v1', tcp: { enabled: false, port: 1884 }, keys: ['a.pem', 'b.pem'], debug: true })
    expect(run(['--mqtt-port', '0', '--debug', '--keys', 'k1,k2'])).toMatchObject({ tcp: { port: 0 }, debug: true, keys: ['k1', 'k2'] })
    expect(run(['--debug', 'false']).debug).toBe(false)
  })

  it('applies negations, implications and repeated flags only when they are given', () => {
    expect(run([], { LLN_MQTT_ENABLED: 'false' }).tcp.enabled).toBe(false)
    expect(run(['--no-mqtt']).tcp.enabled).toBe(false)
    expect(run(['--tls-cert', 'c.pem']).tls).toEqual({ enabled: true, certFile: 'c.pem' })
    expect(run(['--rule', 'a', '--rule', 'b']).rules).toBe('a;b')
  })

  it('refuses a bad value with CONFIG_INVALID naming the setting, its flag and variable, and what gave it', () => {
    const message = refusal(() => run(['--mode', 'redis'], { LLN_MQTT_PORT: 'abc', LLN_PASSWORD: 'short' }))
    expect(message).toMatch(/^invalid probe configuration:/)
    expect(message).toMatch(/tcp\.port \(--mqtt-port, LLN_MQTT_PORT\): .*number.*; given by LLN_MQTT_PORT="abc"/)
    expect(message).toMatch(/password \(--password, LLN_PASSWORD\): .*; given by LLN_PASSWORD=\(hidden\)/)
    expect(message).not.toContain('short')
    expect(refusal(() => spec.load({ values: { tls: { enabled: true } } }))).toMatch(
      /tls\.certFile \(--tls-cert, LLN_TLS_CERT_FILE\): TLS needs a certificate/,
    )
    expect(refusal(() => spec.load({ env: { LLN_CONFIG: '/nonexistent/probe.json' } }))).toMatch(/config file \/nonexistent\/probe\.json/)
  })

  it('lets commander refuse a value outside an enum before loading', () => {
    expect(() => run(['--mode', 'disk'])).toThrow(/Allowed choices are memory, redis/)
  })
})

describe('--help', () => {
  it('lists every flag with its variable and default, and the settings that only have a variable', () => {
    const help = spec.addOptions(new Command('probe')).helpInformation()
    expect(help).toMatch(/--mqtt-port <port>\s+MQTT port \(env LLN_MQTT_PORT; default 1883\)/)
    expect(help).toMatch(/--no-mqtt\s+plain listener on \(env LLN_MQTT_ENABLED; default true\)/)
    expect(help).toContain('-c, --config <file>')
    const all: string[] = []
    const command = spec.addOptions(new Command('probe')).configureOutput({ writeOut: (s) => all.push(s) })
    command.outputHelp()
    expect(all.join('')).toMatch(
      /Environment variables without a flag:\n\s+LLN_TLS_ENABLED\s+tls\.enabled \(default false\)\n\s+LLN_DRAIN_MS\s+drain \(default 10\)/,
    )
  })
})
