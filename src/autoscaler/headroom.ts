import { availableParallelism } from 'node:os'

/**
 * Whether more replicas can serve a function faster. A function without `max_inflight` takes
 * any number of concurrent calls on one replica, so a second replica adds nothing but CPU
 * parallelism: it helps only while the replicas keep their event loops busy *and* a core is
 * left to run another one. Otherwise the threads only share the same cores with the gateway's
 * main thread, and the same calls are served slower (four loops against a trivial handler
 * served about half the req/s at 17 replicas as at 1). A function with `max_inflight` is
 * bounded by slots, not cores: its replicas add capacity even when its calls wait on I/O, so
 * its labels are followed as they are.
 */

/** A replica counts as busy at this event-loop utilisation (measured since the previous tick). */
export const BUSY_UTILISATION = 0.7
/** Less than this much of a core unused by this process, and no new replica can get a core. */
export const MIN_IDLE_CORES = 0.5

export interface HeadroomInput {
  /** `max_inflight` (0: unlimited). */
  maxInflight: number
  /** Replicas serving now. */
  ready: number
  /** Replicas started or asked for and not ready yet. */
  starting: number
  /** Mean event-loop utilisation of the ready replicas since the previous tick, 0…1. */
  utilisation: number
  /** Cores this process left unused since the previous tick (not yet promised to another function). */
  idleCores: number
}

export interface Headroom {
  /** The most replicas worth running now. */
  replicas: number
  /** Why not more, for the log, `describe` and the dashboard. */
  why: string
}

const percent = (x: number): string => `${Math.round(x * 100)} %`

/** The most replicas worth running now, or undefined when the labels alone decide. */
export function headroom(h: HeadroomInput): Headroom | undefined {
  if (h.maxInflight > 0) return undefined
  // Nothing measured yet (waking from zero, or replicas still starting): one step at a time.
  if (h.ready === 0) return { replicas: 1, why: 'one replica first, then measure' }
  if (h.starting > 0) return { replicas: h.ready + h.starting, why: 'waiting for the replicas starting' }
  if (h.utilisation < BUSY_UTILISATION)
    return { replicas: h.ready, why: `replicas ${percent(h.utilisation)} busy: more threads would not serve it faster` }
  if (h.idleCores < MIN_IDLE_CORES)
    return { replicas: h.ready, why: `replicas ${percent(h.utilisation)} busy, but no core left for another (${h.idleCores.toFixed(1)} idle)` }
  const more = Math.max(1, Math.floor(h.idleCores))
  return { replicas: h.ready + more, why: `replicas ${percent(h.utilisation)} busy, ${h.idleCores.toFixed(1)} cores idle: ${more} more at a time` }
}

/** The cores this process (every thread of it) left unused between two calls of `idle()`. */
export class ProcessCpu {
  private last = { at: performance.now(), usage: process.cpuUsage() }

  constructor(private readonly cores = availableParallelism()) {}

  idle(): number {
    const at = performance.now()
    const usage = process.cpuUsage()
    const wallUs = (at - this.last.at) * 1000
    const usedUs = usage.user - this.last.usage.user + (usage.system - this.last.usage.system)
    this.last = { at, usage }
    if (wallUs <= 0) return this.cores
    return Math.max(0, this.cores - usedUs / wallUs)
  }
}
