export interface ReplicaLoad {
  accepting: boolean
  inflight: number
}

/**
 * Least-loaded choice among replicas that take calls and have a free slot. Ties go to the
 * first candidate at or after `start`, so an idle pool still spreads calls round-robin.
 * Returns -1 when no replica can take the call.
 */
export function pickReplica(replicas: readonly ReplicaLoad[], maxInflight: number, start = 0): number {
  let best = -1
  let bestLoad = Infinity
  const n = replicas.length
  for (let k = 0; k < n; k++) {
    const i = (start + k) % n
    const r = replicas[i] as ReplicaLoad
    if (!r.accepting) continue
    if (maxInflight > 0 && r.inflight >= maxInflight) continue
    if (r.inflight < bestLoad) {
      best = i
      bestLoad = r.inflight
      if (bestLoad === 0) break
    }
  }
  return best
}

/** Free call slots across replicas that take calls; Infinity when there is no limit. */
export function freeSlots(replicas: readonly ReplicaLoad[], maxInflight: number): number {
  let free = 0
  for (const r of replicas) {
    if (!r.accepting) continue
    if (maxInflight === 0) return Infinity
    free += Math.max(0, maxInflight - r.inflight)
  }
  return free
}
