import * as z from 'zod'
import { defineConfig } from '@liquid-edge/config'

/** Where `liquid-lln` finds the controller, and as whom. */
export const CliConfigSchema = z.object({
  apiUrl: z
    .url({ protocol: /^https?$/, error: 'not an http(s) URL' })
    .default('http://127.0.0.1:8080')
    .describe('the controller HTTP API'),
  token: z.string().min(1).optional().describe('bearer token (scopes read < operate < admin)'),
})
export type CliConfig = z.output<typeof CliConfigSchema>

/**
 * The global options: `--api-url`/`LLN_API_URL`, `--token`/`LLN_TOKEN` and a JSON file
 * (`-c, --config`/`LLN_CONFIG`) holding either, from the same helper as every other executable.
 */
export const cliConfig = defineConfig({ name: 'liquid-lln', schema: CliConfigSchema, settings: { token: { flag: '--token <token>' } } })
