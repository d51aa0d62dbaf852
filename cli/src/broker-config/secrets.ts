import { readFile } from 'node:fs/promises'
import * as z from 'zod'
import { DeviceIdSchema } from '@liquid-edge/protocol'
import { CliError, EXIT } from '../client.js'

/**
 * A secret a broker hashes: printable ASCII without spaces, at least 16 characters (the controller's
 * are 43: 32 random bytes, base64url), at most 72 bytes (bcrypt reads no further, so two longer
 * secrets sharing 72 bytes would both pass).
 */
const SecretSchema = z
  .string()
  .min(16, 'a secret has at least 16 characters')
  .max(72, 'a secret has at most 72 characters (bcrypt ignores the rest)')
  .regex(/^[\x21-\x7e]+$/, 'a secret is printable ASCII without spaces')

const LineSchema = z.object({ id: DeviceIdSchema, secret: SecretSchema })

/**
 * Parse `id:secret` lines: the credentials file `liquid-agent simulate --credentials-file` and the
 * sandbox write (a secret `liquid-lln device add` printed goes in as one more line). Blank lines and
 * `#` comments are ignored. @throws {CliError} exit 2 naming the file, line and what is wrong
 */
export function parseSecrets(text: string, path: string): Map<string, string> {
  const out = new Map<string, string>()
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const at = line.indexOf(':')
    const where = `${path}:${String(i + 1)}`
    const parsed = LineSchema.safeParse(at < 0 ? {} : { id: line.slice(0, at), secret: line.slice(at + 1) })
    if (!parsed.success) {
      const why = at < 0 ? 'expected id:secret' : parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')
      throw new CliError(`--credentials ${where}: ${why}`, EXIT.USAGE, 'CLI_BAD_FILE')
    }
    const { id, secret } = parsed.data
    if (out.has(id) && out.get(id) !== secret)
      throw new CliError(`--credentials ${where}: a second, different secret for ${id}`, EXIT.USAGE, 'CLI_BAD_FILE')
    out.set(id, secret)
  })
  return out
}

/** Read and parse a credentials file. @throws {CliError} exit 2 */
export async function readSecrets(path: string): Promise<Map<string, string>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new CliError(
      `--credentials: cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`,
      EXIT.USAGE,
      'CLI_BAD_FILE',
    )
  }
  return parseSecrets(text, path)
}
