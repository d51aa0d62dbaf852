import { createHash, randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import * as z from 'zod'
import type { Keys } from '../keys.js'

export const SCOPES = ['read', 'operate', 'admin'] as const
export type Scope = (typeof SCOPES)[number]
const RANK: Record<Scope, number> = { read: 0, operate: 1, admin: 2 }

export const TokenRecordSchema = z.object({ name: z.string(), scopes: z.array(z.enum(SCOPES)), createdAt: z.number() })
export type TokenRecord = z.infer<typeof TokenRecordSchema>

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** True when `scopes` include `needed` or a wider scope (admin ⊃ operate ⊃ read). */
export function allows(scopes: readonly Scope[], needed: Scope): boolean {
  return scopes.some((s) => RANK[s] >= RANK[needed])
}

/** Operator bearer tokens, stored only as sha256 digests (tokens are 32 random bytes). */
export class TokenStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** Create a token; the plain token is returned once. */
  async create(name: string, scopes: readonly Scope[]): Promise<string> {
    const token = `lln_${randomBytes(32).toString('base64url')}`
    await this.install(token, name, scopes)
    return token
  }

  /** Store a given token (bootstrap admin token from config). */
  async install(token: string, name: string, scopes: readonly Scope[]): Promise<void> {
    const record: TokenRecord = { name, scopes: [...scopes], createdAt: Date.now() }
    await this.redis.hset(this.keys.tokens, digest(token), JSON.stringify(record))
  }

  async verify(token: string): Promise<TokenRecord | null> {
    const raw = await this.redis.hget(this.keys.tokens, digest(token))
    if (raw === null) return null
    const r = TokenRecordSchema.safeParse(JSON.parse(raw))
    return r.success ? r.data : null
  }
}
