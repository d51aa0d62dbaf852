import { join } from 'node:path'
import { ESLint } from 'eslint'
import tseslint from 'typescript-eslint'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')
// The dependency rules are syntactic; skipping type information lets us lint snippets at any path.
const eslint = new ESLint({ cwd: root, overrideConfig: [tseslint.configs.disableTypeChecked] })

async function ruleErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, filePath) })
  return (result?.messages ?? []).filter((m) => m.severity === 2).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`)
}

describe('dependency rules (DESIGN.md, "The parts")', () => {
  it.each([
    ['protocol/src/probe.ts', "import { readFileSync } from 'node:fs'\nexport const x = readFileSync", /protocol imports only zod/],
    ['protocol/src/probe.ts', "import pino from 'pino'\nexport const x = pino", /protocol imports only zod/],
    ['agent/src/probe.ts', "import { x } from '@liquid-edge/controller'\nexport const y = x", /agent may import only zod, protocol/],
    ['agent/src/probe.ts', "import { x } from '@liquid-edge/broker'\nexport const y = x", /agent may import only/],
    ['broker/src/probe.ts', "import { x } from '@liquid-edge/agent'\nexport const y = x", /broker may import only/],
    ['controller/src/probe.ts', "import { x } from '@liquid-edge/devices'\nexport const y = x", /controller may import only/],
    ['devices/src/probe.ts', "import { x } from '@liquid-edge/controller'\nexport const y = x", /devices may import only/],
    ['cli/src/probe.ts', "import { x } from '@liquid-edge/controller'\nexport const y = x", /cli may import only zod, protocol, config/],
    ['controller/src/probe.ts', "import { x } from '@liquid-edge/cli'\nexport const y = x", /controller may import only/],
    ['agent/src/probe.ts', "import { x } from '@liquid-edge/test/harness'\nexport const y = x", /agent may import only/],
    ['agent/src/probe.ts', "import { x } from '@liquid-edge/protocol/src/codec.js'\nexport const y = x", /by name only/],
    ['package/src/probe.ts', "import { x } from '@liquid-edge/agent'\nexport const y = x", /package may import only zod, protocol/],
    [
      'broker/src/probe.ts',
      "import { x } from '@liquid-edge/package'\nexport const y = x",
      /broker may import only zod, protocol, config, http/,
    ],
    ['console/src/probe.tsx', "import { x } from '@liquid-edge/controller'\nexport const y = x", /console may import only zod, protocol/],
    ['controller/src/probe.ts', "import { x } from '@liquid-edge/console'\nexport const y = x", /controller may import only/],
    ['config/src/probe.ts', "import { x } from '@liquid-edge/broker'\nexport const y = x", /config may import only zod, protocol/],
    ['agent/src/probe.ts', "import { x } from '@liquid-edge/config'\nexport const y = x", /agent may import only/],
    ['http/src/probe.ts', "import { x } from '@liquid-edge/agent'\nexport const y = x", /http may import only zod, protocol/],
    ['controller/src/probe.ts', "import { x } from '@liquid-edge/http'\nexport const y = x", /controller may import only/],
  ])('%s: refuses %j', async (file, code, message) => {
    const errors = await ruleErrors(file, code)
    expect(errors.join('\n')).toMatch(message)
  })

  it.each([
    ['devices/src/probe.ts', "import { x } from '@liquid-edge/agent'\nimport { y } from '@liquid-edge/protocol'\nexport const z = [x, y]"],
    ['controller/src/probe.ts', "import { x } from '@liquid-edge/protocol'\nexport const y = x"],
    ['console/src/probe.tsx', "import { x } from '@liquid-edge/protocol'\nexport const y = x"],
    ['cli/src/probe.ts', "import { x } from '@liquid-edge/protocol'\nexport const y = x"],
    ['cli/src/probe.ts', "import { x } from '@liquid-edge/config'\nexport const y = x"],
    ['agent/src/probe.ts', "import { x } from '@liquid-edge/package'\nexport const y = x"],
    ['broker/src/probe.ts', "import { x } from '@liquid-edge/config'\nexport const y = x"],
    [
      'package/src/probe.ts',
      "import { x } from '@liquid-edge/protocol'\nimport { createHash } from 'node:crypto'\nexport const y = [x, createHash]",
    ],
    ['protocol/src/probe.ts', "import * as z from 'zod'\nimport { x } from './topics.js'\nexport const y = [z, x]"],
    ['agent/test/probe.test.ts', "import { x } from '@liquid-edge/test/harness'\nexport const y = x"],
  ])('%s: allows %j', async (file, code) => {
    const errors = await ruleErrors(file, code)
    expect(errors.filter((e) => e.startsWith('no-restricted-imports'))).toEqual([])
  })
})
