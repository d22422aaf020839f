import { execFile } from 'node:child_process'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import type { Runtime } from '../../src/index.js'
import { startRuntime, waitFor } from '../helpers.js'
import { callbackServer, submit } from './async-helpers.js'
import { call, startWatched, versionSource } from './reload-helpers.js'

const run = promisify(execFile)
const CLI = resolve(import.meta.dirname, '../../bin/faasdev.js')

// exec_timeout is short so a timeout fault answers quickly; `capped` has a real heap limit.
const STACK = `
functions:
  orders:
    lang: typescript
    handler: @/orders
    environment:
      exec_timeout: 1s
      write_timeout: 2s
  capped:
    lang: typescript
    handler: @/orders
    limits:
      memory: 32Mi
    environment:
      max_inflight: 10
`
const FAST_RETRY = { retry: { initialWaitMs: 50, maxWaitMs: 200 } }

// `orders` with the default exec_timeout, for the oom faults: filling a heap until V8 gives up
// can pass STACK's 1 s on a loaded machine, and a call past exec_timeout is rightly a 504.
const NO_SHORT_TIMEOUT = `
functions:
  orders:
    lang: typescript
    handler: @/orders
`

/** `reports` with one slot (`max_inflight: 1`), taken by a call sleeping `ms`. */
async function oneSlotBusyFor(ms: number): Promise<{ rt: Runtime; busy: Promise<Response> }> {
  const rt = await startRuntime(`
functions:
  reports:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 1
`)
  const busy = fetch(`${rt.url}/function/reports?ms=${ms}`)
  await waitFor(() => rt.stats().functions.reports?.inflight === 1, 10_000, 'the busy call')
  return { rt, busy }
}

const order = (sku = 'tea'): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sku, quantity: 2 }) })

