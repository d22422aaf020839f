import { describe, expect, it } from 'vitest'
import { startRuntime, waitFor } from '../helpers.js'
import { callbackServer, submit } from './async-helpers.js'

const NO_GUARD = { pressure: { maxEventLoopDelayMs: 0 } }

const ECHO = `
functions:
  echo:
    lang: typescript
    handler: @/echo
`

describe('async invocations: submit', () => {
  it('answers 202 with an empty body, keeps the call id, and calls back with the result and the OpenFaaS headers', async () => {
    const rt = await startRuntime(ECHO)
    const cb = await callbackServer()
    const res = await submit(rt.url, 'echo.openfaas-fn/a/b?x=1', { 'x-call-id': 'mine-1', 'x-callback-url': cb.url, 'content-type': 'text/plain' }, 'payload')
    expect(res.status).toBe(202)
    expect(await res.text()).toBe('')
    expect(res.headers.get('x-call-id')).toBe('mine-1')
    expect(res.headers.get('x-start-time')).toMatch(/^\d{19}$/)
    await waitFor(() => cb.received.length === 1, 10_000, 'the callback')
    const got = cb.received[0]!
    expect(got.headers['x-call-id']).toBe('mine-1')
    expect(got.headers['x-function-status']).toBe('200')
    expect(got.headers['x-function-name']).toBe('echo')
    expect(Number(got.headers['x-duration-seconds'])).toBeGreaterThan(0)
    expect(got.headers['x-retry']).toBe('0')
    expect(got.headers['x-retry-max']).toBe('9')
    expect(got.headers['x-echo']).toBe('yes')
    expect(JSON.parse(got.body)).toEqual({ method: 'POST', path: '/a/b', query: '?x=1', body: 'payload', callId: 'mine-1', fn: 'echo', contentType: 'text/plain' })

    const generated = await submit(rt.url, 'echo')
    expect(generated.status).toBe(202)
    expect(generated.headers.get('x-call-id')).toMatch(/^[0-9a-f-]{36}$/)
    await rt.idle()
    const status = (await (await fetch(`${rt.url}/system/async-function/${generated.headers.get('x-call-id')}`)).json()) as Record<string, unknown>
    expect(status).toMatchObject({ function: 'echo', status: 'succeeded', attempts: 1, lastStatus: 200 })
  })

  it('sends credentials in the callback URL as Basic auth (not shown by the status API), and the function\'s own headers', async () => {
    const rt = await startRuntime(ECHO)
    const cb = await callbackServer()
    const withCredentials = cb.url.replace('http://', 'http://hook:p%40ss@')
    await submit(rt.url, 'echo', { 'x-callback-url': withCredentials, 'x-call-id': 'auth-1' }, 'x')
    await rt.idle()
    expect(cb.received).toHaveLength(1)
    const got = cb.received[0]!
    expect(got.headers.authorization).toBe(`Basic ${Buffer.from('hook:p@ss').toString('base64')}`)
    expect(got.headers['x-echo']).toBe('yes')
    expect(got.headers['x-call-id']).toBe('auth-1')
    const status = (await (await fetch(`${rt.url}/system/async-function/auth-1`)).json()) as Record<string, unknown>
    expect(status).toMatchObject({ status: 'succeeded', callback: { status: 200, attempts: 1 } })
    // The status API does not show the password.
    expect(status.callbackUrl).toBe(withCredentials.replace('p%40ss', '***'))
  })

  it('refuses other methods (405), unknown functions (404) and callback URLs that are not http(s) (400)', async () => {
    const rt = await startRuntime(ECHO)
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await fetch(`${rt.url}/async-function/echo`, { method })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toBe('POST')
    }
    const missing = await submit(rt.url, 'nope')
    expect(missing.status).toBe(404)
    expect(await missing.text()).toContain('nope')
    for (const bad of ['ftp://example.com/x', 'not a url', 'file:///etc/passwd', '/relative']) {
      const res = await submit(rt.url, 'echo', { 'x-callback-url': bad })
      expect(res.status, bad).toBe(400)
      expect(await res.text()).toContain('X-Callback-Url')
    }
    const https = await submit(rt.url, 'echo', { 'x-callback-url': 'https://127.0.0.1:1/unreachable' })
    expect(https.status).toBe(202)
    await rt.idle()
    expect(rt.stats().queue.find((q) => q.name === 'echo')).toMatchObject({ pending: 0, inflight: 0 })
  })

  it('answers 429 with Retry-After when the queue is full, and loses nothing it accepted', async () => {
    const rt = await startRuntime(
      `
functions:
  slow:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 1
`,
      { queueMaxMessages: 3 },
    )
    const cb = await callbackServer()
    const accepted: string[] = []
    for (let i = 0; i < 3; i++) {
      const res = await submit(rt.url, 'slow?ms=300', { 'x-callback-url': cb.url, 'x-call-id': `full-${i}` })
      expect(res.status).toBe(202)
      accepted.push(`full-${i}`)
    }
    const refused = await submit(rt.url, 'slow?ms=300', { 'x-callback-url': cb.url })
    expect(refused.status).toBe(429)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await refused.text()).toContain('--queue-max-messages')
    await rt.idle()
    expect(cb.received.map((r) => r.headers['x-call-id']).sort()).toEqual(accepted)
    expect(cb.received.every((r) => r.headers['x-function-status'] === '200')).toBe(true)
    expect((await submit(rt.url, 'slow?ms=1')).status).toBe(202)
  })
})

