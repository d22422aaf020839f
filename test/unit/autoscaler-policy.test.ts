import { describe, expect, it } from 'vitest'
import { SCALE_DEFAULTS, type ScaleSpec } from '../../src/config/stack.js'
import { headroom } from '../../src/autoscaler/headroom.js'
import { currentLoad, decide, initialState, recommend, type Observation, type PolicyState } from '../../src/autoscaler/policy.js'

const spec = (over: Partial<ScaleSpec> = {}): ScaleSpec => ({ ...SCALE_DEFAULTS, ...over })
const obs = (over: Partial<Observation>): Observation => ({ now: 0, current: 1, load: 0, active: false, demand: false, ...over })

/** Runs the policy over a sequence of ticks, applying each decision like the loop does. */
function run(scale: ScaleSpec, ticks: { at: number; load: number; active?: boolean; demand?: boolean; current?: number }[], start = 1) {
  let state: PolicyState = initialState(0)
  let current = start
  const out: { at: number; replicas: number; reason: string }[] = []
  for (const t of ticks) {
    if (t.current !== undefined) current = t.current
    const d = decide('fn', scale, obs({ now: t.at, current, load: t.load, active: t.active ?? t.load > 0, demand: t.demand ?? false }), state)
    state = d.state
    current = d.replicas
    out.push({ at: t.at, replicas: d.replicas, reason: d.reason })
  }
  return out
}

