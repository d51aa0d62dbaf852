/**
 * @liquid-edge/cli — `liquid-lln`, the operators' command line: a client of the controller's HTTP API.
 */
export { runCli } from './program.js'
export { CliError, EXIT } from './client.js'
export { VERDICT_FAILED } from './runbook/stream.js'
export type { Io } from './output.js'