describe('async invocations: credit-based dispatch', () => {
  it('seed scenario: 30 calls of 1 s, max_inflight 5, one replica → 30 callbacks with 200, no 429, in about 6 s', async () => {
    const rt = await startRuntime(
      `
functions:
  sleep:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 5
    labels:
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "1"
`,
      // The overload guard (503 on event-loop delay) is not under test; the machine may be loaded.
      NO_GUARD,
    )
    const statuses: number[] = []
    rt.router.observe({ finished: (_name, status) => statuses.push(status) })
    const cb = await callbackServer()
    const first = Date.now()
    const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => submit(rt.url, 'sleep?ms=1000', { 'x-callback-url': cb.url, 'x-call-id': `seed-${i}` })))
    expect(responses.every((r) => r.status === 202)).toBe(true)
    await rt.idle()
    // idle() waits for the callbacks too.
    expect(cb.received).toHaveLength(30)
    expect(cb.received.every((r) => r.headers['x-function-status'] === '200' && r.headers['x-retry'] === '0')).toBe(true)
    expect(new Set(cb.received.map((r) => r.headers['x-call-id'])).size).toBe(30)
    expect(statuses).toHaveLength(30)
    expect(statuses.filter((s) => s === 429)).toHaveLength(0)
    const last = Math.max(...cb.received.map((r) => r.at))
    expect(last - first).toBeGreaterThanOrEqual(5900)
    expect(last - first).toBeLessThan(7000)
  })

  it('fairness: 200 slow calls queued for one function do not delay another function', async () => {
    const rt = await startRuntime(
      `
functions:
  slow:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 5
    labels:
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "1"
  echo:
    lang: typescript
    handler: @/echo
`,
      { graceMs: 100, ...NO_GUARD },
    )
    const cb = await callbackServer()
    const flood = await Promise.all(Array.from({ length: 200 }, () => submit(rt.url, 'slow?ms=5000', { 'x-callback-url': cb.url })))
    expect(flood.map((r) => r.status).filter((s) => s !== 202)).toEqual([])
    await waitFor(() => rt.stats().functions.slow?.inflight === 5, 5000, 'slow at max_inflight')
    const queue = (await (await fetch(`${rt.url}/system/queue`)).json()) as { kind: string; functions: { name: string; pending: number; inflight: number }[] }
    expect(queue.kind).toBe('memory')
    expect(queue.functions.find((f) => f.name === 'slow')).toMatchObject({ pending: 195, inflight: 5, retrying: 0, deadLettered: 0 })

    for (let i = 0; i < 10; i++) {
      const id = `fair-${i}`
      const sent = Date.now()
      expect((await submit(rt.url, 'echo', { 'x-callback-url': cb.url, 'x-call-id': id })).status).toBe(202)
      await waitFor(() => cb.received.some((r) => r.headers['x-call-id'] === id), 5000, `callback ${id}`)
      const took = cb.received.find((r) => r.headers['x-call-id'] === id)!.at - sent
      // A few hundred milliseconds even on a loaded machine; behind the flood it would be 200 s.
      expect(took, id).toBeLessThan(1000)
    }
    expect(rt.stats().queue.find((q) => q.name === 'slow')!.pending).toBeGreaterThan(150)
  })
})

