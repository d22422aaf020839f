/**
 * Whether a call meets a fault: plain data in, plain data out. Calls meet faults at two
 * points: when the call is made (every kind but `callback`) and when its result is posted
 * to its callback URL (`callback`).
 */
import type { Fault } from './spec.js'

export type FaultStage = 'invoke' | 'callback'

/**
 * The first active fault of `fn` for this stage that the call meets, in the order they were
 * injected; `random` (0…1) is drawn once for each fault with a probability below 1.
 */
export function decideFault(faults: readonly Fault[], stage: FaultStage, fn: string, random: () => number): Fault | undefined {
  for (const f of faults) {
    if (f.function !== fn || f.remaining <= 0 || (f.kind === 'callback') !== (stage === 'callback')) continue
    if (f.probability >= 1 || random() < f.probability) return f
  }
  return undefined
}
