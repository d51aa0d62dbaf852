import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CLIENT_TYPES_PATH, clientTypesText } from '../scripts/gen-client.js'

describe('the typed API client', () => {
  it('its types are generated from the checked-in OpenAPI document (run `npm run gen:docs` after changing a route)', async () => {
    const file = readFileSync(join(import.meta.dirname, '..', '..', CLIENT_TYPES_PATH), 'utf8')
    expect(file, `${CLIENT_TYPES_PATH} is stale: run npm run gen:docs`).toBe(await clientTypesText())
  })
})