const FLAKY = `
functions:
  flaky:
    lang: typescript
    handler: @/async-flaky
    labels:
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "1"
    annotations:
      com.openfaas.retry.attempts: "3"
      com.openfaas.retry.min_wait: "50ms"
      com.openfaas.retry.max_wait: "200ms"
`

describe('async invocations: retries and dead letters', () => {
  it('retries a 503 twice with backoff, with the same body each time, and calls back the success with X-Retry: 2', async () => {
    const rt = await startRuntime(FLAKY)
    const cb = await callbackServer()
    await submit(rt.url, 'flaky?fail=2', { 'x-callback-url': cb.url, 'x-call-id': 'flaky-1' }, 'the same bytes on every attempt')
    await rt.idle()
    expect(cb.received).toHaveLength(1)
    const got = cb.received[0]!
    expect(got.headers['x-function-status']).toBe('200')
    expect(got.headers['x-retry']).toBe('2')
    expect(got.headers['x-retry-max']).toBe('2')
    const { attempts: times, body } = JSON.parse(got.body) as { attempts: number[]; body: string }
    expect(body).toBe('the same bytes on every attempt')
    expect(times).toHaveLength(3)
    // Equal jitter: at least half of 50 ms, then of 100 ms.
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(20)
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(45)
    const status = (await (await fetch(`${rt.url}/system/async-function/flaky-1`)).json()) as Record<string, unknown>
    expect(status).toMatchObject({ status: 'succeeded', attempts: 3, maxAttempts: 3, lastStatus: 200 })
  })

  it('dead-letters a call that keeps failing, calls back the last failure, and replays it on request', async () => {
    const logs: string[] = []
    const rt = await startRuntime(FLAKY, { log: (l) => logs.push(l) })
    const cb = await callbackServer()
    // Fails 4 times: 3 attempts are used up, the replay's first attempt fails, its second succeeds.
    await submit(rt.url, 'flaky?fail=4', { 'x-callback-url': cb.url, 'x-call-id': 'dead-1' })
    await rt.idle()
    expect(cb.received).toHaveLength(1)
    expect(cb.received[0]!.headers).toMatchObject({ 'x-function-status': '503', 'x-retry': '2', 'x-retry-max': '2', 'x-attempt': '3' })
    expect(cb.received[0]!.body).toBe('failing attempt 3')
    expect(logs.some((l) => l.includes('dead-1') && l.includes('dead-lettered'))).toBe(true)

    const status = (await (await fetch(`${rt.url}/system/async-function/dead-1`)).json()) as Record<string, unknown>
    expect(status).toMatchObject({ status: 'dead-lettered', attempts: 3, lastStatus: 503 })
    const letters = (await (await fetch(`${rt.url}/system/queue/dead-letters`)).json()) as Record<string, unknown>[]
    expect(letters).toHaveLength(1)
    expect(letters[0]).toMatchObject({ callId: 'dead-1', function: 'flaky', attempts: 3, lastStatus: 503, lastBody: 'failing attempt 3', path: '/?fail=4' })
    const queue = (await (await fetch(`${rt.url}/system/queue`)).json()) as { functions: { name: string; deadLettered: number }[] }
    expect(queue.functions.find((f) => f.name === 'flaky')?.deadLettered).toBe(1)
    const metrics = await (await fetch(`${rt.url}/metrics`)).text()
    expect(metrics).toMatch(/faasdev_dead_letters_total\{function_name="flaky.openfaas-fn"\} 1\b/)
    expect(metrics).toMatch(/faasdev_retries_total\{function_name="flaky.openfaas-fn"\} 2\b/)
    expect(metrics).toMatch(/queue_worker_messages_processed_total\{queue_name="faas-request"\} 1\b/)

    expect((await fetch(`${rt.url}/system/queue/dead-letters/nope/retry`, { method: 'POST' })).status).toBe(404)
    const replay = await fetch(`${rt.url}/system/queue/dead-letters/dead-1/retry`, { method: 'POST' })
    expect(replay.status).toBe(202)
    await rt.idle()
    expect(cb.received).toHaveLength(2)
    expect(cb.received[1]!.headers).toMatchObject({ 'x-function-status': '200', 'x-retry': '1', 'x-call-id': 'dead-1' })
    expect(await (await fetch(`${rt.url}/system/queue/dead-letters`)).json()).toEqual([])
    expect(((await (await fetch(`${rt.url}/system/async-function/dead-1`)).json()) as { status: string }).status).toBe('succeeded')
  })

  it('does not retry statuses outside the list: a 400 is a final failure', async () => {
    const rt = await startRuntime(FLAKY)
    const cb = await callbackServer()
    await submit(rt.url, 'flaky?fail=1&status=400', { 'x-callback-url': cb.url, 'x-call-id': 'bad-1' })
    await rt.idle()
    expect(cb.received[0]!.headers).toMatchObject({ 'x-function-status': '400', 'x-retry': '0' })
    expect(((await (await fetch(`${rt.url}/system/async-function/bad-1`)).json()) as { status: string }).status).toBe('failed')
  })

  it('honours Retry-After over the computed wait, and shows the call as retrying meanwhile', async () => {
    const rt = await startRuntime(FLAKY)
    const cb = await callbackServer()
    await submit(rt.url, 'flaky?fail=1&retryAfter=1', { 'x-callback-url': cb.url, 'x-call-id': 'ra-1' })
    await waitFor(async () => ((await (await fetch(`${rt.url}/system/async-function/ra-1`)).json()) as { status: string }).status === 'retrying', 5000, 'retrying')
    const retrying = (await (await fetch(`${rt.url}/system/async-function/ra-1`)).json()) as Record<string, unknown>
    expect(retrying).toMatchObject({ status: 'retrying', attempts: 1, lastStatus: 503 })
    expect(Date.parse(retrying.nextAttemptAt as string) - Date.parse(retrying.submittedAt as string)).toBeGreaterThanOrEqual(950)
    await rt.idle()
    const times = (JSON.parse(cb.received[0]!.body) as { attempts: number[] }).attempts
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(950)
    expect(cb.received[0]!.headers['x-retry']).toBe('1')
  })

  it('retries platform errors (X-OpenFaaS-Internal) such as a timeout, whatever the code list says', async () => {
    const rt = await startRuntime(`
functions:
  slow:
    lang: typescript
    handler: @/slow
    environment:
      exec_timeout: 200ms
    annotations:
      com.openfaas.retry.attempts: "2"
      com.openfaas.retry.codes: "418"
      com.openfaas.retry.min_wait: "20ms"
`)
    const cb = await callbackServer()
    await submit(rt.url, 'slow?ms=1000', { 'x-callback-url': cb.url })
    await rt.idle()
    expect(cb.received[0]!.headers).toMatchObject({ 'x-function-status': '504', 'x-retry': '1', 'x-retry-max': '1' })
  })
})

