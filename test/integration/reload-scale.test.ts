/**
 * A save while a function runs at 20 replicas under load: the new version rolls out (the
 * first new replica serves as soon as it is ready, the old ones drain as new ones arrive),
 * and not one call fails or is dropped.
 */
import { describe, expect, it } from 'vitest'
import { waitFor } from '../helpers.js'
import { bundleFiles, call, startLoad, startWatched, versionSource } from './reload-helpers.js'

const TWENTY = 'functions:\n  hello:\n    lang: typescript\n    handler: ./hello\n    labels:\n      com.openfaas.scale.min: 20\n      com.openfaas.scale.max: 20\n'

describe('hot reload at 20 replicas', () => {
  it('rolls three saves out under four loops of calls: none failed or dropped, never an older version after a newer one answered', async () => {
    const { rt, dir, save } = await startWatched(TWENTY, { 'hello/handler.ts': versionSource('v0') }, { autoscaleIntervalMs: 0 })
    await waitFor(() => rt.stats().functions.hello?.ready === 20, 60_000, '20 ready replicas')
    const load = startLoad(`${rt.url}/function/hello?ms=5`, 4)
    const { samples } = load
    await waitFor(() => samples.length > 20, 10_000, 'load to start')

    const firstSeen: number[] = [0]
    for (let v = 1; v <= 3; v++) {
      save('hello/handler.ts', versionSource(`v${v}`))
      await waitFor(() => samples.some((s) => s.body === `v${v}`), 30_000, `v${v} to be served`)
      firstSeen[v] = Math.min(...samples.filter((s) => s.body === `v${v}`).map((s) => s.start))
      // The whole new version before the next save: 20 replicas of v, none of an older one.
      await waitFor(() => {
        const s = rt.stats().functions.hello
        return s?.ready === 20 && s.replicas === 20
      }, 60_000, () => `v${v} at 20 replicas (${JSON.stringify(rt.stats().functions.hello)})`)
    }
    const seen = samples.length
    await waitFor(() => samples.length > seen + 20, 10_000, 'more calls')
    await load.stop()

    expect(samples.length).toBe(load.sent())
    expect(samples.filter((s) => s.status !== 200)).toEqual([])
    for (const s of samples) {
      const version = Number(/^v(\d+)$/.exec(s.body)?.[1])
      const newest = firstSeen.findLastIndex((t) => t < s.start)
      // A call that started after a newer version had started answering is not sent to an older one.
      expect(version, `call started at ${s.start.toFixed(0)} ms answered ${s.body}`).toBeGreaterThanOrEqual(newest)
    }
    await waitFor(() => rt.stats().functions.hello?.inflight === 0 && bundleFiles(dir, 'hello').length === 2, 20_000, 'older generations to stop')
    const bodies = await Promise.all(Array.from({ length: 20 }, async () => (await call(`${rt.url}/function/hello`)).body))
    expect(new Set(bodies)).toEqual(new Set(['v3']))
  }, 180_000)
})
