import type { Redis } from 'ioredis'
import * as z from 'zod'
import { CommandBodySchema, MessageIdSchema, type CommandInput } from '@liquid-edge/protocol'
import type { Keys } from '../keys.js'
import type { MqttLink } from '../mqtt/link.js'
import { safeJson } from '../safe-json.js'

const PendingSchema = z.object({ id: MessageIdSchema, body: CommandBodySchema })

// Forget a device's pending command only when the answer is to that command (not an older one).
const ANSWERED_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or cjson.decode(cur).id ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1`

/**
 * The commands a rollout sent (a rollback by standby slot, a blue-green switch), kept in Redis
 * until the device answers or they expire. MQTT commands are not retained: one sent to a device
 * that was offline, or lost with a restarted broker, is sent again — same id, so the device runs
 * it at most once — when the device comes back or the broker does.
 */
export class PendingCommands {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly link: MqttLink,
  ) {}

  /** Publish a command and remember it (one per device: a newer one replaces an older one). */
  async send(deviceId: string, body: CommandInput, id: string): Promise<void> {
    const parsed = PendingSchema.parse({ id, body })
    await this.redis.hset(this.keys.pendingCommands, deviceId, JSON.stringify(parsed))
    await this.link.publishCommand(deviceId, parsed.body, id)
  }

  /** A device answered `commandId`: it is no longer pending. */
  async answered(deviceId: string, commandId: string): Promise<void> {
    await this.redis.eval(ANSWERED_LUA, 1, this.keys.pendingCommands, deviceId, commandId)
  }

  /** Send again the pending commands of these devices; expired ones are dropped. Returns how many were sent. */
  async resend(deviceIds: readonly string[], now: number): Promise<number> {
    if (deviceIds.length === 0) return 0
    const raws = await this.redis.hmget(this.keys.pendingCommands, ...deviceIds)
    let sent = 0
    for (const [i, raw] of raws.entries()) {
      const deviceId = deviceIds[i]
      if (raw === null || deviceId === undefined) continue
      const pending = safeJson(PendingSchema, raw)
      if (pending === null || pending.body.expiresAt < now) {
        await this.redis.hdel(this.keys.pendingCommands, deviceId)
        continue
      }
      await this.link.publishCommand(deviceId, pending.body, pending.id)
      sent++
    }
    return sent
  }
}
