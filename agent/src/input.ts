import { FleetError, type PackageManifest } from '@liquid-edge/protocol'

/**
 * An inference input fits the model of a slot: as many finite values as its input tensor holds.
 * @throws {FleetError} `AGENT_NO_MODEL` (no model in the slot), `AGENT_INPUT_SHAPE`
 */
export function checkInput(input: Float32Array, manifest: PackageManifest | null): void {
  if (manifest === null) throw new FleetError('AGENT_NO_MODEL', 'no model in that slot')
  const want = manifest.input.shape.reduce((a, b) => a * b, 1)
  if (input.length !== want) {
    throw new FleetError(
      'AGENT_INPUT_SHAPE',
      `input has ${input.length} values; the model ${manifest.name}@${manifest.version} expects ${want} (shape [${manifest.input.shape.join(', ')}])`,
    )
  }
  for (const v of input) if (!Number.isFinite(v)) throw new FleetError('AGENT_INPUT_SHAPE', 'input values must be finite numbers')
}
