/**
 * `npm start [-- --demo] [-- --count N]`: start the sandbox (embedded broker, controller and a
 * simulated fleet on the local Redis), print what to type next, and run until Ctrl-C.
 * With `--demo`, play the scripted rollout story unattended and exit.
 */
import { parseArgs } from 'node:util'
import { playDemo } from './demo.js'
import { DEFAULT_DIR, defaultFleet, startSandbox, type Sandbox } from './sandbox.js'
import { waitForFleet } from './fleet.js'

const out = (line: string) => process.stdout.write(`${line}\n`)

const { values } = parseArgs({
  options: {
    demo: { type: 'boolean', default: false },
    count: { type: 'string', default: '50' },
    dir: { type: 'string', default: DEFAULT_DIR },
    'redis-url': { type: 'string', default: process.env.LLN_REDIS_URL ?? 'redis://127.0.0.1:6379' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  out('usage: npm start [-- --demo] [-- --count N] [-- --redis-url URL] [-- --dir DIR]')
  process.exit(0)
}
const count = Number(values.count)
if (!Number.isInteger(count) || count < 4 || count > 2000) {
  process.stderr.write(`--count must be a whole number from 4 to 2000 (got '${values.count}')\n`)
  process.exit(2)
}

let sandbox: Sandbox | undefined
let stopping = false
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true
    out('\nstopping the fleet, the controller and the broker…')
    await sandbox?.close()
    out('stopped.')
  }
  process.exit(code)
}
process.once('SIGINT', () => void shutdown(130))
process.once('SIGTERM', () => void shutdown(143))

try {
  out('Liquid Edge sandbox')
  sandbox = await startSandbox({
    redisUrl: values['redis-url'],
    dir: values.dir,
    fleet: defaultFleet(count),
    ports: { mqtt: 1884, brokerHttp: 9883, api: 8080 },
    ...(values.demo ? { telemetryWindowMs: 1000, rulesTimeScale: 0.05, rulesEvalMs: 1000 } : {}),
    say: (line) => out(`  ✔ ${line}`),
  })
  await waitForFleet(sandbox, count, (line) => out(`  … ${line}`))
  out(`  ✔ ${count} devices online and reporting`)
  if (values.demo) {
    const ok = await playDemo(sandbox, out)
    await shutdown(ok ? 0 : 1)
  }
  out(`
Ready. In another terminal:

  source ${sandbox.dir}/env.sh     # liquid-lln on PATH, with LLN_API_URL and LLN_TOKEN
  liquid-lln device list
  liquid-lln deploy --target env=staging --model cfc-sense@1.0.0
  liquid-lln deploy --target hw=stm32h743 --model cfc-sense@1.1.0 --subset 25%
  liquid-lln status
  liquid-lln rollback --target env=staging --to-previous

Break devices on cue (fault control of each simulated fleet):
${Object.entries(sandbox.control)
  .map(([group, url]) => `  ${group.padEnd(10)} curl -X POST ${url}/faults -d '{"percent":25,"set":{"latencyFactor":3}}'`)
  .join('\n')}

Broker ${sandbox.mqttUrl}, API ${sandbox.apiUrl}, metrics ${sandbox.brokerHttpUrl}/metrics and ${sandbox.apiUrl}/metrics.
Logs in ${sandbox.dir}/logs. Ctrl-C stops everything.`)
  await new Promise(() => undefined)
} catch (err) {
  process.stderr.write(`\nnpm start failed: ${err instanceof Error ? err.message : String(err)}\n`)
  await sandbox?.close()
  process.exit(1)
}
