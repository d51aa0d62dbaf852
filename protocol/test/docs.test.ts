import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { encode, type MessageType } from '@liquid-edge/protocol'
import { generatedDocs } from '../scripts/docs.js'
import { SAMPLES } from './fixtures.js'

const root = join(import.meta.dirname, '..', '..')

describe('generated protocol documents', () => {
  it('the AsyncAPI document validates with zero errors', () => {
    // @asyncapi/parser runs in its own process: its dependency tree does not load under vitest's module runner.
    const r = spawnSync(process.execPath, [join(root, 'protocol/scripts/validate-asyncapi.mjs'), join(root, 'docs/asyncapi.yaml')], {
      encoding: 'utf8',
    })
    const diagnostics = JSON.parse(r.stdout) as { severity: number; path: string; message: string }[]
    expect(diagnostics.filter((d) => d.severity === 0)).toEqual([])
    expect(r.status).toBe(0)
  })

  it('describes every channel with its QoS and retain rule', () => {
    const doc = parse(readFileSync(join(root, 'docs/asyncapi.yaml'), 'utf8')) as {
      operations: Record<string, { bindings: { mqtt: { qos: number; retain: boolean } } }>
    }
    expect(doc.operations.receiveDesired?.bindings.mqtt).toEqual({ bindingVersion: '0.2.0', qos: 1, retain: true })
    expect(doc.operations.sendTelemetry?.bindings.mqtt).toEqual({ bindingVersion: '0.2.0', qos: 0, retain: false })
    expect(Object.keys(doc.operations)).toHaveLength(8)
  })

  it('the JSON Schemas accept every valid message and refuse a broken one', () => {
    const ajv = new Ajv2020({ validateFormats: false, allErrors: true })
    for (const type of Object.keys(SAMPLES) as MessageType[]) {
      const schema = JSON.parse(readFileSync(join(root, `docs/protocol/${type}.schema.json`), 'utf8')) as object
      const validate = ajv.compile(schema)
      const json = JSON.parse(new TextDecoder().decode(encode(SAMPLES[type]))) as Record<string, unknown>
      expect(validate(json), `${type}: ${ajv.errorsText(validate.errors)}`).toBe(true)
      expect(validate({ ...json, id: 42 })).toBe(false)
    }
  })

  it('checked-in docs match the schemas (run `npm run gen:docs` after changing protocol)', () => {
    for (const [path, content] of Object.entries(generatedDocs())) {
      expect(readFileSync(join(root, path), 'utf8'), `${path} is stale: run npm run gen:docs`).toBe(content)
    }
  })
})
