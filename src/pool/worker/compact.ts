/**
 * Compacting garbage collections once a replica has gone quiet after its start. Starting
 * (fetch's classes, the bundle, the first calls) leaves the old generation's pages partly
 * empty, and V8 keeps them: it only moves objects off pages it finds fragmented, and nothing
 * tells a worker's isolate that it is idle. A few collections in a row also drop the bytecode
 * of functions that did not run meanwhile (V8 ages it by one per collection): the start-up
 * code that never runs again, and the call path, which is compiled again on the next call
 * (a fraction of a ms). Measured with `node bench/run.js --suites core --only rss`: 10.2 MB
 * per idle replica with one collection, 9.9–10.0 MB with these, 11.3 MB with none.
 *
 * V8 offers no API for this, so its flags are switched on around one collection and off again
 * (they are process-wide, and harmless if another thread collects meanwhile: that collection
 * compacts too). Anything unexpected (a Node whose V8 refuses the flags) leaves the heap as is.
 */
import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'

/** Below this share of busy time over a check's interval a replica counts as idle. */
const IDLE_UTILISATION = 0.02
/** V8 drops bytecode that has not run for this many full collections (its `--bytecode-old-age`, 5, plus one). */
const COLLECTIONS = 6

/** Compacts the heap once the event loop was idle for a whole `intervalMs` (checked at most `tries` times). */
export function compactWhenIdle(intervalMs = 1000, tries = 60): void {
  let last = performance.eventLoopUtilization()
  let left = tries
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization()
    const idle = performance.eventLoopUtilization(now, last).utilization < IDLE_UTILISATION
    last = now
    if (idle) compact()
    if (idle || --left <= 0) clearInterval(timer)
  }, intervalMs)
  // A replica that is stopped meanwhile need not wait for it.
  timer.unref()
}

function compact(): void {
  try {
    setFlagsFromString('--allow-natives-syntax')
    const collect = new Function('%CollectGarbage(0)') as () => void
    setFlagsFromString('--no-allow-natives-syntax')
    setFlagsFromString('--compact-on-every-full-gc')
    try {
      for (let i = 0; i < COLLECTIONS; i++) collect()
    } finally {
      setFlagsFromString('--no-compact-on-every-full-gc')
    }
  } catch {
    setFlagsFromString('--no-allow-natives-syntax')
  }
}
