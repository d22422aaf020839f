import type { ScaleSpec, ScaleType } from '../config/stack.js'
import { formatDuration } from '../config/units.js'
import type { Headroom } from './headroom.js'

/**
 * The autoscaling policy: plain data in, plain data out, no clock and no I/O, so every rule
 * is unit-tested without threads or timers. The loop in `autoscaler.ts` measures, calls
 * `decide()` once per tick and applies the result.
 */

/** What the loop measured for one function, for every scaling type at once. */
export interface Measurements {
  /** Calls started per second over the rate window. */
  rps: number
  /** Calls running on a replica. */
  inflight: number
  /** Sync calls held while a replica starts. */
  waiting: number
  /** Async messages waiting for a slot (not yet dispatched). */
  queued: number
  /** Mean event-loop utilisation of ready replicas, 0…1. */
  utilisation: number
  ready: number
}

/** The load the formula divides, per OpenFaaS scaling type. */
export function currentLoad(type: ScaleType, m: Measurements): number {
  switch (type) {
    case 'rps':
      return m.rps
    case 'capacity':
      // Waiting work counts: replicas that are all busy must not hide the demand behind them.
      return m.inflight + m.waiting + m.queued
    case 'cpu':
      // Millicores, as Kubernetes counts them: one fully busy event loop is one core.
      return m.utilisation * 1000 * m.ready
    case 'queue':
      return m.queued
  }
}

/** One tick's view of a function. */
export interface Observation {
  /** A monotonic clock in ms. */
  now: number
  /** The desired replica count right now (set by the autoscaler, by hand, or by a cold start). */
  current: number
  /** The load for the function's scaling type (see `currentLoad`). */
  load: number
  /** Calls started since the last tick, or calls in flight, held or queued: not idle. */
  active: boolean
  /** Work that needs a replica to exist: sync calls held for a cold start or async messages waiting. */
  demand: boolean
  /** The most replicas worth running now (see `headroom()`); undefined: the labels alone decide. */
  useful?: Headroom
}

/** What the policy remembers between ticks for one function. */
export interface PolicyState {
  /** Recommendations inside the down window, oldest first. */
  recent: { at: number; replicas: number }[]
  /** When the function was last active, for scale to zero. */
  lastActiveAt: number
  /** The count the policy last asked for; a different `current` means someone else scaled. */
  lastSet: number | undefined
}

export interface Decision {
  /** The count to set; equal to `current` when nothing changes. */
  replicas: number
  /** What the load alone asks for, clamped to [max(1, min), max]. */
  recommendation: number
  /** Why, for the log line: `pause: 1 → 4 replicas (capacity 15.0 / target 4 × 0.90)`. */
  reason: string
  /** Set when the load asks for more replicas than are worth running: how many, and why not. */
  held?: { wanted: number; why: string }
  state: PolicyState
}

export function initialState(now: number): PolicyState {
  return { recent: [], lastActiveAt: now, lastSet: undefined }
}

/** `ceil(load / (target × targetProportion))` clamped to [max(1, min), max]: zero only comes from idling. */
export function recommend(scale: ScaleSpec, load: number): number {
  const floor = Math.max(1, scale.min)
  const raw = Math.ceil(load / (scale.target * scale.targetProportion))
  return Math.min(Math.max(floor, Number.isFinite(raw) ? raw : floor), Math.max(floor, scale.max))
}

export function describeLoad(scale: ScaleSpec, load: number): string {
  return `${scale.type} ${load.toFixed(1)} / target ${scale.target} × ${scale.targetProportion.toFixed(2)}`
}

/**
 * One step of the policy. Up at once; down only to the highest recommendation seen during
 * the down window (Kubernetes' stabilisation window, which OpenFaaS's `scale.down.window`
 * follows), so a dip shorter than the window changes nothing. `min == max` turns the load
 * rule off; the idler (`scale.zero`) and the wake-up from zero still apply.
 */
export function decide(name: string, scale: ScaleSpec, obs: Observation, prev: PolicyState): Decision {
  const { now, current, load, active, demand } = obs
  const floor = Math.max(1, scale.min)
  const lastActiveAt = active ? now : prev.lastActiveAt
  let recent = prev.recent.filter((r) => now - r.at < scale.downWindowMs)
  // A count set by hand (or by a cold start) counts as a recommendation: it holds for the
  // down window instead of being undone on the next tick, then the load takes over.
  if (prev.lastSet !== undefined && current !== prev.lastSet && current > 0) {
    recent.push({ at: now, replicas: Math.min(Math.max(current, floor), Math.max(floor, scale.max)) })
  }
  const recommendation = recommend(scale, load)
  const loadText = describeLoad(scale, load)
  const result = (replicas: number, why: string, held?: Decision['held']): Decision => ({
    replicas,
    recommendation,
    reason: replicas === current ? why : `${name}: ${current} → ${replicas} replicas (${why})`,
    ...(held ? { held } : {}),
    state: { recent, lastActiveAt, lastSet: replicas },
  })
  // Up to what the load asks, but not past what is worth running (never below the floor or
  // the count already running: the gate holds growth back, it does not scale down).
  const up = (wanted: number, why: string): Decision => {
    const useful = obs.useful
    if (!useful || wanted <= Math.max(current, useful.replicas)) return result(wanted, why)
    const to = Math.max(floor, current, useful.replicas)
    return result(to, `${why}, held at ${to}: ${useful.why}`, { wanted, why: useful.why })
  }

  if (scale.zero && !active && now - lastActiveAt >= scale.zeroDurationMs) {
    // The window must not hold a scale-from-zero back later, nor keep replicas up now.
    recent = []
    return result(0, `no calls for ${formatDuration(scale.zeroDurationMs)}, scale to zero`)
  }
  if (current === 0) {
    // Only waiting work wakes a function at zero: calls still finishing on draining replicas
    // do not undo a scale to zero, whether the idler or a person asked for it (a sync call
    // at zero starts a replica by itself; async messages need this).
    if (!demand) return result(0, 'idle at zero')
    recent.push({ at: now, replicas: recommendation })
    return scale.min === scale.max ? result(floor, `${loadText}, scale from zero`) : up(recommendation, `${loadText}, scale from zero`)
  }
  if (scale.min === scale.max) return result(current, 'autoscaling off (min == max)')

  recent.push({ at: now, replicas: recommendation })
  if (recommendation >= current) return up(recommendation, loadText)
  const held = Math.min(current, Math.max(...recent.map((r) => r.replicas)))
  if (held === current) return result(current, `${loadText}, down held for ${formatDuration(scale.downWindowMs)}`)
  return result(held, `${loadText}, lower for ${formatDuration(scale.downWindowMs)}`)
}
