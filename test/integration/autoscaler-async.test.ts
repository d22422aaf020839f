import { createServer } from 'node:http'
import { describe, expect, it, onTestFinished } from 'vitest'
import { startRuntime, waitFor } from '../helpers.js'

/** A real callback receiver on port 0 that keeps each call id with its function status. */
async function receiver(): Promise<{ url: string; statuses: Map<string, string> }> {
  const statuses = new Map<string, string>()
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      statuses.set(String(req.headers['x-call-id']), String(req.headers['x-function-status']))
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  const addr = server.address()
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/cb`, statuses }
}

/**
 * Submits one async call as a well-behaved client: a 503 from the gateway's overload guard
 * (the machine running these tests is shared, and starting many replicas at once can starve
 * the main thread) is retried after its Retry-After, capped at 1 s here.
 */
async function submit(url: string, callbackUrl: string): Promise<Response> {
  for (;;) {
    const res = await fetch(url, { method: 'POST', headers: { 'X-Callback-Url': callbackUrl } })
    if (res.status !== 503) return res
    await res.arrayBuffer()
    await new Promise((r) => setTimeout(r, Math.min(1000, Number(res.headers.get('retry-after') ?? 1) * 1000)))
  }
}

describe('autoscaler with async calls', () => {
  it('the seed scenario: 500 async one-second calls are all called back 200, replicas rise and fall back to min', async () => {
    const logs: string[] = []
    const rt = await startRuntime(`
functions:
  pause:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 5
    labels:
      com.openfaas.scale.type: capacity
      com.openfaas.scale.target: "4"
      com.openfaas.scale.max: "20"
      com.openfaas.scale.down.window: 2s
`, { autoscaleIntervalMs: 250, log: (l) => logs.push(l) })
    const cb = await receiver()
    let firstScaledAt = Infinity
    let maxReady = 0
    const started = performance.now()
    const watch = setInterval(() => {
      const ready = rt.stats().functions.pause?.ready ?? 0
      maxReady = Math.max(maxReady, ready)
      if (ready > 1 && firstScaledAt === Infinity) firstScaledAt = performance.now() - started
    }, 20)
    onTestFinished(() => clearInterval(watch))

    const ids: string[] = []
    for (let i = 0; i < 500; i++) {
      const res = await submit(`${rt.url}/async-function/pause?ms=1000`, cb.url)
      expect(res.status).toBe(202)
      ids.push(res.headers.get('x-call-id') as string)
    }
    await waitFor(() => cb.statuses.size === 500, 40_000, '500 callbacks')
    const makespan = performance.now() - started
    clearInterval(watch)

    expect(ids.filter((id) => cb.statuses.get(id) !== '200')).toEqual([])
    expect(firstScaledAt).toBeLessThan(5000)
    expect(maxReady).toBeGreaterThan(10)
    // One replica (5 at a time) would need 100 s; 20 replicas ideally 5 s.
    expect(makespan).toBeLessThan(25_000)
    expect(logs.some((l) => /^pause: 1 → \d+ replicas \(capacity \d+\.\d \/ target 4 × 0\.90\)$/.test(l))).toBe(true)
    await waitFor(() => rt.stats().functions.pause?.desired === 1 && rt.stats().functions.pause?.ready === 1, 10_000, 'back to min')
  })

  it('queue mode scales on pending async messages and back down', async () => {
    const logs: string[] = []
    const rt = await startRuntime(`
functions:
  pause:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 2
    labels:
      com.openfaas.scale.type: queue
      com.openfaas.scale.target: "5"
      com.openfaas.scale.max: "6"
      com.openfaas.scale.down.window: 1s
`, { autoscaleIntervalMs: 250, log: (l) => logs.push(l) })
    const cb = await receiver()
    let maxReady = 0
    const watch = setInterval(() => (maxReady = Math.max(maxReady, rt.stats().functions.pause?.ready ?? 0)), 20)
    onTestFinished(() => clearInterval(watch))
    for (let i = 0; i < 60; i++) {
      const res = await submit(`${rt.url}/async-function/pause?ms=300`, cb.url)
      expect(res.status).toBe(202)
    }
    await waitFor(() => cb.statuses.size === 60, 20_000, '60 callbacks')
    clearInterval(watch)
    expect([...cb.statuses.values()].every((s) => s === '200')).toBe(true)
    expect(maxReady).toBeGreaterThan(1)
    expect(logs.some((l) => /^pause: \d → \d replicas \(queue \d+\.\d \/ target 5 × 0\.90\)$/.test(l))).toBe(true)
    await waitFor(() => rt.stats().functions.pause?.desired === 1 && rt.stats().functions.pause?.ready === 1, 10_000, 'back to min')
  })

  it('an async call wakes a function scaled to zero and is processed', async () => {
    const logs: string[] = []
    const rt = await startRuntime(`
functions:
  echo:
    lang: typescript
    handler: @/echo
    labels:
      com.openfaas.scale.zero: "true"
      com.openfaas.scale.zero-duration: 2s
`, { autoscaleIntervalMs: 250, log: (l) => logs.push(l) })
    const cb = await receiver()
    await waitFor(() => rt.stats().functions.echo?.replicas === 0 && rt.stats().functions.echo?.ready === 0, 10_000, 'scale to zero')
    const res = await fetch(`${rt.url}/async-function/echo`, { method: 'POST', body: 'late', headers: { 'X-Callback-Url': cb.url } })
    expect(res.status).toBe(202)
    const id = res.headers.get('x-call-id') as string
    await waitFor(() => cb.statuses.has(id), 10_000, 'callback')
    expect(cb.statuses.get(id)).toBe('200')
    expect(rt.stats().functions.echo?.ready).toBe(1)
    expect(logs.some((l) => /^echo: cold start \d+ ms$/.test(l))).toBe(true)
  })
})
