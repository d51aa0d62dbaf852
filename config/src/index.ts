/**
 * @liquid-edge/config — one zod schema per executable becomes its flags, its `LLN_*` environment
 * variables, its JSON config file, its `--help` lines and its `CONFIG_INVALID` errors.
 */
import type { Command } from 'commander'
import type * as z from 'zod'
import { addSettingOptions, describeSetting } from './command.js'
import { resolveSettings, type ConfigDefinition, type Setting } from './define.js'
import { configError, loadLayers, type ConfigSources } from './load.js'

export { envNameOf, type ConfigDefinition, type Setting, type SettingOptions } from './define.js'
export { mergeLayers, type ConfigSources, type Env } from './load.js'
export type { LeafKind } from './leaves.js'
export { brokerUrls, brokerUrlsSchema } from './broker-urls.js'

/** A configuration: its schema and how every setting is reached. */
export interface ConfigSpec<S extends z.ZodType> {
  readonly name: string
  readonly schema: S
  readonly settings: readonly Setting[]
  /** Every `LLN_*` variable this configuration reads (`LLN_CONFIG` included). */
  readonly envNames: ReadonlySet<string>
  /**
   * Defaults < JSON file (`--config` or `LLN_CONFIG`) < environment < flags < values.
   * @throws {FleetError} `CONFIG_INVALID` naming each bad setting and the flag, variable or file it came from
   */
  load(sources?: ConfigSources): Readonly<z.output<S>>
  /** Validate a configuration object. @throws {FleetError} `CONFIG_INVALID` */
  parse(input: unknown): Readonly<z.output<S>>
  /** Add `--config` and the settings' flags (all, or those named) to a command. */
  addOptions(command: Command, only?: readonly string[]): Command
  /** One line per setting: flag, variable, default and meaning (for READMEs and reviews). */
  describe(): string[]
}

/** Define the configuration of an executable from its zod schema. */
export function defineConfig<S extends z.ZodType>(definition: ConfigDefinition<S>): ConfigSpec<S> {
  const settings = resolveSettings(definition)
  const { name, schema } = definition
  return Object.freeze({
    name,
    schema,
    settings,
    envNames: new Set(['LLN_CONFIG', ...settings.flatMap((s) => (s.env === null ? [] : [s.env]))]),
    load: (sources: ConfigSources = {}) => loadLayers(name, schema, settings, sources) as Readonly<z.output<S>>,
    parse: (input: unknown) => {
      const parsed = schema.safeParse(input)
      if (!parsed.success) throw configError(name, parsed.error, settings)
      return Object.freeze(parsed.data)
    },
    addOptions: (command: Command, only?: readonly string[]) => addSettingOptions(command, settings, only),
    describe: () => settings.map((s) => `${s.flag?.split(' ')[0] ?? '-'}\t${describeSetting(s)}`),
  })
}
