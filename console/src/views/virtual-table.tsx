import type { ComponentChild } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { visibleRange } from './virtual-range.js'

export interface Column<R> {
  key: string
  label: string
  /** CSS grid track, e.g. `12rem` or `1fr`. */
  width: string
  render: (row: R) => ComponentChild
}

export interface VirtualTableProps<R> {
  /** Accessible name of the table. */
  label: string
  total: number
  columns: Column<R>[]
  /** Row `i`, or undefined while it loads. */
  row: (i: number) => R | undefined
  /** The rows now drawn (first inclusive, last exclusive): load what is missing. */
  onRange: (first: number, last: number) => void
  rowHeight?: number
  /** Height of the scrolling body in px. @defaultValue 560 */
  height?: number
  /** When it changes, the table scrolls back to the top. */
  resetKey?: string
}

/**
 * A table that draws only the rows in view (thousands of rows stay fast). Keyboard: the body is
 * focusable; arrows, Page Up/Down, Home and End scroll it; links in rows are reachable with Tab.
 */
export function VirtualTable<R>(p: VirtualTableProps<R>) {
  const rowHeight = p.rowHeight ?? 34
  const height = p.height ?? 560
  const body = useRef<HTMLDivElement>(null)
  const [scrollTop, setScrollTop] = useState(0)
  const { first, last } = visibleRange({ scrollTop, height, rowHeight, total: p.total })
  const { onRange } = p
  useEffect(() => {
    onRange(first, last)
  }, [first, last, onRange])
  useEffect(() => {
    // Other rows (a new filter) start at the top.
    if (body.current !== null) body.current.scrollTop = 0
    setScrollTop(0)
  }, [p.resetKey])
  const template = p.columns.map((c) => c.width).join(' ')
  const onKey = (e: KeyboardEvent): void => {
    const el = body.current
    if (el === null || e.target !== el) return
    const moves: Record<string, number> = {
      ArrowDown: rowHeight,
      ArrowUp: -rowHeight,
      PageDown: height - rowHeight,
      PageUp: -(height - rowHeight),
      Home: -el.scrollHeight,
      End: el.scrollHeight,
    }
    const by = moves[e.key]
    if (by === undefined) return
    e.preventDefault()
    el.scrollTop += by
  }
  const rows: ComponentChild[] = []
  for (let i = first; i < last; i++) {
    const r = p.row(i)
    rows.push(
      <div
        role="row"
        class="vt-row"
        aria-rowindex={i + 2}
        style={{ top: `${i * rowHeight}px`, height: `${rowHeight}px`, gridTemplateColumns: template }}
        key={i}
      >
        {r === undefined ? (
          <div role="cell" class="vt-loading">
            loading…
          </div>
        ) : (
          p.columns.map((c) => (
            <div role="cell" class={`vt-cell col-${c.key}`} key={c.key}>
              {c.render(r)}
            </div>
          ))
        )}
      </div>,
    )
  }
  return (
    <div role="table" aria-label={p.label} aria-rowcount={p.total + 1} class="vt">
      <div role="rowgroup">
        <div role="row" class="vt-head" aria-rowindex={1} style={{ gridTemplateColumns: template }}>
          {p.columns.map((c) => (
            <div role="columnheader" class={`vt-cell col-${c.key}`} key={c.key}>
              {c.label}
            </div>
          ))}
        </div>
      </div>
      <div
        role="rowgroup"
        ref={body}
        class="vt-body"
        tabIndex={0}
        aria-label={`${p.label}: ${p.total} rows, scroll with the arrow keys`}
        style={{ height: `${Math.min(height, Math.max(rowHeight, p.total * rowHeight))}px` }}
        onScroll={(e) => {
          setScrollTop(e.currentTarget.scrollTop)
        }}
        onKeyDown={onKey}
      >
        <div class="vt-space" style={{ height: `${p.total * rowHeight}px` }}>
          {rows}
        </div>
      </div>
    </div>
  )
}