describe('autoscaler policy', () => {
  it('computes ceil(load / (target × proportion)) clamped to [max(1, min), max]', () => {
    // The OpenFaaS docs example: capacity target 5, 15 in flight → ceil(15 / 4.5) = 4.
    expect(recommend(spec({ type: 'capacity', target: 5 }), 15)).toBe(4)
    expect(recommend(spec({ target: 50 }), 0)).toBe(1)
    expect(recommend(spec({ target: 50, min: 3 }), 10)).toBe(3)
    expect(recommend(spec({ target: 10, max: 5 }), 1000)).toBe(5)
    expect(recommend(spec({ target: 10, targetProportion: 1 }), 30)).toBe(3)
    expect(recommend(spec({ target: 10, targetProportion: 1 }), 30.1)).toBe(4)
    // min 0 without zero: the formula never says 0, only the idler does.
    expect(recommend(spec({ min: 0 }), 0)).toBe(1)
  })

  it('measures load per scaling type', () => {
    const m = { rps: 12.5, inflight: 7, waiting: 2, queued: 30, utilisation: 0.25, ready: 4 }
    expect(currentLoad('rps', m)).toBe(12.5)
    expect(currentLoad('capacity', m)).toBe(39)
    expect(currentLoad('cpu', m)).toBe(1000)
    expect(currentLoad('queue', m)).toBe(30)
  })

  it('scales up at once and logs the reason in the OpenFaaS style', () => {
    const d = decide('pause', spec({ type: 'capacity', target: 4 }), obs({ now: 1000, current: 1, load: 15, active: true }), initialState(0))
    expect(d.replicas).toBe(5)
    expect(d.reason).toBe('pause: 1 → 5 replicas (capacity 15.0 / target 4 × 0.90)')
    const docs = decide('pause', spec({ type: 'capacity', target: 5 }), obs({ now: 1000, current: 1, load: 15, active: true }), initialState(0))
    expect(docs.reason).toBe('pause: 1 → 4 replicas (capacity 15.0 / target 5 × 0.90)')
  })

  it('scales down only after the recommendation stayed lower for the down window', () => {
    const scale = spec({ type: 'capacity', target: 4, downWindowMs: 30_000 })
    const ticks = [
      { at: 0, load: 36 }, // → 10
      { at: 1000, load: 2 },
      { at: 10_000, load: 2 },
      { at: 29_000, load: 2 },
      { at: 30_500, load: 2 }, // the 10 is now older than the window
    ]
    const out = run(scale, ticks)
    expect(out.map((o) => o.replicas)).toEqual([10, 10, 10, 10, 1])
    expect(out[1]?.reason).toContain('down held for 30s')
    expect(out[4]?.reason).toBe('fn: 10 → 1 replicas (capacity 2.0 / target 4 × 0.90, lower for 30s)')
  })

  it('scales down to the highest recommendation seen in the window, not straight to the lowest', () => {
    const scale = spec({ type: 'capacity', target: 10, targetProportion: 1, downWindowMs: 5000 })
    const out = run(scale, [
      { at: 0, load: 80 }, // 8
      { at: 2000, load: 50 }, // 5, held
      { at: 4000, load: 10 }, // 1, held
      { at: 5500, load: 10 }, // window holds 5 and 1 → 5
      { at: 7500, load: 10 }, // window holds 1 → 1
    ])
    expect(out.map((o) => o.replicas)).toEqual([8, 8, 8, 5, 1])
  })

  it('a short dip inside the window changes nothing and a new peak scales up again at once', () => {
    const scale = spec({ type: 'rps', target: 10, targetProportion: 1, downWindowMs: 3000 })
    const out = run(scale, [
      { at: 0, load: 40 },
      { at: 1000, load: 0 },
      { at: 2000, load: 60 },
      { at: 3000, load: 0 },
    ])
    expect(out.map((o) => o.replicas)).toEqual([4, 4, 6, 6])
  })

  it('min == max turns autoscaling off', () => {
    const scale = spec({ min: 3, max: 3, target: 1 })
    const out = run(scale, [
      { at: 0, load: 100 },
      { at: 60_000, load: 0 },
    ], 3)
    expect(out.map((o) => o.replicas)).toEqual([3, 3])
    expect(out[0]?.reason).toContain('autoscaling off')
  })

  it('a manual scale holds for the down window, then the load decides within [min, max]', () => {
    const scale = spec({ type: 'capacity', target: 4, min: 2, max: 10, downWindowMs: 10_000 })
    const out = run(scale, [
      { at: 0, load: 0 }, // at min 2
      { at: 1000, load: 0, current: 8 }, // scaled to 8 by hand
      { at: 5000, load: 0 },
      { at: 11_500, load: 0 }, // back to min after the window
      { at: 12_000, load: 0, current: 1 }, // by hand below min: back up to min at once
    ], 2)
    expect(out.map((o) => o.replicas)).toEqual([2, 8, 8, 2, 2])
  })

  it('goes to zero after zero-duration without calls, and wakes on waiting work', () => {
    const scale = spec({ zero: true, zeroDurationMs: 2000, type: 'queue', target: 5 })
    const out = run(scale, [
      { at: 0, load: 0, active: true },
      { at: 1000, load: 0 },
      { at: 1999, load: 0 },
      { at: 2000, load: 0 }, // idle for 2 s
      { at: 3000, load: 0 }, // stays
      { at: 4000, load: 0, active: true, demand: false }, // a call still finishing on a draining replica: stays at zero
      { at: 5000, load: 12, active: true, demand: true }, // 12 async messages wait
    ])
    expect(out.map((o) => o.replicas)).toEqual([1, 1, 1, 0, 0, 0, 3])
    expect(out[3]?.reason).toBe('fn: 1 → 0 replicas (no calls for 2s, scale to zero)')
    expect(out[6]?.reason).toBe('fn: 0 → 3 replicas (queue 12.0 / target 5 × 0.90, scale from zero)')
  })

  it('does not idle a function with calls in flight, nor one without the zero label', () => {
    const zero = spec({ zero: true, zeroDurationMs: 1000 })
    expect(run(zero, [{ at: 0, load: 0, active: true }, { at: 5000, load: 0, active: true }]).map((o) => o.replicas)).toEqual([1, 1])
    const plain = spec({ zeroDurationMs: 1000 })
    expect(run(plain, [{ at: 0, load: 0 }, { at: 5000, load: 0 }]).map((o) => o.replicas)).toEqual([1, 1])
  })

  it('leaves a manual scale to zero alone until work waits, then starts min replicas', () => {
    const scale = spec({ min: 2, max: 2 })
    const out = run(scale, [
      { at: 0, load: 0, current: 0 },
      { at: 1000, load: 0, demand: true, active: true },
    ], 2)
    expect(out.map((o) => o.replicas)).toEqual([0, 2])
  })
})

