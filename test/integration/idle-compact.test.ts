/**
 * An idle replica compacts its heap once (a few full collections, see
 * src/pool/worker/compact.ts) and goes on serving as before: its module state is intact, and
 * the V8 flags switched on for the collections are off again for the handler's code.
 */
import { describe, expect, it } from 'vitest'
import { startRuntime, waitFor } from '../helpers.js'

const HANDLER = `import { PerformanceObserver, constants } from 'node:perf_hooks'
let majorGcs = 0
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majorGcs++
}).observe({ entryTypes: ['gc'] })
const seen = []
export default async function handle(req) {
  seen.push(new URL(req.url).searchParams.get('n'))
  let natives = 'refused'
  try {
    new Function('%CollectGarbage(0)')
    natives = 'allowed'
  } catch {}
  return { seen, majorGcs, natives }
}
`

describe('idle replica', () => {
  it('compacts its heap once it is idle and keeps serving with its state', async () => {
    const rt = await startRuntime('functions:\n  keeper:\n    lang: javascript\n    handler: ./keeper\n', { autoscaleIntervalMs: 0 }, { 'keeper/handler.js': HANDLER })
    try {
      const call = async (n: number): Promise<{ seen: string[]; majorGcs: number; natives: string }> => {
        const res = await fetch(`${rt.url}/function/keeper?n=${n}`)
        expect(res.status).toBe(200)
        return (await res.json()) as { seen: string[]; majorGcs: number; natives: string }
      }
      const first = await call(1)
      expect(first.natives).toBe('refused')
      // The collections run after a second without work; the observer reports them just after.
      let n = 1
      let last = first
      await waitFor(async () => {
        await new Promise((r) => setTimeout(r, 1500))
        last = await call(++n)
        return last.majorGcs >= 5
      }, 30_000, 'the idle replica to collect its heap')
      expect(last.seen).toEqual(Array.from({ length: n }, (_, i) => String(i + 1)))
      expect(last.natives).toBe('refused')
    } finally {
      await rt.close()
    }
  }, 60_000)
})
