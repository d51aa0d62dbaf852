/** The rows to draw for a scroll position: those visible plus `overscan` on each side. */
export function visibleRange(o: { scrollTop: number; height: number; rowHeight: number; total: number; overscan?: number }): {
  first: number
  last: number
} {
  const overscan = o.overscan ?? 10
  const first = Math.max(0, Math.floor(o.scrollTop / o.rowHeight) - overscan)
  const last = Math.min(o.total, Math.ceil((o.scrollTop + o.height) / o.rowHeight) + overscan)
  return { first, last: Math.max(first, last) }
}