async function inject(rt: Runtime, spec: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${rt.url}/system/faults`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(spec) })
}

/** One sample of /metrics, 0 when absent. */
async function metric(rt: Runtime, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${rt.url}/metrics`)).text()
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    const labelText = line.slice(name.length + 1, line.indexOf('}'))
    if (want.every((w) => labelText.split(',').includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return 0
}

async function replicaOf(rt: Runtime, fn: string): Promise<number> {
  const res = await fetch(`${rt.url}/function/${fn}`)
  expect(res.status).toBe(200)
  return ((await res.json()) as { replica: number }).replica
}

describe('fault injection: the HTTP API', () => {
  it('adds (201), lists, reads and clears faults; bad specs get 400 naming the field', async () => {
    const rt = await startRuntime(STACK)
    const res = await inject(rt, { function: 'orders.openfaas-fn', kind: 'latency', ms: 10, count: 3 })
    expect(res.status).toBe(201)
    const fault = (await res.json()) as { id: string }
    expect(fault).toMatchObject({ function: 'orders', kind: 'latency', ms: 10, count: 3, remaining: 3, probability: 1 })
    expect(await (await fetch(`${rt.url}/system/faults`)).json()).toEqual([fault])
    expect(await (await fetch(`${rt.url}/system/faults/${fault.id}`)).json()).toEqual(fault)
    expect(rt.faults.list('orders')).toEqual([fault])

    const bad: [Record<string, unknown>, RegExp][] = [
      [{ function: 'nope', kind: 'crash' }, /^function: no function named "nope"/],
      [{ kind: 'crash' }, /^function: /],
      [{ function: 'orders', kind: 'explode' }, /^kind: "explode" is not one of error, latency, timeout, crash, oom, cold, callback/],
      [{ function: 'orders', kind: 'crash', count: 0 }, /^count: must be a whole number ≥ 1/],
      [{ function: 'orders', kind: 'crash', count: 1.5 }, /^count: /],
      [{ function: 'orders', kind: 'crash', probability: 1.5 }, /^probability: must be a number from 0 to 1/],
      [{ function: 'orders', kind: 'crash', probability: -0.1 }, /^probability: /],
      [{ function: 'orders', kind: 'latency' }, /^ms: a latency fault needs ms/],
      [{ function: 'orders', kind: 'crash', ms: 5 }, /^ms: only a latency fault/],
      [{ function: 'orders', kind: 'error', status: 200 }, /^status: must be an HTTP error status/],
      [{ function: 'orders', kind: 'crash', cnt: 2 }, /^cnt: unknown field/],
    ]
    for (const [spec, message] of bad) {
      const r = await inject(rt, spec)
      expect(r.status, JSON.stringify(spec)).toBe(400)
      expect(await r.text(), JSON.stringify(spec)).toMatch(message)
    }
    const notJson = await fetch(`${rt.url}/system/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1]' })
    expect(notJson.status).toBe(400)

    expect((await fetch(`${rt.url}/system/faults/${fault.id}`, { method: 'DELETE' })).status).toBe(200)
    expect((await fetch(`${rt.url}/system/faults/${fault.id}`, { method: 'DELETE' })).status).toBe(404)
    await inject(rt, { function: 'orders', kind: 'crash' })
    await inject(rt, { function: 'capped', kind: 'cold' })
    expect(await (await fetch(`${rt.url}/system/faults`, { method: 'DELETE' })).json()).toEqual({ cleared: 2 })
    expect(await (await fetch(`${rt.url}/system/faults`)).json()).toEqual([])
    // Nothing was met: every call still reaches the handler.
    expect((await fetch(`${rt.url}/function/orders`, order())).status).toBe(201)
  })

  it('sits behind --auth like the rest of /system', async () => {
    const rt = await startRuntime(STACK, { auth: { password: 'pw' } })
    for (const [method, path] of [['POST', '/system/faults'], ['GET', '/system/faults'], ['DELETE', '/system/faults'], ['DELETE', '/system/faults/x']] as const) {
      const r = await fetch(`${rt.url}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(method === 'POST' ? { body: JSON.stringify({ function: 'orders', kind: 'crash' }) } : {}) })
      expect(r.status, `${method} ${path}`).toBe(401)
    }
    expect(rt.faults.list()).toEqual([])
    const ok = await inject(rt, { function: 'orders', kind: 'crash' }, { authorization: `Basic ${Buffer.from('admin:pw').toString('base64')}` })
    expect(ok.status).toBe(201)
  })

  it('a probability of 0 never fires; faults apply only to their own function', async () => {
    const rt = await startRuntime(STACK)
    await inject(rt, { function: 'orders', kind: 'error', probability: 0 })
    await inject(rt, { function: 'capped', kind: 'error', status: 503 })
    for (let i = 0; i < 5; i++) expect((await fetch(`${rt.url}/function/orders`, order())).status).toBe(201)
    expect(rt.faults.list('orders')[0]).toMatchObject({ remaining: 1 })
    expect((await fetch(`${rt.url}/function/capped`, order())).status).toBe(503)
  })
})

