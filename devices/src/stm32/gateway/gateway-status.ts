import { mkdir, readFile } from 'node:fs/promises'
import { writeFileAtomic } from '@liquid-edge/agent'
import { createCodec, deviceMessage } from '@liquid-edge/protocol'

const SESSION_FILE = 'gateway-session.json'

/**
 * The gateway's own status (docs/device-contract.md §2): a session number per connection, persisted
 * in `stateDir` before it is used, and the retained status payload its Last Will also carries.
 */
export function gatewayStatus(o: { gatewayId: string; root?: string; stateDir: string; agentVersion?: string }) {
  const codec = createCodec(o.root === undefined ? {} : { root: o.root })
  let last: number | null = null
  return {
    async nextSession(): Promise<number> {
      if (last === null) {
        await mkdir(o.stateDir, { recursive: true })
        const stored = await readFile(`${o.stateDir}/${SESSION_FILE}`, 'utf8').catch(() => '{"session":0}')
        const parsed = JSON.parse(stored) as { session?: unknown }
        last = typeof parsed.session === 'number' && Number.isSafeInteger(parsed.session) ? parsed.session : 0
      }
      const next: number = last + 1
      await writeFileAtomic(o.stateDir, SESSION_FILE, new TextEncoder().encode(JSON.stringify({ session: next })))
      last = next
      return next
    },
    status(online: boolean, session: number): Uint8Array {
      const body = { online, session, hardware: 'gateway', agentVersion: o.agentVersion ?? '0.1.0' }
      return codec.encode(deviceMessage('status', o.gatewayId, body))
    },
  }
}
