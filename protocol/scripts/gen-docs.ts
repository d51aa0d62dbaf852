/** `npm run gen:docs`: write the generated protocol documents. */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generatedDocs } from './docs.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
for (const [path, content] of Object.entries(generatedDocs())) {
  mkdirSync(dirname(join(root, path)), { recursive: true })
  writeFileSync(join(root, path), content)
  console.log(`wrote ${path}`)
}
