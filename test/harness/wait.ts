import { setTimeout as sleep } from 'node:timers/promises'

export interface WaitOptions {
  /** Give up after this long. @defaultValue 10000 */
  timeoutMs?: number
  /** Poll interval. @defaultValue 20 */
  intervalMs?: number
  /** Said in the error when the deadline passes. */
  what?: string
}

/**
 * Poll `predicate` until it returns a truthy value (which is returned) or the deadline passes.
 * The way tests wait for state that has no event: a deadline, never a fixed sleep.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 10_000, intervalMs = 20, what = 'condition' } = options
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await predicate()
      if (value !== undefined && value !== null && value !== false) return value
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError })
    }
    await sleep(intervalMs)
  }
}

/** Resolve with the first value `register` delivers, or reject at the deadline. */
export function waitForEvent<T>(
  register: (deliver: (value: T) => void) => () => void,
  options: { timeoutMs?: number; what?: string } = {},
): Promise<T> {
  const { timeoutMs = 10_000, what = 'event' } = options
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      unregister()
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
    }, timeoutMs)
    const unregister = register((value) => {
      clearTimeout(timer)
      unregister()
      resolve(value)
    })
  })
}
