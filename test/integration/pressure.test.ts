import { describe, expect, it, onTestFinished } from 'vitest'
import { startRuntime, waitFor } from '../helpers.js'

const STACK = `
functions:
  echo:
    lang: typescript
    handler: @/echo
`

/** Keeps this process's event loop blocked most of the time (the gateway runs in it). */
function hogLoop(busyMs: number, everyMs: number): () => void {
  const timer = setInterval(() => {
    const end = performance.now() + busyMs
    while (performance.now() < end) {
      // spin: this is the overload under test
    }
  }, everyMs)
  return () => clearInterval(timer)
}

describe('gateway protection', () => {
  it('answers 503 with Retry-After and fails /readyz while the event loop is blocked, keeps /healthz alive, and recovers', async () => {
    const rt = await startRuntime(STACK, { pressure: { maxEventLoopDelayMs: 40, sampleIntervalMs: 200, retryAfterSeconds: 2 } })
    expect((await fetch(`${rt.url}/function/echo`)).status).toBe(200)
    expect((await fetch(`${rt.url}/readyz`)).status).toBe(200)

    const stop = hogLoop(150, 50)
    onTestFinished(stop)
    let overloaded: Response | undefined
    await waitFor(async () => {
      const res = await fetch(`${rt.url}/function/echo`)
      if (res.status === 503) overloaded = res
      else await res.arrayBuffer()
      return res.status === 503
    }, 15_000, 'a 503 under pressure')
    expect(overloaded?.headers.get('retry-after')).toBe('2')
    expect(overloaded?.headers.get('x-openfaas-internal')).toBe('gateway')
    expect(await overloaded?.text()).toMatch(/^gateway overloaded: event-loop delay (at least )?\d+ ms > 40 ms \(--max-event-loop-delay\)/)
    // The sampled delay is a mean over a sample and can dip below the limit between two
    // blocks on a loaded machine, so each route is watched until it sheds, not read once.
    let ready: Response | undefined
    await waitFor(async () => {
      ready = await fetch(`${rt.url}/readyz`)
      return ready.status === 503
    }, 15_000, '/readyz failing under pressure')
    expect(ready?.headers.get('retry-after')).toBe('2')
    await waitFor(async () => (await fetch(`${rt.url}/system/functions`)).status === 503, 15_000, '/system/functions shedding under pressure')
    expect((await fetch(`${rt.url}/healthz`)).status).toBe(200)
    expect((await fetch(`${rt.url}/metrics`)).status).toBe(200)

    stop()
    await waitFor(async () => (await fetch(`${rt.url}/readyz`)).status === 200, 15_000, 'recovery')
    expect((await fetch(`${rt.url}/function/echo`)).status).toBe(200)
  })

  it('sheds load above a heap threshold, naming the flag', async () => {
    const rt = await startRuntime(STACK, { pressure: { maxHeapBytes: 1024 * 1024, sampleIntervalMs: 50 } })
    await waitFor(async () => (await fetch(`${rt.url}/readyz`)).status === 503, 10_000, 'heap pressure')
    const res = await fetch(`${rt.url}/function/echo`)
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('5')
    expect(await res.text()).toMatch(/heap used \d+ MiB > 1 MiB \(--max-heap\)/)
    expect((await fetch(`${rt.url}/healthz`)).status).toBe(200)
  })

  it('stays out of the way under normal load with the default thresholds', async () => {
    const rt = await startRuntime(STACK)
    const results = await Promise.all(Array.from({ length: 50 }, () => fetch(`${rt.url}/function/echo`).then((r) => r.status)))
    expect(results.every((s) => s === 200)).toBe(true)
    expect((await fetch(`${rt.url}/readyz`)).status).toBe(200)
  })
})
