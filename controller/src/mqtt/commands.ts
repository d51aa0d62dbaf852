import type { CommandInput, Decoded, ReplyBody } from '@liquid-edge/protocol'
import type { MqttLink } from './link.js'

export interface CommandAnswer {
  deviceId: string
  reply: ReplyBody | null
}

/** Sends commands and correlates replies by command id. */
export class CommandClient {
  private readonly waiting = new Map<string, (reply: ReplyBody) => void>()

  constructor(private readonly link: MqttLink) {
    link.on('message', (m: Decoded) => {
      if (m.message.type !== 'reply') return
      const body = m.message.body
      this.waiting.get(body.commandId)?.(body)
    })
  }

  /** Send `body` to each device; answers arrive or are `null` when `timeoutMs` passes. */
  async request(deviceIds: readonly string[], body: CommandInput, timeoutMs: number): Promise<CommandAnswer[]> {
    return Promise.all(
      deviceIds.map(async (deviceId) => {
        const id = `c-${globalThis.crypto.randomUUID()}`
        const answer = new Promise<ReplyBody | null>((resolve) => {
          const timer = setTimeout(() => {
            this.waiting.delete(id)
            resolve(null)
          }, timeoutMs)
          this.waiting.set(id, (reply) => {
            if (!reply.final) return
            clearTimeout(timer)
            this.waiting.delete(id)
            resolve(reply)
          })
        })
        await this.link.publishCommand(deviceId, body, id)
        return { deviceId, reply: await answer }
      }),
    )
  }
}
