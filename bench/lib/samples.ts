/** Repeated measurements, summarized as benches print them: min / median / max of 3 or more samples. */
export interface Spread {
  min: number
  median: number
  max: number
  samples: number[]
}

export function spread(samples: readonly number[]): Spread {
  const s = [...samples].sort((a, b) => a - b)
  const mid =
    s.length === 0 ? 0 : s.length % 2 === 1 ? (s[(s.length - 1) / 2] ?? 0) : ((s[s.length / 2 - 1] ?? 0) + (s[s.length / 2] ?? 0)) / 2
  return { min: s[0] ?? 0, median: mid, max: s[s.length - 1] ?? 0, samples: [...samples] }
}

/** `min / median / max`, each rounded to `digits` decimals. */
export function showSpread(s: Spread, digits = 0): string {
  const f = (v: number) => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
  return `${f(s.min)} / ${f(s.median)} / ${f(s.max)}`
}

/** Samples from the environment (`BENCH_SAMPLES`), never fewer than 3. */
export function sampleCount(env: NodeJS.ProcessEnv = process.env): number {
  return Math.max(3, Number(env.BENCH_SAMPLES ?? 3) || 3)
}
