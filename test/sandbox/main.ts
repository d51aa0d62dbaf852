/**
 * `npm start [-- --demo] [-- --count N]`: start the sandbox (embedded broker, controller and a
 * simulated fleet on the local Redis), print what to type next, and run until Ctrl-C.
 * With `--demo`, play the scripted rollout story unattended and exit.
 */
import { parseArgs } from 'node:util'
import { playDemo } from './demo.js'
import { DEFAULT_DIR, defaultFleet, startSandbox, type Sandbox } from './sandbox.js'
import { deviceEndpoints, waitForFleet } from './fleet.js'
import { openFileLimit } from '../harness/servers.js'

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
const MAX_COUNT = 100_000
const count = Number(values.count)
if (!Number.isInteger(count) || count < 4 || count > MAX_COUNT) {
  process.stderr.write(`--count must be a whole number from 4 to ${MAX_COUNT} (got '${values.count}')\n`)
  process.exit(2)
}
// The broker holds one socket per device, plus its listeners, Redis and the controller.
const fileLimit = openFileLimit()
if (fileLimit !== null && count + 500 > fileLimit) {
  process.stderr.write(
    `--count ${count} needs about ${count + 500} open files in the broker; this shell allows ${fileLimit}.\n` +
      `Raise the limit first (ulimit -n ${count + 1000}, or LimitNOFILE / limits.conf), or use --count ${Math.max(4, fileLimit - 500)} or fewer.\n`,
  )
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
  const endpoints = await deviceEndpoints(sandbox)
  out(`
Ready. Watch it in the web console: ${sandbox.consoleUrl}
  log in with the sandbox's admin token: ${sandbox.token}

In another terminal:

  source ${sandbox.dir}/env.sh     # liquid-lln and liquid-agent on PATH, with LLN_API_URL, LLN_TOKEN and LLN_SIGNING_KEY
  liquid-lln device list
  liquid-lln deploy --target simulation --model cfc-sense@1.0.0 --strategy all
  liquid-lln deploy --target hw=stm32h743 --model cfc-sense@1.1.0 --steps 25,100 --bake 30s
  liquid-lln status
  liquid-lln rollback --target hw=stm32h743 --to-previous

Break devices on cue (fault control of each simulated fleet; the rules watch running rollouts, see the README):
${Object.entries(sandbox.control)
  .map(([group, url]) => `  ${group.padEnd(10)} curl -X POST ${url}/faults -d '{"percent":100,"set":{"errorRate":0.3}}'`)
  .join('\n')}

A device's local API, as the applications on an edge node call it (POST /inference {"input":[…]}, GET /health, GET /metrics):
${Object.values(endpoints)
  .map(({ deviceId, url }) => `  ${deviceId.padEnd(14)} ${url}`)
  .join('\n')}
  e.g. curl ${Object.values(endpoints)[0]?.url ?? ''}/health   (shows its model; POST as many input values as that model takes)

Broker ${sandbox.mqttUrl}, API ${sandbox.apiUrl}, metrics ${sandbox.brokerHttpUrl}/metrics and ${sandbox.apiUrl}/metrics.
Logs in ${sandbox.dir}/logs. Ctrl-C stops everything.`)
  await new Promise(() => undefined)
} catch (err) {
  process.stderr.write(`\nnpm start failed: ${err instanceof Error ? err.message : String(err)}\n`)
  await sandbox?.close()
  process.exit(1)
}
