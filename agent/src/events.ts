import type { ErrorPayload, Phase, ReplyBody, TelemetryBody } from '@liquid-edge/protocol'

/** Events of an {@link Agent} (names in the past tense). */
export interface AgentEvents {
  /** The MQTT session is up (subscribed, status online). */
  connected: []
  disconnected: []
  /** The update phase changed; `error` is the reason code on `failed` and `reverted`. */
  phaseChanged: [phase: Phase, error: ErrorPayload | null]
  /** A trial ended: confirmed, or reverted locally with its reason. */
  trialEnded: [outcome: { confirmed: boolean; error: ErrorPayload | null }]
  /** A telemetry window closed (sent live or buffered). */
  windowClosed: [window: TelemetryBody]
  /** A command was answered. */
  commandAnswered: [reply: ReplyBody]
  /** An inbound message was refused (undecodable, wrong device, invalid schema); it was counted and dropped. */
  messageRefused: [error: { code: string; message: string }]
  error: [error: Error]
}
