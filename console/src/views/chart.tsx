import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

export interface ChartLine {
  label: string
  values: (number | null)[]
  color: string
  dash?: number[]
  width?: number
}

export interface ChartProps {
  title: string
  unit: string
  /** Times of the points, epoch ms. */
  times: number[]
  lines: ChartLine[]
  /** A sentence read instead of the drawing (the latest values). */
  summary: string
  height?: number
}

function options(p: ChartProps, width: number): uPlot.Options {
  return {
    width,
    height: p.height ?? 200,
    legend: { show: true, live: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    axes: [
      { stroke: '#333', grid: { stroke: '#e3e3e3' } },
      { stroke: '#333', grid: { stroke: '#e3e3e3' }, label: p.unit, size: 60 },
    ],
    series: [
      {},
      ...p.lines.map((l) => ({
        label: l.label,
        stroke: l.color,
        width: l.width ?? 2,
        spanGaps: false,
        points: { show: false },
        ...(l.dash === undefined ? {} : { dash: l.dash }),
      })),
    ],
  }
}

/** A time-series chart (uPlot) that follows its container's width; the drawing is described in text for screen readers. */
export function Chart(p: ChartProps) {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const shape = p.lines.map((l) => l.label).join('|')
  const data: uPlot.AlignedData = [p.times.map((t) => t / 1000), ...p.lines.map((l) => l.values)]
  useEffect(() => {
    const el = box.current
    if (el === null) return
    const u = new uPlot(options(p, Math.max(280, el.clientWidth)), data, el)
    plot.current = u
    const ro = new ResizeObserver(() => {
      u.setSize({ width: Math.max(280, el.clientWidth), height: p.height ?? 200 })
    })
    ro.observe(el)
    return () => {
      ro.disconnect()
      u.destroy()
      plot.current = null
    }
    // Rebuilt only when the set of lines changes; new points go through setData below.
  }, [shape])
  useEffect(() => {
    plot.current?.setData(data)
  })
  return (
    <figure class="chart">
      <figcaption>{p.title}</figcaption>
      <div ref={box} class="chart-canvas" role="img" aria-label={`${p.title}: ${p.summary}`} />
      <p class="chart-summary">{p.summary}</p>
    </figure>
  )
}