describe('headroom: more replicas only where they serve faster', () => {
  const base = { maxInflight: 0, ready: 1, starting: 0, utilisation: 0.95, idleCores: 1.2 }

  it('follows the labels alone for a function with max_inflight (its replicas add slots, not only CPU)', () => {
    expect(headroom({ ...base, maxInflight: 5, utilisation: 0.05, idleCores: 0 })).toBeUndefined()
  })

  it('holds a function whose replicas are not busy, or that has no core left to grow into', () => {
    expect(headroom({ ...base, utilisation: 0.2 })).toEqual({ replicas: 1, why: 'replicas 20 % busy: more threads would not serve it faster' })
    expect(headroom({ ...base, ready: 2, idleCores: 0.3 })).toMatchObject({ replicas: 2, why: expect.stringMatching(/no core left/) })
  })

  it('grows a busy function by the idle cores, at least one, and waits for replicas still starting', () => {
    expect(headroom(base)?.replicas).toBe(2)
    expect(headroom({ ...base, ready: 2, idleCores: 5.6 })?.replicas).toBe(7)
    expect(headroom({ ...base, ready: 2, starting: 3 })?.replicas).toBe(5)
    expect(headroom({ ...base, ready: 0, starting: 0 })?.replicas).toBe(1)
  })

  it('caps a scale-up at what is useful, says why, and never scales down for it', () => {
    const scale = spec({ target: 50 })
    const useful = { replicas: 1, why: 'replicas 20 % busy: more threads would not serve it faster' }
    const held = decide('hello', scale, obs({ now: 1000, current: 1, load: 900, active: true, useful }), initialState(0))
    expect(held).toMatchObject({ replicas: 1, recommendation: 20, held: { wanted: 20, why: useful.why } })
    const grown = decide('hello', scale, obs({ now: 1000, current: 1, load: 900, active: true, useful: { replicas: 3, why: 'busy' } }), initialState(0))
    expect(grown).toMatchObject({ replicas: 3, held: { wanted: 20 } })
    expect(grown.reason).toBe('hello: 1 → 3 replicas (rps 900.0 / target 50 × 0.90, held at 3: busy)')
    // Set by hand above what is useful: kept (the down window and the load decide as before).
    expect(decide('hello', scale, obs({ now: 1000, current: 6, load: 900, active: true, useful }), initialState(0)).replicas).toBe(6)
    // A recommendation within what is useful is not held.
    expect(decide('hello', scale, obs({ now: 1000, current: 1, load: 60, active: true, useful: { replicas: 4, why: 'busy' } }), initialState(0))).toMatchObject({ replicas: 2 })
    expect(decide('hello', scale, obs({ now: 1000, current: 1, load: 60, active: true, useful: { replicas: 4, why: 'busy' } }), initialState(0)).held).toBeUndefined()
  })

  it('wakes from zero with one replica and measures before adding more', () => {
    const d = decide('hello', spec({ target: 50, zero: true }), obs({ now: 1000, current: 0, load: 900, active: true, demand: true, useful: { replicas: 1, why: 'one replica first, then measure' } }), initialState(0))
    expect(d.replicas).toBe(1)
    expect(decide('hello', spec({ target: 50, min: 2, zero: true }), obs({ now: 1000, current: 0, load: 900, active: true, demand: true, useful: { replicas: 1, why: 'x' } }), initialState(0)).replicas).toBe(2)
  })
})
