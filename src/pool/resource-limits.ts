import type { ResourceLimits } from 'node:worker_threads'

/**
 * Young generation of a replica's heap, in MiB (`resourceLimits.maxYoungGenerationSizeMb`):
 * semi-spaces of 1 MiB, V8's starting size, which it would otherwise grow and keep committed
 * in an idle replica (about 0.6 MB per replica). A handler's per-call garbage dies young at
 * this size too; the sync throughput bench showed no difference.
 */
export const YOUNG_GENERATION_MB = 3

/**
 * The `resourceLimits` every replica's worker starts with (a spare's too, so that a spare can
 * become any replica of its heap size): `heapMb` caps the old generation (`limits.memory`).
 */
export function workerResourceLimits(heapMb: number | undefined): ResourceLimits {
  return { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB, ...(heapMb ? { maxOldGenerationSizeMb: heapMb } : {}) }
}
