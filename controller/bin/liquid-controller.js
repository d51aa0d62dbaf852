#!/usr/bin/env node
// `liquid-controller`: the compiled executable (dist/, made by `npm run build`), else its source through tsx.
import { existsSync } from 'node:fs'

const dist = new URL('../dist/bin/liquid-controller.js', import.meta.url)
if (existsSync(dist)) await import(dist.href)
else (await import('../../scripts/run-source.js')).runSource(new URL('../src/bin/liquid-controller.ts', import.meta.url).pathname)
