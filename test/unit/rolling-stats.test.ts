import { describe, expect, it } from 'vitest'
import { binUpperMs, latencyBin, quantileMs, RollingStats } from '../../src/stats/rolling.js'

const T0 = 1_700_000_000_000

describe('rolling per-function stats', () => {
  it('computes calls/s, 429s/s and error rate over the window, per function', () => {
    const s = new RollingStats({ seconds: 60 })
    for (let sec = 0; sec < 10; sec++) {
      for (let i = 0; i < 4; i++) s.record('a', 200, 0.01, T0 + sec * 1000 + i)
      s.record('a', 429, 0.0001, T0 + sec * 1000 + 500)
      if (sec % 2 === 0) s.record('a', 500, 0.02, T0 + sec * 1000 + 600)
    }
    s.record('b', 200, 0.01, T0)
    const a = s.summary('a', T0 + 9_999, 10)
    expect(a.calls).toBe(10 * 5 + 5)
    expect(a.callsPerSec).toBeCloseTo(5.5)
    expect(a.throttled).toBe(10)
    expect(a.throttledPerSec).toBeCloseTo(1)
    expect(a.errors).toBe(15)
    expect(a.errorRate).toBeCloseTo(15 / 55)
    expect(s.summary('b', T0 + 9_999, 10).calls).toBe(1)
    expect(s.summary('nobody', T0, 10)).toMatchObject({ calls: 0, callsPerSec: 0, errorRate: 0, p95Ms: undefined })
  })

  it('forgets seconds that left the window, and reuses their ring slots', () => {
    const s = new RollingStats({ seconds: 5 })
    s.record('a', 200, 0.01, T0)
    s.record('a', 200, 0.01, T0 + 1000)
    expect(s.summary('a', T0 + 1000, 5).calls).toBe(2)
    expect(s.summary('a', T0 + 5_500, 5).calls).toBe(1) // T0's second is now out
    expect(s.summary('a', T0 + 6_000, 5).calls).toBe(0)
    // T0 + 5 s lands in T0's slot: the old count must not leak into it.
    s.record('a', 429, 0.01, T0 + 5_000)
    expect(s.summary('a', T0 + 5_000, 1)).toMatchObject({ calls: 1, throttled: 1 })
    expect(s.summary('a', T0 + 5_000, 5).calls).toBe(2)
  })

  it('reads p95 from the latency histogram within one bin (~9 %)', () => {
    const s = new RollingStats()
    for (let ms = 1; ms <= 100; ms++) s.record('a', 200, ms / 1000, T0 + ms)
    const p95 = s.summary('a', T0 + 100, 10).p95Ms as number
    expect(p95).toBeGreaterThanOrEqual(95)
    expect(p95).toBeLessThan(95 * 1.1)
    // One slow call among many fast ones does not move p95; 10 % slow calls do.
    const t = new RollingStats()
    for (let i = 0; i < 99; i++) t.record('a', 200, 0.002, T0)
    t.record('a', 200, 5, T0)
    expect(t.summary('a', T0, 1).p95Ms).toBeLessThan(2.2)
    for (let i = 0; i < 20; i++) t.record('a', 200, 5, T0)
    expect(t.summary('a', T0, 1).p95Ms).toBeGreaterThanOrEqual(5000)
  })

  it('bins latencies monotonically with bounded relative width', () => {
    for (const ms of [0.05, 0.9, 1, 3.3, 47, 1000, 65_000]) {
      const bin = latencyBin(ms)
      expect(binUpperMs(bin)).toBeGreaterThanOrEqual(ms * 0.999999)
      expect(binUpperMs(bin - 1)).toBeLessThan(ms)
      expect(binUpperMs(bin) / ms).toBeLessThan(1.1)
    }
    expect(quantileMs(new Map(), 0.95)).toBeUndefined()
    expect(quantileMs(new Map([[latencyBin(10), 1]]), 0.5)).toBeCloseTo(binUpperMs(latencyBin(10)))
  })

  it('gives a chart series of calls/s and 429s/s, oldest first, at the requested step', () => {
    const s = new RollingStats({ seconds: 60 })
    // 10 calls in the oldest second of the history, 3 429s in the newest.
    s.record('a', 200, 0.01, T0)
    for (let i = 0; i < 9; i++) s.record('a', 200, 0.01, T0 + 100)
    const now = T0 + 59_000
    for (let i = 0; i < 3; i++) s.record('a', 429, 0.001, now)
    const series = s.series('a', now, 5)
    expect(series.step).toBe(5)
    expect(series.callsPerSec).toHaveLength(12)
    expect(series.callsPerSec[0]).toBeCloseTo(2)
    expect(series.callsPerSec.at(-1)).toBeCloseTo(3 / 5)
    expect(series.throttledPerSec.at(-1)).toBeCloseTo(3 / 5)
    expect(series.throttledPerSec.slice(0, -1).every((v) => v === 0)).toBe(true)
    expect(series.callsPerSec.slice(1, -1).every((v) => v === 0)).toBe(true)
    // A second later the oldest second falls off the start.
    expect(s.series('a', now + 1000, 1).callsPerSec[0]).toBe(0)
    expect(s.series('a', now, 1).callsPerSec[0]).toBe(10)
    expect(s.series('nobody', now, 5).callsPerSec.every((v) => v === 0)).toBe(true)
  })
})