describe('fault injection: each kind, sync', () => {
  it('error: the platform answers the status without running the handler, then calls go through', async () => {
    const rt = await startRuntime(STACK)
    await inject(rt, { function: 'orders', kind: 'error', status: 503, count: 2 })
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${rt.url}/function/orders`, order())
      expect(res.status).toBe(503)
      expect(res.headers.get('x-openfaas-internal')).toBe('faasdev-fault')
      expect(await res.text()).toMatch(/fault injected \(.+\): error 503/)
    }
    expect((await fetch(`${rt.url}/function/orders`, order())).status).toBe(201)
    // The handler ran once: the faulted calls never reached it.
    await waitFor(() => rt.logs.tail('orders').length > 0, 5_000, 'the handler output')
    expect(rt.logs.tail('orders').filter((l) => l.text.startsWith('order '))).toHaveLength(1)
    expect(await metric(rt, 'faasdev_faults_injected_total', { function_name: 'orders.openfaas-fn', kind: 'error' })).toBe(2)
    expect(await metric(rt, 'gateway_function_invocation_total', { function_name: 'orders.openfaas-fn', code: '503' })).toBe(2)
    expect(rt.faults.list()).toEqual([])
  })

  it('latency: ms added before the handler runs, on the replica', async () => {
    const rt = await startRuntime(STACK)
    await inject(rt, { function: 'orders', kind: 'latency', ms: 300 })
    const t0 = performance.now()
    const res = await fetch(`${rt.url}/function/orders`, order())
    expect(res.status).toBe(201)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290)
    expect(Number(res.headers.get('x-duration-seconds'))).toBeGreaterThanOrEqual(0.29)
    expect(await metric(rt, 'faasdev_faults_injected_total', { function_name: 'orders.openfaas-fn', kind: 'latency' })).toBe(1)
  })

  it('latency past exec_timeout is a real timeout: 504', async () => {
    const rt = await startRuntime(STACK)
    await inject(rt, { function: 'orders', kind: 'latency', ms: 1500 })
    const res = await fetch(`${rt.url}/function/orders`, order())
    expect(res.status).toBe(504)
  })

  it('timeout: the call hangs until exec_timeout answers 504 with an empty body; the replica lives on', async () => {
    const rt = await startRuntime(STACK)
    const before = await replicaOf(rt, 'orders')
    await inject(rt, { function: 'orders', kind: 'timeout' })
    const t0 = performance.now()
    const res = await fetch(`${rt.url}/function/orders`, order())
    expect(res.status).toBe(504)
    expect(await res.text()).toBe('')
    expect(res.headers.get('x-openfaas-internal')).toBe('of-watchdog')
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950)
    expect(await replicaOf(rt, 'orders')).toBe(before)
    expect(await metric(rt, 'faasdev_replica_restarts_total', { function_name: 'orders.openfaas-fn' })).toBe(0)
  })

  it('crash: the replica serving the call dies (502), then a new one replaces it', async () => {
    const rt = await startRuntime(STACK)
    const before = await replicaOf(rt, 'orders')
    await inject(rt, { function: 'orders', kind: 'crash' })
    const res = await fetch(`${rt.url}/function/orders`, order())
    expect(res.status).toBe(502)
    expect(res.headers.get('x-openfaas-internal')).toBe('of-watchdog')
    expect(await res.text()).toMatch(/stopped \(crash\): fault injected: crash/)
    await waitFor(() => rt.stats().functions.orders?.ready === 1, 10_000, 'the replacement replica')
    expect(await replicaOf(rt, 'orders')).not.toBe(before)
    expect(await metric(rt, 'faasdev_replica_restarts_total', { function_name: 'orders.openfaas-fn', reason: 'crash' })).toBe(1)
    expect(await metric(rt, 'faasdev_faults_injected_total', { function_name: 'orders.openfaas-fn', kind: 'crash' })).toBe(1)
  })

  it('oom: the replica exceeds its limits.memory heap (502), then is replaced; other functions never notice', async () => {
    const rt = await startRuntime(STACK)
    const before = await replicaOf(rt, 'capped')
    const other = await replicaOf(rt, 'orders')
    await inject(rt, { function: 'capped', kind: 'oom' })
    const res = await fetch(`${rt.url}/function/capped`, order())
    expect(res.status).toBe(502)
    expect(await res.text()).toMatch(/stopped \(oom\)/)
    await waitFor(() => rt.stats().functions.capped?.ready === 1, 10_000, 'the replacement replica')
    expect(await replicaOf(rt, 'capped')).not.toBe(before)
    expect(await replicaOf(rt, 'orders')).toBe(other)
    expect(await metric(rt, 'faasdev_replica_restarts_total', { function_name: 'capped.openfaas-fn', reason: 'oom' })).toBe(1)
  })

  it('oom without limits.memory: the call runs on a replica with a small heap, which runs out quickly', async () => {
    const rt = await startRuntime(NO_SHORT_TIMEOUT)
    const before = await replicaOf(rt, 'orders')
    await inject(rt, { function: 'orders', kind: 'oom' })
    const t0 = performance.now()
    const res = await fetch(`${rt.url}/function/orders`, order())
    expect(res.status).toBe(502)
    expect(await res.text()).toMatch(/stopped \(oom\)/)
    expect(performance.now() - t0).toBeLessThan(10_000)
    await waitFor(() => {
      const s = rt.stats().functions.orders
      return s?.ready === 1 && s.replicas === 1
    }, 10_000, 'one ready replica again')
    // The small-heap replica served only the fault's call: the one serving before still does.
    expect(await replicaOf(rt, 'orders')).toBe(before)
    expect(await metric(rt, 'faasdev_replica_restarts_total', { function_name: 'orders.openfaas-fn', reason: 'oom' })).toBe(1)
  })

  it('oom without limits.memory while every replica is busy: still a real OOM, and the replica count stays', async () => {
    // The only replica is busy: scaling must stop neither it nor the fault's replica.
    const { rt, busy } = await oneSlotBusyFor(3000)
    await inject(rt, { function: 'reports', kind: 'oom' })
    const res = await fetch(`${rt.url}/function/reports`)
    expect(res.status).toBe(502)
    expect(await res.text()).toMatch(/stopped \(oom\)/)
    const done = await busy
    expect(done.status).toBe(200)
    expect(await done.text()).toBe('slept 3000')
    expect(await metric(rt, 'faasdev_replica_restarts_total', { function_name: 'reports.openfaas-fn', reason: 'oom' })).toBe(1)
    expect(rt.stats().functions.reports).toMatchObject({ desired: 1, replicas: 1, ready: 1 })
  })

  it('cold: the function is at zero replicas when the call arrives, which is held while a new one starts', async () => {
    const rt = await startRuntime(STACK)
    const before = await replicaOf(rt, 'orders')
    await inject(rt, { function: 'orders', kind: 'cold' })
    const pending = fetch(`${rt.url}/function/orders`, order())
    const res = await pending
    expect(res.status).toBe(201)
    const body = (await res.json()) as { replica: number }
    expect(body.replica).not.toBe(before)
    expect(await replicaOf(rt, 'orders')).toBe(body.replica)
    expect(rt.stats().functions.orders).toMatchObject({ desired: 1, ready: 1 })
    expect(await metric(rt, 'faasdev_faults_injected_total', { function_name: 'orders.openfaas-fn', kind: 'cold' })).toBe(1)
  })
})

describe('fault injection: calls that do not go ahead, rollouts', () => {
  it('a call turned away with 429 does not spend a fault that needs a replica slot; the next call meets it', async () => {
    const { rt, busy } = await oneSlotBusyFor(1500)
    const fault = (await (await inject(rt, { function: 'reports', kind: 'crash' })).json()) as { id: string }
    const turnedAway = await fetch(`${rt.url}/function/reports?ms=1`)
    expect(turnedAway.status).toBe(429)
    expect(rt.faults.list('reports')).toMatchObject([{ id: fault.id, remaining: 1 }])
    expect(await metric(rt, 'faasdev_faults_injected_total', { function_name: 'reports.openfaas-fn', kind: 'crash' })).toBe(0)
    expect((await busy).status).toBe(200)
    const crashed = await fetch(`${rt.url}/function/reports?ms=1`)
    expect(crashed.status).toBe(502)
    expect(rt.faults.list('reports')).toEqual([])
    expect(await metric(rt, 'faasdev_faults_injected_total', { function_name: 'reports.openfaas-fn', kind: 'crash' })).toBe(1)
  })

  it('cold during a rolling reload: the old version stops serving too, and the call waits for a new replica', async () => {
    const { rt, save } = await startWatched(
      `
functions:
  hello:
    lang: typescript
    handler: ./hello
    labels:
      com.openfaas.scale.min: 3
      com.openfaas.scale.max: 3
`,
      { 'hello/handler.ts': versionSource('v0') },
    )
    // v1 takes 2 s to load, so the rollout is still under way (old replicas serving) once its first replica serves.
    save('hello/handler.ts', `await new Promise((r) => setTimeout(r, 2000))\n${versionSource('v1')}`)
    await waitFor(async () => (await call(`${rt.url}/function/hello`)).body === 'v1', 30_000, 'the first v1 replica')
    expect(rt.stats().functions.hello?.replicas).toBeGreaterThan(1)
    await inject(rt, { function: 'hello', kind: 'cold' })
    const cold = await call(`${rt.url}/function/hello`)
    expect(cold).toMatchObject({ status: 200, body: 'v1' })
  })
})

describe('fault injection: async calls meet faults like sync ones', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['error', { kind: 'error', status: 503, count: 2 }, '2'],
    ['crash', { kind: 'crash' }, '1'],
    ['timeout', { kind: 'timeout' }, '1'],
    ['oom', { kind: 'oom' }, '1'],
  ]
  for (const [kind, spec, retries] of cases) {
    it(`${kind}: the queue-worker retries and the callback reports the recovery (X-Retry ${retries})`, async () => {
      const rt = await startRuntime(kind === 'oom' ? NO_SHORT_TIMEOUT : STACK, FAST_RETRY)
      const cb = await callbackServer()
      await inject(rt, { function: 'orders', ...spec })
      const res = await submit(rt.url, 'orders', { 'x-callback-url': cb.url, 'x-call-id': `async-${kind}`, 'content-type': 'application/json' }, JSON.stringify({ sku: 'tea', quantity: 1 }))
      expect(res.status).toBe(202)
      await waitFor(() => cb.received.length === 1, 15_000, 'the callback')
      const got = cb.received[0]!
      expect(got.headers['x-function-status']).toBe('201')
      expect(got.headers['x-retry']).toBe(retries)
      expect(JSON.parse(got.body)).toMatchObject({ accepted: true })
      expect(await metric(rt, 'faasdev_retries_total', { function_name: 'orders.openfaas-fn' })).toBe(Number(retries))
      expect(await metric(rt, 'faasdev_faults_injected_total', { function_name: 'orders.openfaas-fn', kind })).toBe(Number(retries))
      if (kind === 'crash' || kind === 'oom') expect(await metric(rt, 'faasdev_replica_restarts_total', { function_name: 'orders.openfaas-fn', reason: kind })).toBe(1)
    })
  }

  it('latency: the async call is slower by ms and succeeds without a retry', async () => {
    const rt = await startRuntime(STACK)
    const cb = await callbackServer()
    await inject(rt, { function: 'orders', kind: 'latency', ms: 300 })
    await submit(rt.url, 'orders', { 'x-callback-url': cb.url, 'content-type': 'application/json' }, JSON.stringify({ sku: 'tea', quantity: 1 }))
    await waitFor(() => cb.received.length === 1, 15_000, 'the callback')
    const got = cb.received[0]!
    expect(got.headers['x-function-status']).toBe('201')
    expect(got.headers['x-retry']).toBe('0')
    expect(Number(got.headers['x-duration-seconds'])).toBeGreaterThanOrEqual(0.29)
    expect(await metric(rt, 'faasdev_faults_injected_total', { function_name: 'orders.openfaas-fn', kind: 'latency' })).toBe(1)
  })

  it('cold: the async call wakes the function from zero and succeeds at once', async () => {
    const rt = await startRuntime(STACK)
    const cb = await callbackServer()
    const before = await replicaOf(rt, 'orders')
    await inject(rt, { function: 'orders', kind: 'cold' })
    await submit(rt.url, 'orders', { 'x-callback-url': cb.url, 'content-type': 'application/json' }, JSON.stringify({ sku: 'tea', quantity: 1 }))
    await waitFor(() => cb.received.length === 1, 15_000, 'the callback')
    expect(cb.received[0]!.headers['x-retry']).toBe('0')
    expect((JSON.parse(cb.received[0]!.body) as { replica: number }).replica).not.toBe(before)
  })

  it('callback: the callback POST fails on the wire, as to an unreachable receiver; the next call back arrives', async () => {
    const rt = await startRuntime(STACK, { callback: { attempts: 2, initialWaitMs: 20 } })
    const cb = await callbackServer()
    await inject(rt, { function: 'orders', kind: 'callback' })
    // A sync call does not spend a callback fault.
    expect((await fetch(`${rt.url}/function/orders`, order())).status).toBe(201)
    await submit(rt.url, 'orders', { 'x-callback-url': cb.url, 'x-call-id': 'lost-cb', 'content-type': 'application/json' }, JSON.stringify({ sku: 'tea', quantity: 1 }))
    await rt.idle()
    expect(cb.received).toHaveLength(0)
    const status = (await (await fetch(`${rt.url}/system/async-function/lost-cb`)).json()) as { status: string; callback: { error?: string; attempts: number } }
    expect(status.status).toBe('succeeded')
    expect(status.callback.attempts).toBe(2)
    expect(status.callback.error).toBeTruthy()
    expect(((await (await fetch(`${rt.url}/system/queue`)).json()) as { callbacksFailed: number }).callbacksFailed).toBe(1)
    await submit(rt.url, 'orders', { 'x-callback-url': cb.url, 'x-call-id': 'kept-cb', 'content-type': 'application/json' }, JSON.stringify({ sku: 'tea', quantity: 1 }))
    await waitFor(() => cb.received.length === 1, 10_000, 'the next callback')
    expect(cb.received[0]!.headers['x-call-id']).toBe('kept-cb')
    expect(await metric(rt, 'faasdev_faults_injected_total', { function_name: 'orders.openfaas-fn', kind: 'callback' })).toBe(1)
  })
})

describe('fault injection: shown while active', () => {
  it('faasdev fault injects, lists and clears; describe and the dashboard show active faults', async () => {
    const rt = await startRuntime(STACK)
    const env = { ...process.env, OPENFAAS_URL: rt.url }
    const injected = await run(process.execPath, [CLI, 'fault', 'orders', '--kind', 'crash', '--count', '2'], { env })
    expect(injected.stdout).toMatch(/^Fault [0-9a-f-]+ injected: orders meets crash \(2 of 2 left\)/)
    await run(process.execPath, [CLI, 'fault', 'capped', '--kind', 'latency', '--ms', '50', '--probability', '0.5'], { env })
    const listed = await run(process.execPath, [CLI, 'fault', '--list'], { env })
    expect(listed.stdout).toMatch(/orders\s+crash \(2 of 2 left\)/)
    expect(listed.stdout).toMatch(/capped\s+latency 50 ms \(1 of 1 left, p=0.5\)/)
    const described = await run(process.execPath, [CLI, 'describe', 'orders'], { env })
    expect(described.stdout).toMatch(/Faults:\s+\n\s+[0-9a-f-]+: crash \(2 of 2 left\)/)
    const snapshot = (await (await fetch(`${rt.url}/system/ui-snapshot`)).json()) as { functions: { name: string; faults?: string[] }[] }
    expect(snapshot.functions.find((f) => f.name === 'orders')?.faults).toEqual(['crash (2 of 2 left)'])

    const badKind = await run(process.execPath, [CLI, 'fault', 'orders', '--kind', 'meteor'], { env }).catch((err: { code: number; stderr: string }) => err)
    expect(badKind).toMatchObject({ code: 1 })
    expect((badKind as { stderr: string }).stderr).toMatch(/400 kind: "meteor" is not one of/)

    const cleared = await run(process.execPath, [CLI, 'fault', '--clear'], { env })
    expect(cleared.stdout).toBe('Cleared 2 fault(s)\n')
    expect((await run(process.execPath, [CLI, 'describe', 'orders'], { env })).stdout).not.toMatch(/Faults/)
    const after = (await (await fetch(`${rt.url}/system/ui-snapshot`)).json()) as { functions: { name: string; faults?: string[] }[] }
    expect(after.functions.find((f) => f.name === 'orders')?.faults).toBeUndefined()
  })
})
