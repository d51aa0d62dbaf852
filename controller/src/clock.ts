/** Where time comes from wherever it drives logic (tests inject their own). */
export interface Clock {
  now(): number
}
export const systemClock: Clock = Object.freeze({ now: () => Date.now() })
