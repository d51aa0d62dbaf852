import { useCallback, useEffect, useRef, useState } from 'preact/hooks'

/** The current time, refreshed every `intervalMs` (ages in tables tick without refetching). */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    const t = setInterval(() => {
      setNow(Date.now())
    }, intervalMs)
    return () => {
      clearInterval(t)
    }
  }, [intervalMs])
  return now
}

/**
 * `fn` at most once per `ms`: a burst of live events causes one refetch now and one at the end
 * of the burst, never one per event.
 */
export function useThrottled(fn: () => void, ms: number): () => void {
  const last = useRef(0)
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null)
  const latest = useRef(fn)
  latest.current = fn
  useEffect(
    () => () => {
      if (timer.current !== null) clearTimeout(timer.current)
    },
    [],
  )
  return useCallback(() => {
    const wait = last.current + ms - Date.now()
    if (wait <= 0) {
      last.current = Date.now()
      latest.current()
      return
    }
    timer.current ??= setTimeout(() => {
      timer.current = null
      last.current = Date.now()
      latest.current()
    }, wait)
  }, [ms])
}
