import * as z from 'zod'

const MQTT_URL = /^(mqtts?|tcp|ssl|wss?):\/\/[^,\s]+$/

/** The URLs of a comma-separated broker setting (one broker, or the nodes of one cluster). */
export function brokerUrls(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

/**
 * A broker setting: one MQTT URL, or several comma-separated — the nodes of one clustered broker
 * (NATS, EMQX, liquid-broker on Redis), tried in turn so a client leaves a dead node for the next.
 * Kept as text so one URL stays the plain string it always was; {@link brokerUrls} splits it.
 */
export function brokerUrlsSchema(defaultUrl: string, name = 'the broker') {
  return z
    .string()
    .refine((text) => brokerUrls(text).length > 0 && brokerUrls(text).every((u) => MQTT_URL.test(u)), {
      message: 'must be one mqtt:// or mqtts:// URL, or several separated by commas',
    })
    .default(defaultUrl)
    .describe(`${name}: an mqtt:// or mqtts:// URL, or the nodes of one cluster separated by commas (tried in turn)`)
}
