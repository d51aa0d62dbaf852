import { FleetEventBodySchema, type FleetEventBody } from '@liquid-edge/protocol'

/** One record of the audit stream as the API and the console's live stream serve it. */
export type AuditEntry = FleetEventBody & { id: string; at: number }

/** A raw `XRANGE` row of the audit stream → its entry (none when the record does not parse). */
export function auditEntry([id, fields]: [string, string[]]): AuditEntry[] {
  const i = fields.indexOf('event')
  let json: unknown
  try {
    json = JSON.parse(fields[i + 1] ?? '{}')
  } catch {
    return []
  }
  const parsed = FleetEventBodySchema.safeParse(json)
  return parsed.success ? [{ id, at: Number(id.split('-')[0]), ...parsed.data }] : []
}
