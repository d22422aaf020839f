import { describe, expect, it } from 'vitest'
import type { Runtime } from '../../src/index.js'
import { startRuntime, waitFor } from '../helpers.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Records the highest and lowest replica counts seen while `during` runs. */
function watchReplicas(rt: Runtime, name: string): { max: number; min: number; stop: () => void } {
  const seen = { max: 0, min: Infinity, stop: () => clearInterval(timer) }
  const timer = setInterval(() => {
    const s = rt.stats().functions[name]
    if (!s) return
    seen.max = Math.max(seen.max, s.ready)
    seen.min = Math.min(seen.min, s.ready)
  }, 20)
  return seen
}

/** A sync caller that respects 429 as a client of OpenFaaS should: waits a little and tries again. */
async function callUntilServed(url: string): Promise<{ status: number; tries: number }> {
  for (let tries = 1; ; tries++) {
    const res = await fetch(url)
    await res.arrayBuffer()
    // 503 is the gateway's overload guard on a busy machine: also a "come back later".
    if (res.status !== 429 && res.status !== 503) return { status: res.status, tries }
    await sleep(50 + Math.random() * 100)
  }
}

/** `clients` callers in a closed loop for `ms` (or until `done()`); every status is kept. */
async function steadyLoad(url: string, clients: number, until: number | (() => boolean)): Promise<number[]> {
  const statuses: number[] = []
  const deadline = typeof until === 'number' ? Date.now() + until : Infinity
  const done = typeof until === 'number' ? () => Date.now() >= deadline : until
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!done()) {
        const res = await fetch(url)
        await res.arrayBuffer()
        statuses.push(res.status)
      }
    }),
  )
  return statuses
}

/**
 * The steady-load tests count every answer: the gateway's event-loop-delay guard (503 when
 * the machine running the suite is saturated by other work) is a different component, off here.
 */
const STEADY = { maxEventLoopDelayMs: 0 }

