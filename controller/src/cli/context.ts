import type { Command } from 'commander'
import { ApiClient, CliError, EXIT } from './client.js'
import type { Io } from './output.js'

export interface GlobalOptions {
  apiUrl?: string
  token?: string
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

  client(): ApiClient {
    const url = this.opts.apiUrl ?? this.io.env.LLN_API_URL ?? 'http://127.0.0.1:8080'
    if (!/^https?:\/\//.test(url)) throw new CliError(`--api-url: '${url}' is not an http(s) URL`, EXIT.USAGE, 'CLI_BAD_FLAG')
    return new ApiClient(url, this.opts.token ?? this.io.env.LLN_TOKEN)
  }

  /** Print JSON with --json, else the human text. */
  print(data: unknown, human: () => string): void {
    this.io.stdout(this.json ? `${JSON.stringify(data, null, 2)}\n` : human())
  }
}
