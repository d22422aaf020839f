/**
 * Rolling per-function call statistics for the dashboard: a ring of per-second buckets per
 * function (calls, errors, 429s and a latency histogram). Pure: every method takes the time,
 * so tests drive the clock. Memory is bounded by `seconds` buckets per function, whatever
 * the call rate.
 */

export interface RollingStatsOptions {
  /** How much history is kept, in seconds. @default 300 */
  seconds?: number
}

export interface CallSummary {
  /** Calls finished in the window. */
  calls: number
  /** Calls that ended with a status ≥ 400 (429s included). */
  errors: number
  /** Calls refused with 429. */
  throttled: number
  callsPerSec: number
  throttledPerSec: number
  /** errors / calls, 0 when there were no calls. */
  errorRate: number
  /** 95th percentile of call duration in ms (within ~9 %), undefined when there were no calls. */
  p95Ms: number | undefined
}

export interface CallSeries {
  /** Seconds per point. */
  step: number
  /** Oldest first; per-second averages over each step. */
  callsPerSec: number[]
  throttledPerSec: number[]
}

interface Bucket {
  second: number
  calls: number
  errors: number
  throttled: number
  /** Histogram index → count; sparse because most calls of a function land in a few bins. */
  latency: Map<number, number>
}

// Bins grow by 2^(1/8) ≈ 9 %: a percentile read from a bin's upper edge is within 9 % of the truth.
const BIN_RATIO = 2 ** (1 / 8)
const LOG_RATIO = Math.log(BIN_RATIO)
const MIN_MS = 0.01

export function latencyBin(ms: number): number {
  return Math.ceil(Math.log(Math.max(ms, MIN_MS) / MIN_MS) / LOG_RATIO)
}

export function binUpperMs(bin: number): number {
  return MIN_MS * BIN_RATIO ** bin
}

/** The value below which `q` (0…1) of the counted samples fall, from a merged histogram. */
export function quantileMs(histogram: Map<number, number>, q: number): number | undefined {
  let total = 0
  for (const n of histogram.values()) total += n
  if (total === 0) return undefined
  const rank = Math.ceil(q * total)
  let seen = 0
  for (const bin of [...histogram.keys()].sort((a, b) => a - b)) {
    seen += histogram.get(bin) ?? 0
    if (seen >= rank) return binUpperMs(bin)
  }
  return undefined
}

export class RollingStats {
  readonly seconds: number
  private readonly rings = new Map<string, Bucket[]>()

  constructor(options: RollingStatsOptions = {}) {
    this.seconds = Math.max(1, Math.floor(options.seconds ?? 300))
  }

  /** Counts one finished call. */
  record(name: string, status: number, durationSeconds: number, nowMs: number): void {
    const bucket = this.bucket(name, Math.floor(nowMs / 1000))
    bucket.calls++
    if (status >= 400) bucket.errors++
    if (status === 429) bucket.throttled++
    const bin = latencyBin(durationSeconds * 1000)
    bucket.latency.set(bin, (bucket.latency.get(bin) ?? 0) + 1)
  }

  /** Totals and rates over the last `windowSeconds` (the current, partial second included). */
  summary(name: string, nowMs: number, windowSeconds = 10): CallSummary {
    const window = Math.min(Math.max(1, Math.floor(windowSeconds)), this.seconds)
    const now = Math.floor(nowMs / 1000)
    let calls = 0
    let errors = 0
    let throttled = 0
    const latency = new Map<number, number>()
    for (const b of this.buckets(name, now - window + 1, now)) {
      calls += b.calls
      errors += b.errors
      throttled += b.throttled
      for (const [bin, n] of b.latency) latency.set(bin, (latency.get(bin) ?? 0) + n)
    }
    return {
      calls,
      errors,
      throttled,
      callsPerSec: calls / window,
      throttledPerSec: throttled / window,
      errorRate: calls ? errors / calls : 0,
      p95Ms: quantileMs(latency, 0.95),
    }
  }

  /** Calls/s and 429s/s over the whole history, `step` seconds per point, oldest first. */
  series(name: string, nowMs: number, step = 5): CallSeries {
    const s = Math.min(Math.max(1, Math.floor(step)), this.seconds)
    const points = Math.floor(this.seconds / s)
    const now = Math.floor(nowMs / 1000)
    const first = now - points * s + 1
    const callsPerSec = new Array<number>(points).fill(0)
    const throttledPerSec = new Array<number>(points).fill(0)
    for (const b of this.buckets(name, first, now)) {
      const i = Math.floor((b.second - first) / s)
      callsPerSec[i] = (callsPerSec[i] ?? 0) + b.calls / s
      throttledPerSec[i] = (throttledPerSec[i] ?? 0) + b.throttled / s
    }
    return { step: s, callsPerSec, throttledPerSec }
  }

  /** Drops a function's history (removed from the stack). */
  forget(name: string): void {
    this.rings.delete(name)
  }

  names(): string[] {
    return [...this.rings.keys()]
  }

  private bucket(name: string, second: number): Bucket {
    let ring = this.rings.get(name)
    if (!ring) {
      ring = []
      this.rings.set(name, ring)
    }
    const i = ((second % this.seconds) + this.seconds) % this.seconds
    let b = ring[i]
    if (!b || b.second !== second) {
      // The slot holds a second that fell out of the window (or nothing yet): reuse it.
      b = { second, calls: 0, errors: 0, throttled: 0, latency: new Map() }
      ring[i] = b
    }
    return b
  }

  /** The live buckets whose second is in [from, to]. */
  private *buckets(name: string, from: number, to: number): Generator<Bucket> {
    const ring = this.rings.get(name)
    if (!ring) return
    for (const b of ring) if (b && b.second >= from && b.second <= to && b.second > to - this.seconds) yield b
  }
}