describe('autoscaler', () => {
  it('capacity mode (the seed scenario, sync): a wall of 429s becomes replicas, then back to min', async () => {
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
    const seen = watchReplicas(rt, 'pause')
    const started = performance.now()
    // 60 one-second calls: one replica (5 at a time) would need 12 s.
    const results = await Promise.all(Array.from({ length: 60 }, () => callUntilServed(`${rt.url}/function/pause?ms=1000`)))
    const makespan = performance.now() - started
    seen.stop()
    expect(results.every((r) => r.status === 200)).toBe(true)
    expect(results.some((r) => r.tries > 1)).toBe(true) // the load did hit the limit
    expect(seen.max).toBeGreaterThan(1)
    expect(makespan).toBeLessThan(9000)
    const up = logs.find((l) => l.startsWith('pause: 1 → '))
    expect(up).toMatch(/^pause: 1 → \d+ replicas \(capacity \d+\.\d \/ target 4 × 0\.90\)$/)
    await waitFor(() => rt.stats().functions.pause?.desired === 1 && rt.stats().functions.pause?.ready === 1, 10_000, 'back to min')
    expect(logs.some((l) => /^pause: \d+ → 1 replicas \(capacity 0\.0 .*lower for 2s\)$/.test(l))).toBe(true)
    const snap = rt.autoscaler.snapshot().pause
    expect(snap).toMatchObject({ type: 'capacity', target: 4, max: 20, desired: 1 })
  })

  it('rps mode scales up under load and back down', async () => {
    const logs: string[] = []
    // A handler that keeps its event loop busy: more replicas of it do serve more calls.
    const rt = await startRuntime(`
functions:
  echo:
    lang: typescript
    handler: @/scale-spin
    labels:
      com.openfaas.scale.type: rps
      com.openfaas.scale.target: "20"
      com.openfaas.scale.max: "4"
      com.openfaas.scale.down.window: 1s
`, { autoscaleIntervalMs: 250, log: (l) => logs.push(l), pressure: STEADY })
    const seen = watchReplicas(rt, 'echo')
    const statuses = await steadyLoad(`${rt.url}/function/echo?ms=5`, 4, 3000)
    seen.stop()
    expect(statuses.length).toBeGreaterThan(100) // well over 20 rps per replica
    expect(statuses.every((s) => s === 200)).toBe(true)
    expect(seen.max).toBeGreaterThan(1)
    expect(logs.some((l) => /^echo: 1 → \d replicas \(rps \d+\.\d \/ target 20 × 0\.90[,)]/.test(l))).toBe(true)
    await waitFor(() => rt.stats().functions.echo?.ready === 1 && rt.stats().functions.echo?.desired === 1, 15_000, 'back to min')
  })

  it('holds a function without max_inflight at one replica when more threads would not serve it faster', async () => {
    const logs: string[] = []
    const stack = `
functions:
  hello:
    lang: javascript
    handler: ./hello
`
    const files = { 'hello/handler.js': 'export default function handle() {\n  return "hello world\\n"\n}\n' }
    const rt = await startRuntime(stack, { autoscaleIntervalMs: 250, log: (l) => logs.push(l), pressure: STEADY }, files)
    const seen = watchReplicas(rt, 'hello')
    // Four curl loops against a trivial handler: the rps rule alone asks for up to 20 replicas.
    const statuses = await steadyLoad(`${rt.url}/function/hello`, 4, 3000)
    seen.stop()
    expect(statuses.length).toBeGreaterThan(500)
    expect(statuses.every((s) => s === 200)).toBe(true)
    expect(seen.max).toBe(1)
    const held = logs.filter((l) => l.startsWith('hello: held at 1 of '))
    expect(held).toHaveLength(1) // once, however many ticks it lasted
    expect(held[0]).toMatch(/^hello: held at 1 of \d+ replicas \(rps \d+\.\d \/ target 50 × 0\.90; replicas \d+ % busy: more threads would not serve it faster\)$/)
    expect(logs.some((l) => /^hello: 1 → /.test(l))).toBe(false)
    // Shown where people look: the function's status (describe) says how many and why.
    const status = (await (await fetch(`${rt.url}/system/function/hello`)).json()) as { replicas: number; scaleHold?: { wanted: number; why: string } }
    expect(status.replicas).toBe(1)
    expect(status.scaleHold?.wanted).toBeGreaterThan(1)
    expect(status.scaleHold?.why).toMatch(/busy: more threads would not serve it faster/)
  })

  it('a tick does not wait on a replica whose handler blocks its event loop (that would hold up every function)', async () => {
    const rt = await startRuntime(`
functions:
  report:
    lang: javascript
    handler: ./report
`, { autoscaleIntervalMs: 0, pressure: STEADY }, { 'report/handler.js': 'export default function handle() {\n  const until = Date.now() + 3000\n  while (Date.now() < until) {}\n  return "done\\n"\n}\n' })
    const call = fetch(`${rt.url}/function/report`).then((r) => r.text())
    await waitFor(() => (rt.stats().functions.report?.inflight ?? 0) > 0, 5000, 'the call running')
    await sleep(100) // its replica's event loop is now blocked for about 3 s
    const started = performance.now()
    await rt.autoscaler.tick()
    // A ping to the blocked replica would take its whole 1 s timeout.
    expect(performance.now() - started).toBeLessThan(900)
    expect(await call).toBe('done\n')
  })

  it('scales past what helps with scaleAlways (--scale-always), as OpenFaaS does on a cluster', async () => {
    const rt = await startRuntime(`
functions:
  hello:
    lang: javascript
    handler: ./hello
    labels:
      com.openfaas.scale.max: "3"
`, { autoscaleIntervalMs: 250, log: () => undefined, pressure: STEADY, scaleAlways: true }, { 'hello/handler.js': 'export default () => "hello world\\n"\n' })
    const seen = watchReplicas(rt, 'hello')
    const until = performance.now() + 10_000
    await steadyLoad(`${rt.url}/function/hello`, 4, () => seen.max > 1 || performance.now() > until)
    seen.stop()
    expect(seen.max).toBeGreaterThan(1)
    expect(rt.stats().functions.hello?.scaleHold).toBeUndefined()
  })

  it('cpu mode scales up while replicas keep their event loops busy and back down', async () => {
    const logs: string[] = []
    const rt = await startRuntime(`
functions:
  spin:
    lang: typescript
    handler: @/scale-spin
    labels:
      com.openfaas.scale.type: cpu
      com.openfaas.scale.target: "400"
      com.openfaas.scale.max: "3"
      com.openfaas.scale.down.window: 1s
`, { autoscaleIntervalMs: 250, log: (l) => logs.push(l), pressure: STEADY })
    const seen = watchReplicas(rt, 'spin')
    const statuses = await steadyLoad(`${rt.url}/function/spin?ms=40`, 3, 3000)
    seen.stop()
    expect(statuses.every((s) => s === 200)).toBe(true)
    expect(seen.max).toBeGreaterThan(1)
    expect(logs.some((l) => /^spin: 1 → \d replicas \(cpu \d+\.\d \/ target 400 × 0\.90[,)]/.test(l))).toBe(true)
    await waitFor(() => rt.stats().functions.spin?.ready === 1 && rt.stats().functions.spin?.desired === 1, 15_000, 'back to min')
  })

  it('scales to zero after zero-duration, then serves a sync call with a logged cold start', async () => {
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
    expect((await fetch(`${rt.url}/function/echo`)).status).toBe(200)
    const idleSince = performance.now()
    await waitFor(() => rt.stats().functions.echo?.replicas === 0 && rt.stats().functions.echo?.ready === 0, 10_000, 'scale to zero')
    expect(performance.now() - idleSince).toBeGreaterThan(1500)
    expect(logs).toContain('echo: 1 → 0 replicas (no calls for 2s, scale to zero)')
    const atZero = await (await fetch(`${rt.url}/metrics`)).text()
    expect(atZero).toContain('gateway_service_count{function_name="echo.openfaas-fn"} 0')
    expect(atZero).toContain('gateway_service_ready_count{function_name="echo.openfaas-fn"} 0')
    expect(atZero).toContain('gateway_service_target_load{function_name="echo.openfaas-fn",scaling_type="rps"} 50')

    const res = await fetch(`${rt.url}/function/echo`, { method: 'POST', body: 'wake' })
    expect(res.status).toBe(200)
    expect(((await res.json()) as { body: string }).body).toBe('wake')
    expect(rt.stats().functions.echo?.ready).toBe(1)
    expect(logs.some((l) => /^echo: cold start \d+ ms$/.test(l))).toBe(true)
    expect(rt.autoscaler.snapshot().echo?.lastColdStartMs).toBeGreaterThan(0)
    const awake = await (await fetch(`${rt.url}/metrics`)).text()
    expect(awake).toContain('gateway_service_count{function_name="echo.openfaas-fn"} 1')
    expect(awake).toContain('gateway_service_ready_count{function_name="echo.openfaas-fn"} 1')
  })

  it('after a manual scale-up, scales down under steady load without dropping a call', async () => {
    const logs: string[] = []
    const rt = await startRuntime(`
functions:
  pause:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 10
    labels:
      com.openfaas.scale.type: capacity
      com.openfaas.scale.target: "4"
      com.openfaas.scale.max: "10"
      com.openfaas.scale.down.window: 4s
`, { autoscaleIntervalMs: 250, log: (l) => logs.push(l), pressure: STEADY })
    const seen = watchReplicas(rt, 'pause')
    let scaledDownAt = Infinity
    const t0 = performance.now()
    const load = steadyLoad(`${rt.url}/function/pause?ms=200`, 6, () => performance.now() > Math.min(scaledDownAt + 1500, t0 + 25_000))
    await sleep(300)
    const scaled = await fetch(`${rt.url}/system/scale-function/pause`, { method: 'POST', body: JSON.stringify({ serviceName: 'pause', replicas: 8 }), headers: { 'content-type': 'application/json' } })
    expect(scaled.status).toBe(202)
    // 6 callers spread over (at least) 6 ready replicas: scaling to 2 drains replicas with calls in flight.
    await waitFor(() => logs.some((l) => l.startsWith('pause: 8 → ')), 20_000, 'the scale-down')
    scaledDownAt = performance.now()
    const statuses = await load
    seen.stop()
    expect(statuses.length).toBeGreaterThan(50)
    expect(statuses.filter((s) => s !== 200)).toEqual([])
    // ceil(6 / 3.6) = 2: after holding the manual 8 for the down window, the autoscaler moved back under the load.
    expect(seen.max).toBeGreaterThanOrEqual(6)
    expect(seen.min).toBeLessThanOrEqual(2)
    expect(logs.some((l) => /^pause: 8 → [12] replicas \(capacity \d\.0 \/ target 4 × 0\.90, lower for 4s\)$/.test(l))).toBe(true)
  })
})
