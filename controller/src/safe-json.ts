import type * as z from 'zod'

/** A stored JSON value read back through its schema: `null` when missing, not JSON, or not valid. */
export function safeJson<T>(schema: z.ZodType<T>, raw: string | null | undefined): T | null {
  if (raw === null || raw === undefined) return null
  try {
    const r = schema.safeParse(JSON.parse(raw))
    return r.success ? r.data : null
  } catch {
    return null
  }
}