describe('async invocations: status and shutdown', () => {
  it('shows a call queued, then running, then succeeded, with timestamps; unknown ids are 404', async () => {
    const rt = await startRuntime(`
functions:
  slow:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 1
`)
    await submit(rt.url, 'slow?ms=800', { 'x-call-id': 'life-a' })
    await submit(rt.url, 'slow?ms=800', { 'x-call-id': 'life-b' })
    const get = async (id: string): Promise<Record<string, string | number>> => (await (await fetch(`${rt.url}/system/async-function/${id}`)).json()) as Record<string, string | number>
    await waitFor(async () => (await get('life-a')).status === 'running', 5000, 'a running')
    const b = await get('life-b')
    expect(b).toMatchObject({ callId: 'life-b', function: 'slow', status: 'queued', attempts: 0 })
    expect(b.startedAt).toBeUndefined()
    await waitFor(async () => (await get('life-b')).status === 'running', 5000, 'b running')
    expect((await get('life-a')).status).toBe('succeeded')
    await rt.idle()
    const done = await get('life-b')
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1, lastStatus: 200 })
    expect(Date.parse(done.submittedAt as string)).toBeLessThanOrEqual(Date.parse(done.startedAt as string))
    expect(Date.parse(done.startedAt as string)).toBeLessThan(Date.parse(done.finishedAt as string))
    const unknown = await fetch(`${rt.url}/system/async-function/never`)
    expect(unknown.status).toBe(404)
  })

  it('on close, refuses new async calls but finishes the queued ones before stopping', async () => {
    const rt = await startRuntime(`
functions:
  slow:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 2
`)
    const cb = await callbackServer()
    for (let i = 0; i < 8; i++) expect((await submit(rt.url, 'slow?ms=250', { 'x-callback-url': cb.url })).status).toBe(202)
    const closing = rt.close()
    const late = await submit(rt.url, 'slow?ms=1').catch(() => undefined)
    // Refused: 503 from the queue or the closing gateway, or the connection is already gone.
    if (late) expect(late.status).toBe(503)
    await closing
    expect(cb.received).toHaveLength(8)
    expect(cb.received.every((r) => r.headers['x-function-status'] === '200')).toBe(true)
    expect(rt.unfinishedCalls).toEqual([])
  })

  it('reports the call ids left when the grace period ends', async () => {
    const logs: string[] = []
    const rt = await startRuntime(
      `
functions:
  slow:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 1
`,
      { graceMs: 1500, log: (l) => logs.push(l) },
    )
    // One quick call that finishes within the grace, then four that cannot (one at a time, 5 s each).
    await submit(rt.url, 'slow?ms=20', { 'x-call-id': 'left-0' })
    for (let i = 1; i < 5; i++) await submit(rt.url, 'slow?ms=5000', { 'x-call-id': `left-${i}` })
    await rt.close()
    expect([...rt.unfinishedCalls].sort()).toEqual(['left-1', 'left-2', 'left-3', 'left-4'])
    expect(logs.some((l) => l.includes('not finished') && l.includes('left-4'))).toBe(true)
  })
})

