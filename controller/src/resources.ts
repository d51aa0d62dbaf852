import type { Logger } from 'pino'

interface Opened {
  name: string
  close: () => Promise<unknown>
}

/**
 * What a component has opened, in order, so that it closes in reverse — the same way whether a
 * later step of its start failed or it is being shut down. Each close runs once; a close that
 * fails is logged and the others still run.
 */
export class Resources {
  private readonly opened: Opened[] = []
  private closing: Promise<void> | undefined

  constructor(private readonly logger: Logger) {}

  /** Register how to close a resource that exists now (constructed, connected or listening). Returns it. */
  add<T>(name: string, resource: T, close: (resource: T) => unknown): T {
    if (this.closing !== undefined) throw new Error(`cannot open ${name}: closing`)
    this.opened.push({ name, close: () => Promise.resolve(close(resource)) })
    return resource
  }

  /** Create a resource and register its close; a creation that throws registers nothing. */
  async open<T>(name: string, create: () => Promise<T>, close: (resource: T) => unknown): Promise<T> {
    return this.add(name, await create(), close)
  }

  /** Close everything, last opened first. Idempotent. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      for (const r of [...this.opened].reverse()) {
        try {
          await r.close()
        } catch (err) {
          this.logger.error({ err, resource: r.name }, 'closing failed')
        }
      }
    })())
  }
}

/** Run a start sequence; when a step throws, close what the earlier steps opened and rethrow. */
export async function startOrClose<T>(resources: Resources, start: () => Promise<T>): Promise<T> {
  try {
    return await start()
  } catch (err) {
    await resources.close()
    throw err
  }
}
