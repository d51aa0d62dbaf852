/**
 * `npm run bench [area …]`: runs every `bench/<area>/index.ts` (or the areas named) one after the
 * other, each in its own process so that one area's warm-up and memory do not skew another's.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const wanted = process.argv.slice(2)
const areas = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(here, d.name, 'index.ts')))
  .map((d) => d.name)
  .filter((a) => wanted.length === 0 || wanted.includes(a))
  .sort()
if (areas.length === 0) {
  console.error(`no benchmark matches ${wanted.join(', ')}; areas live in bench/<area>/index.ts`)
  process.exit(2)
}
let failed = 0
for (const area of areas) {
  console.log(`\n=== bench/${area}`)
  const r = spawnSync(process.execPath, ['--conditions=@liquid-edge/source', '--import', 'tsx', join(here, area, 'index.ts')], {
    stdio: 'inherit',
  })
  if (r.status !== 0) {
    failed++
    console.error(`bench/${area} exited with ${r.status ?? r.signal}`)
  }
}
process.exit(failed === 0 ? 0 : 1)