describe('async invocations: scale from zero, busy sync traffic, failing callbacks', () => {
  it('wakes a function scaled to 0 with one call, then runs the rest, without 429s or extra attempts', async () => {
    const rt = await startRuntime(`
functions:
  slow:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 2
    labels:
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "1"
`)
    const statuses: number[] = []
    rt.router.observe({ finished: (_n, status) => statuses.push(status) })
    const scaled = await fetch(`${rt.url}/system/scale-function/slow`, { method: 'POST', body: JSON.stringify({ serviceName: 'slow', replicas: 0 }), headers: { 'content-type': 'application/json' } })
    expect(scaled.status).toBe(202)
    await waitFor(() => rt.stats().functions.slow?.replicas === 0, 10_000, 'scaled to zero')
    const cb = await callbackServer()
    for (let i = 0; i < 6; i++) expect((await submit(rt.url, 'slow?ms=100', { 'x-callback-url': cb.url })).status).toBe(202)
    await rt.idle()
    expect(cb.received).toHaveLength(6)
    expect(cb.received.map((r) => `${r.headers['x-function-status']}/${r.headers['x-retry']}`)).toEqual(Array(6).fill('200/0'))
    expect(statuses).toEqual(Array(6).fill(200))
    expect(rt.stats().functions.slow?.ready).toBe(1)
  })

  it('takes the rest of a backlog when slow callbacks, not the function, held every dispatch slot', async () => {
    // No max_inflight: the queue-worker still sends at most 1000 calls at a time, and a call
    // holds its place until its callback is answered. When those callbacks finish, the queue
    // must be worked again even though no new call arrives and no replica slot frees.
    const rt = await startRuntime(ECHO, NO_GUARD)
    const cb = await callbackServer(200, 1000)
    const calls = 1100
    for (let i = 0; i < calls; i += 50) {
      const batch = Array.from({ length: Math.min(50, calls - i) }, (_, j) => submit(rt.url, 'echo', { 'x-callback-url': cb.url, 'x-call-id': `held-${i + j}` }))
      expect((await Promise.all(batch)).map((r) => r.status)).toEqual(batch.map(() => 202))
    }
    await waitFor(() => cb.received.length === calls, 20_000, () => `${calls} callbacks: got ${cb.received.length}`)
    const queue = (await (await fetch(`${rt.url}/system/queue`)).json()) as { processed: number; functions: { name: string; pending: number }[] }
    expect(queue.processed).toBe(calls)
    expect(queue.functions.find((f) => f.name === 'echo')?.pending).toBe(0)
  }, 30_000)

  it('loses nothing in a mix: unbounded, max_inflight 2 with sync callers taking slots, retried calls, slow callbacks', async () => {
    // FLAKY's function, plus an unbounded one and one with two slots.
    const rt = await startRuntime(
      `${FLAKY}  echo:
    lang: typescript
    handler: @/echo
  slow:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 2
    labels:
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "1"
`,
      NO_GUARD,
    )
    const cb = await callbackServer(200, 20)
    const plan = [
      ...Array.from({ length: 300 }, (_, i) => ({ path: 'echo', id: `mix-echo-${i}`, retries: '0' })),
      ...Array.from({ length: 60 }, (_, i) => ({ path: 'slow?ms=20', id: `mix-slow-${i}`, retries: '0' })),
      ...Array.from({ length: 100 }, (_, i) => ({ path: 'flaky?fail=1', id: `mix-flaky-${i}`, retries: '1' })),
    ]
    const sync = Array.from({ length: 20 }, () => fetch(`${rt.url}/function/slow?ms=20`).then((r) => r.status))
    const answers = await Promise.all(plan.map((c) => submit(rt.url, c.path, { 'x-callback-url': cb.url, 'x-call-id': c.id }, c.id).then((r) => r.status)))
    expect(answers.every((a) => a === 202)).toBe(true)
    // A sync caller may find both slots taken (429); it must never be a 5xx.
    expect((await Promise.all(sync)).every((s) => s === 200 || s === 429)).toBe(true)
    await waitFor(() => cb.received.length >= plan.length, 20_000, () => `${plan.length} callbacks: got ${cb.received.length}`)
    await rt.idle()
    expect(cb.received).toHaveLength(plan.length)
    const byId = new Map(cb.received.map((r) => [r.headers['x-call-id'] as string, r]))
    expect(byId.size).toBe(plan.length)
    for (const c of plan) {
      const got = byId.get(c.id)
      expect(got?.headers['x-function-status'], c.id).toBe('200')
      expect(got?.headers['x-retry'], c.id).toBe(c.retries)
    }
    const queue = (await (await fetch(`${rt.url}/system/queue`)).json()) as { processed: number; retries: number; deadLettered: number; functions: { pending: number; inflight: number; retrying: number }[] }
    expect(queue).toMatchObject({ processed: plan.length, retries: 100, deadLettered: 0 })
    expect(queue.functions.every((f) => f.pending === 0 && f.inflight === 0 && f.retrying === 0)).toBe(true)
  }, 30_000)

  it('keeps async calls at attempt 1 while sync callers fill the same slots', async () => {
    const rt = await startRuntime(`
functions:
  slow:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 2
`)
    const cb = await callbackServer()
    let syncing = true
    const sync429: number[] = []
    // Three sync callers for two slots: they meet 429s, the queued calls must not.
    const hammer = Promise.all(
      [1, 2, 3].map(async () => {
        while (syncing) {
          const res = await fetch(`${rt.url}/function/slow?ms=50`)
          if (res.status === 429) sync429.push(429)
          await res.arrayBuffer()
        }
      }),
    )
    for (let i = 0; i < 10; i++) await submit(rt.url, 'slow?ms=50', { 'x-callback-url': cb.url })
    await waitFor(() => cb.received.length === 10, 15_000, '10 callbacks')
    syncing = false
    await hammer
    expect(sync429.length).toBeGreaterThan(0)
    expect(cb.received.every((r) => r.headers['x-function-status'] === '200' && r.headers['x-retry'] === '0')).toBe(true)
  })

  it('retries a failing callback a few times, then logs it and records the outcome', async () => {
    const logs: string[] = []
    const rt = await startRuntime(ECHO, { log: (l) => logs.push(l), callback: { initialWaitMs: 20 } })
    const cb = await callbackServer(500)
    await submit(rt.url, 'echo', { 'x-callback-url': cb.url, 'x-call-id': 'cb-fail' })
    await rt.idle()
    expect(cb.received).toHaveLength(3)
    expect(logs.some((l) => l.includes('cb-fail') && l.includes('callback') && l.includes('status 500'))).toBe(true)
    const status = (await (await fetch(`${rt.url}/system/async-function/cb-fail`)).json()) as Record<string, unknown>
    expect(status).toMatchObject({ status: 'succeeded', callback: { status: 500, attempts: 3 } })
    const queue = (await (await fetch(`${rt.url}/system/queue`)).json()) as { callbacksFailed: number }
    expect(queue.callbacksFailed).toBe(1)
  })
})
