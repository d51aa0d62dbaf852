import type { Command } from 'commander'
import { isFleetError } from '@liquid-edge/protocol'
import { ApiClient, CliError, EXIT } from './client.js'
import { cliConfig, type CliConfig } from './config.js'
import type { Io } from './output.js'

export interface GlobalOptions {
  json?: boolean
}

/** What every command needs: output, the global flags, an API client. */
export class Context {
  constructor(
    readonly io: Io,
    private readonly program: Command,
  ) {}

  get opts(): GlobalOptions {
    return this.program.opts<GlobalOptions>()
  }
  get json(): boolean {
    return this.opts.json === true
  }

  /** The global settings: flags over `LLN_*` variables over the `--config` file. */
  config(): CliConfig {
    try {
      return cliConfig.load({ env: this.io.env, flags: this.program.opts() })
    } catch (err) {
      if (isFleetError(err, 'CONFIG_INVALID')) throw new CliError(err.message, EXIT.USAGE, 'CONFIG_INVALID')
      throw err
    }
  }

  client(): ApiClient {
    const { apiUrl, token } = this.config()
    return new ApiClient(apiUrl, token)
  }

  /** Print JSON with --json, else the human text. */
  print(data: unknown, human: () => string): void {
    this.io.stdout(this.json ? `${JSON.stringify(data, null, 2)}\n` : human())
  }
}
