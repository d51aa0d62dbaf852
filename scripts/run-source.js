// Runs an executable from its TypeScript source in a clone where `npm run build` has not made dist/
// (the workspace packages resolve to src/ through the @liquid-edge/source condition; tsx compiles).
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

/** Run `source` (a path) with the process's arguments; exit as it exits, forwarding Ctrl-C and SIGTERM. */
export function runSource(source) {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
  const child = spawn(process.execPath, ['--conditions=@liquid-edge/source', '--import', tsx, source, ...process.argv.slice(2)], {
    stdio: 'inherit',
  })
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal))
  child.on('exit', (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal)
    else process.exit(code ?? 1)
  })
}
