import { useEffect, useRef, useState } from 'preact/hooks'

/** A value that views subscribe to. */
export interface Store<T> {
  get(): T
  set(next: T | ((prev: T) => T)): void
  subscribe(fn: (value: T) => void): () => void
}

export function createStore<T>(initial: T): Store<T> {
  let value = initial
  const listeners = new Set<(value: T) => void>()
  return {
    get: () => value,
    set(next) {
      value = typeof next === 'function' ? (next as (prev: T) => T)(value) : next
      for (const fn of [...listeners]) fn(value)
    },
    subscribe(fn) {
      listeners.add(fn)
      return () => listeners.delete(fn)
    },
  }
}

/** The store's current value, re-rendering the component when it changes. */
export function useStore<T>(store: Store<T>): T {
  const [value, setValue] = useState(store.get())
  useEffect(() => {
    setValue(store.get())
    return store.subscribe(setValue)
  }, [store])
  return value
}

/** A tiny typed event bus (live events fan out to the views that show them). */
export class Bus<E extends Record<string, unknown>> {
  private readonly handlers = new Map<keyof E, Set<(v: never) => void>>()

  on<K extends keyof E>(name: K, fn: (value: E[K]) => void): () => void {
    const set = this.handlers.get(name) ?? new Set()
    set.add(fn)
    this.handlers.set(name, set)
    return () => set.delete(fn)
  }

  emit<K extends keyof E>(name: K, value: E[K]): void {
    for (const fn of [...(this.handlers.get(name) ?? [])]) (fn as (v: E[K]) => void)(value)
  }
}

/** Subscribe to a bus event for the component's lifetime (the latest `fn` is called; no need to memoise it). */
export function useBus<E extends Record<string, unknown>, K extends keyof E>(bus: Bus<E>, name: K, fn: (value: E[K]) => void): void {
  const latest = useRef(fn)
  latest.current = fn
  useEffect(
    () =>
      bus.on(name, (v) => {
        latest.current(v)
      }),
    [bus, name],
  )
}
