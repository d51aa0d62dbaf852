import type { Kit } from '../kit.js'

/** One check of the kit: what it verifies, the contract clause it comes from, and how. */
export interface Check {
  id: string
  /** Section of docs/device-contract.md, e.g. `§6.5`. */
  clause: string
  title: string
  /** Needs the operator to take the device offline (left out with `skip: ['offline']`). */
  offline?: boolean
  /** Resolves with what was seen when the device complies; throws a `CheckFailure` otherwise. */
  run(kit: Kit): Promise<string>
}
