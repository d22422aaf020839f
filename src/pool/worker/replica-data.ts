/**
 * The function a replica serves. A replica started for its function has it as `workerData`;
 * a spare (see `src/pool/spares.ts`) was started before it had a function, so it is handed
 * over by message at assignment and kept here, before the bundle is imported.
 */
import { workerData } from 'node:worker_threads'
import type { ReplicaData } from '../protocol.js'

/** The global a spare sets on assignment (a registered symbol: the bundle and the bootstrap are different module graphs). */
export const ASSIGNED_DATA = Symbol.for('faasdev.replicaData')

export function replicaData(): ReplicaData | null {
  const assigned = (globalThis as Record<symbol, unknown>)[ASSIGNED_DATA] as ReplicaData | undefined
  return assigned ?? ((workerData as ReplicaData | null | undefined) ?? null)
}
