import { mkdtempSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { EXIT, runCli } from '../src/index.js'

async function run(args: string[], env: Record<string, string> = {}) {
  let out = ''
  let err = ''
  const code = await runCli(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env, isTTY: false })
  return { code, out, err }
}

/** A loopback URL nobody listens on (the port was free a moment ago). */
async function closedUrl(): Promise<string> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return `http://127.0.0.1:${String(port)}`
}

describe('liquid-lln global options', () => {
  it('cli takes the API URL from the flag over LLN_API_URL over the --config file', async () => {
    const [file, env, flag] = [await closedUrl(), await closedUrl(), await closedUrl()]
    const config = join(mkdtempSync(join(tmpdir(), 'lln-cli-config-')), 'lln.json')
    writeFileSync(config, JSON.stringify({ apiUrl: file, token: 't' }))
    const fromFile = await run(['-c', config, 'status'])
    expect(fromFile.err).toContain(`cannot reach the controller at ${file}`)
    const fromEnv = await run(['-c', config, 'status'], { LLN_API_URL: env })
    expect(fromEnv.err).toContain(`cannot reach the controller at ${env}`)
    const fromFlag = await run(['-c', config, '--api-url', flag, 'status'], { LLN_API_URL: env })
    expect(fromFlag.err).toContain(`cannot reach the controller at ${flag}`)
    expect(fromFlag.code).toBe(EXIT.ERROR)
  })

  it('cli refuses a bad URL with CONFIG_INVALID and exit 2, naming where it came from', async () => {
    const bad = await run(['status'], { LLN_API_URL: 'controller:8080' })
    expect(bad.code).toBe(EXIT.USAGE)
    expect(bad.err).toContain('apiUrl (--api-url, LLN_API_URL): not an http(s) URL; given by LLN_API_URL="controller:8080"')
    const json = await run(['--json', '--api-url', 'ftp://x', 'status'])
    expect(json.code).toBe(EXIT.USAGE)
    expect(JSON.parse(json.out)).toMatchObject({ error: { code: 'CONFIG_INVALID' } })
    const token = await run(['--token', '', 'status'])
    expect(token.code).toBe(EXIT.USAGE)
    expect(token.err).not.toContain('""')
  })

  it('cli --help lists each global option with its variable and default', async () => {
    const help = await run(['--help'])
    expect(help.code).toBe(EXIT.OK)
    // Commander wraps the descriptions at the terminal's width: compare with the line breaks undone.
    const text = help.out.replace(/\s+/g, ' ')
    expect(text).toMatch(/--api-url <url> the controller HTTP API \(env LLN_API_URL; default http:\/\/127\.0\.0\.1:8080\)/)
    expect(text).toMatch(/--token <token> bearer token .*\(env LLN_TOKEN\)/)
    expect(text).toMatch(/-c, --config <file>/)
  })
})
