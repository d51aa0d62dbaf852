/** `npm run gen:docs`: write the controller's OpenAPI document, the source of the CLI's typed client. */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { apiDocument } from '../src/index.js'

export const OPENAPI_PATH = 'docs/openapi.json'

/** The checked-in text of the document. */
export function openApiText(): string {
  return `${JSON.stringify(apiDocument(), null, 2)}\n`
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  writeFileSync(join(import.meta.dirname, '..', '..', OPENAPI_PATH), openApiText())
  console.log(`wrote ${OPENAPI_PATH}`)
}
