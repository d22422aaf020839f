import { describe, expect, it, onTestFinished } from 'vitest'
import { startRuntime, waitFor } from '../helpers.js'

describe('gateway and replicas', () => {
  it('invokes a fetch-style handler with sub-path, query, method, body and OpenFaaS headers', async () => {
    const rt = await startRuntime(`
functions:
  echo:
    lang: typescript
    handler: @/echo
`)
    const res = await fetch(`${rt.url}/function/echo.openfaas-fn/a/b/?x=1&y=2`, { method: 'PUT', body: 'payload', headers: { 'content-type': 'text/plain', 'x-call-id': 'mine-1' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-call-id')).toBe('mine-1')
    expect(res.headers.get('x-start-time')).toMatch(/^\d{19}$/)
    expect(Number(res.headers.get('x-duration-seconds'))).toBeGreaterThan(0)
    expect(res.headers.get('x-echo')).toBe('yes')
    expect(await res.json()).toEqual({ method: 'PUT', path: '/a/b/', query: '?x=1&y=2', body: 'payload', callId: 'mine-1', fn: 'echo', contentType: 'text/plain' })

    const root = await fetch(`${rt.url}/function/echo`)
    const json = (await root.json()) as { path: string; callId: string }
    expect(json.path).toBe('/')
    expect(root.headers.get('x-call-id')).toBe(json.callId)
    expect(json.callId).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('gives fetch-style handlers a Request that behaves as one: read, cloned, copied and passed to fetch()', async () => {
    const { createServer } = await import('node:http')
    const upstream = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => res.end(`${req.method} ${req.headers['x-test']} ${Buffer.concat(chunks).toString()}`))
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => upstream.close(() => resolve())))
    const rt = await startRuntime(`
functions:
  req:
    lang: typescript
    handler: @/request-api
`)
    const res = await fetch(`${rt.url}/function/req/x`, { method: 'POST', body: 'payload', headers: { 'x-test': 'yes' } })
    expect(res.status, await res.clone().text()).toBe(200)
    expect(await res.json()).toEqual({
      isRequest: true,
      tag: '[object Request]',
      method: 'POST',
      path: '/x',
      header: 'yes',
      signal: true,
      copyMethod: 'POST',
      copyHeader: 'yes',
      cloneBody: 'payload',
      copyBody: 'payload',
      body: 'payload',
      bodyUsed: true,
    })
    const address = upstream.address() as { port: number }
    const forwarded = await fetch(`${rt.url}/function/req/y?upstream=${encodeURIComponent(`http://127.0.0.1:${address.port}/`)}`, { method: 'PUT', body: 'forwarded body', headers: { 'x-test': 'fwd' } })
    expect(await forwarded.json()).toMatchObject({ method: 'PUT', upstream: 'PUT fwd forwarded body' })
  })

  it('answers 404 with a message for unknown functions and 413 above --max-body', async () => {
    const rt = await startRuntime(`
functions:
  echo:
    lang: typescript
    handler: @/echo
`, { maxBody: 1024 })
    const missing = await fetch(`${rt.url}/function/nope`, { method: 'POST' })
    expect(missing.status).toBe(404)
    expect(await missing.text()).toContain('nope')
    const other = await fetch(`${rt.url}/function/echo.other-ns`)
    expect(other.status).toBe(404)
    const big = await fetch(`${rt.url}/function/echo`, { method: 'POST', body: 'x'.repeat(2048) })
    expect(big.status).toBe(413)
    const ok = await fetch(`${rt.url}/function/echo`, { method: 'POST', body: 'x'.repeat(1000) })
    expect(ok.status).toBe(200)
  })

  it('answers 429 with the watchdog body and headers when every replica is at max_inflight', async () => {
    const rt = await startRuntime(`
functions:
  slow:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 2
`)
    const first = [fetch(`${rt.url}/function/slow?ms=500`), fetch(`${rt.url}/function/slow?ms=500`)]
    await waitFor(() => rt.stats().functions.slow?.inflight === 2)
    const started = performance.now()
    const third = await fetch(`${rt.url}/function/slow?ms=500`)
    expect(performance.now() - started).toBeLessThan(200)
    expect(third.status).toBe(429)
    expect(third.headers.get('x-openfaas-internal')).toBe('faas-middleware')
    expect(third.headers.get('retry-after')).toBeTruthy()
    expect(third.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(await third.text()).toBe('Concurrent request limit exceeded. Max concurrent requests: 2\n')
    for (const r of await Promise.all(first)) expect(r.status).toBe(200)
  })

  it('answers 504 with an empty body on exec_timeout and replaces a replica whose loop is blocked, without slowing other functions', async () => {
    const rt = await startRuntime(`
functions:
  busy:
    lang: typescript
    handler: @/busy
    environment:
      exec_timeout: 500ms
  echo:
    lang: typescript
    handler: @/echo
  slow:
    lang: typescript
    handler: @/slow
    environment:
      exec_timeout: 300ms
`)
    const spinning = fetch(`${rt.url}/function/busy?spin=1`)
    // Another function answers quickly while busy's replica spins.
    await new Promise((r) => setTimeout(r, 100))
    for (let i = 0; i < 5; i++) {
      const t = performance.now()
      const r = await fetch(`${rt.url}/function/echo`)
      expect(r.status).toBe(200)
      // Generous: the bound is "not stuck behind the spinning replica" (500 ms), on a loaded 2-core machine.
      expect(performance.now() - t).toBeLessThan(400)
    }
    const res = await spinning
    expect(res.status).toBe(504)
    expect(await res.text()).toBe('')
    // The blocked replica is terminated and a new one serves.
    await waitFor(async () => (await fetch(`${rt.url}/function/busy`)).status === 200, 10_000, 'replacement replica')

    // A handler that honours its AbortSignal: 504, and the replica keeps serving.
    const timedOut = await fetch(`${rt.url}/function/slow?ms=2000`)
    expect(timedOut.status).toBe(504)
    expect((await fetch(`${rt.url}/function/slow?ms=10`)).status).toBe(200)
  })

  it('replaces a replica that exceeds limits.memory; its in-flight call gets 502 and others never notice', async () => {
    const rt = await startRuntime(`
functions:
  oom:
    lang: typescript
    handler: @/oom
    limits:
      memory: 32Mi
  echo:
    lang: typescript
    handler: @/echo
`)
    const res = await fetch(`${rt.url}/function/oom?hog=1`)
    expect(res.status).toBe(502)
    expect(res.headers.get('x-openfaas-internal')).toBeTruthy()
    expect(await res.text()).toMatch(/oom/)
    await waitFor(async () => (await fetch(`${rt.url}/function/oom`)).status === 200, 10_000, 'replacement replica')
    expect((await fetch(`${rt.url}/function/echo`)).status).toBe(200)
  })

  it('survives process.exit and an exception thrown outside a request', async () => {
    const rt = await startRuntime(`
functions:
  exit:
    lang: typescript
    handler: @/exit
`)
    const exited = await fetch(`${rt.url}/function/exit?mode=exit`)
    expect(exited.status).toBe(502)
    expect(exited.headers.get('x-openfaas-internal')).toBeTruthy()
    await waitFor(async () => (await fetch(`${rt.url}/function/exit`)).status === 200, 10_000, 'replacement after exit')
    const uncaught = await fetch(`${rt.url}/function/exit?mode=uncaught`)
    expect(uncaught.status).toBe(502)
    expect(await uncaught.text()).toMatch(/crash/)
    await waitFor(async () => (await fetch(`${rt.url}/function/exit`)).status === 200, 10_000, 'replacement after crash')
  })

  it('answers 500 when a fetch-style handler throws, with the stack pointing at the .ts source', async () => {
    const rt = await startRuntime(`
functions:
  throws:
    lang: typescript
    handler: @/throws
  sourcemap:
    lang: typescript
    handler: @/sourcemap
`)
    const res = await fetch(`${rt.url}/function/throws`)
    expect(res.status).toBe(500)
    expect(await res.text()).toContain('handler failed')
    const trace = await (await fetch(`${rt.url}/function/sourcemap`)).text()
    expect(trace).toMatch(/sourcemap[/\\]handler\.ts:8:/)
  })

  it('answers 500 when a non-async handler throws at once, and the replica goes on serving', async () => {
    const rt = await startRuntime(`
functions:
  throws-sync:
    lang: javascript
    handler: @/throws-sync
`)
    const failed = await fetch(`${rt.url}/function/throws-sync`)
    expect(failed.status).toBe(500)
    expect(await failed.text()).toContain('TypeError: config missing: set ORDERS_URL')
    const ok = await fetch(`${rt.url}/function/throws-sync?ok`)
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ ok: true })
    expect((await fetch(`${rt.url}/function/throws-sync`)).status).toBe(500)
  })

  it('drains on scale to 0: 5 calls in flight all answered 200; a call at 0 replicas is held and served', async () => {
    const rt = await startRuntime(`
functions:
  slow:
    lang: typescript
    handler: @/slow
`)
    const inflight = Array.from({ length: 5 }, () => fetch(`${rt.url}/function/slow?ms=400`))
    await waitFor(() => rt.stats().functions.slow?.inflight === 5)
    const scaled = await fetch(`${rt.url}/system/scale-function/slow`, { method: 'POST', body: JSON.stringify({ serviceName: 'slow', replicas: 0 }), headers: { 'content-type': 'application/json' } })
    expect(scaled.status).toBe(202)
    for (const r of await Promise.all(inflight)) expect(r.status).toBe(200)
    await waitFor(() => rt.stats().functions.slow?.ready === 0 && rt.stats().functions.slow?.inflight === 0)
    const status = (await (await fetch(`${rt.url}/system/function/slow`)).json()) as Record<string, unknown>
    expect(status.replicas).toBeUndefined()
    expect(status.availableReplicas).toBeUndefined()

    const cold = await fetch(`${rt.url}/function/slow?ms=1`)
    expect(cold.status).toBe(200)
    expect(await cold.text()).toBe('slept 1')
    expect(rt.stats().functions.slow?.ready).toBe(1)
  })

  it('serves the OpenFaaS system API', async () => {
    const rt = await startRuntime(`
functions:
  echo:
    lang: typescript
    handler: @/echo
    labels:
      com.openfaas.scale.min: "2"
    limits:
      memory: 64Mi
  gofn:
    lang: golang-middleware
    handler: ./nowhere
`)
    await fetch(`${rt.url}/function/echo`)
    const list = (await (await fetch(`${rt.url}/system/functions`)).json()) as Record<string, unknown>[]
    // The skipped function is listed too (without replicas): openfaas-api.test.ts covers it.
    expect(list.map((f) => f.name)).toEqual(['echo', 'gofn'])
    expect(list[0]).toMatchObject({ name: 'echo', namespace: 'openfaas-fn', replicas: 2, availableReplicas: 2, invocationCount: 1, limits: { memory: '64Mi' } })
    expect(typeof list[0]?.createdAt).toBe('string')
    expect((await fetch(`${rt.url}/system/function/echo.openfaas-fn`)).status).toBe(200)
    expect((await fetch(`${rt.url}/system/function/nope`)).status).toBe(404)
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await fetch(`${rt.url}/system/functions`, { method, body: '{}', headers: { 'content-type': 'application/json' } })
      expect(r.status).toBe(501)
      expect(await r.text()).toMatch(/stack\.yml/)
    }
    expect(await (await fetch(`${rt.url}/system/namespaces`)).json()).toEqual(['openfaas-fn'])
    expect(await (await fetch(`${rt.url}/system/info`)).json()).toMatchObject({ provider: { provider: 'faasdev' } })
    expect((await fetch(`${rt.url}/healthz`)).status).toBe(200)
    expect((await fetch(`${rt.url}/readyz`)).status).toBe(200)
    const skipped = await fetch(`${rt.url}/function/gofn`)
    expect(skipped.status).toBe(404)
    expect(await skipped.text()).toMatch(/golang-middleware.*supported: typescript/)
    const bad = await fetch(`${rt.url}/system/scale-function/echo`, { method: 'POST', body: '{"replicas":-1}', headers: { 'content-type': 'application/json' } })
    expect(bad.status).toBe(400)
  })

  it('gives each replica its environment and secrets', async () => {
    const rt = await startRuntime(`
functions:
  env:
    lang: typescript
    handler: @/env
    environment:
      GREETING: inline
      REGION: \${REGION_FOR_TEST:-eu-west}
    environment_file:
      - env.yml
    secrets:
      - api-token
`, {}, { 'env.yml': 'environment:\n  GREETING: from-file\n', '.secrets/api-token': 's3cret' })
    expect(await (await fetch(`${rt.url}/function/env`)).json()).toEqual({ greeting: 'from-file', region: 'eu-west', token: 's3cret', name: 'env' })
    const status = await (await fetch(`${rt.url}/system/function/env`)).text()
    expect(status).not.toContain('s3cret')
  })
})

describe('handler results', () => {
  it('sends bytes a handler keeps returning without emptying them', async () => {
    const rt = await startRuntime(`
functions:
  bytes:
    lang: typescript
    handler: @/bytes
`)
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${rt.url}/function/bytes`)
      expect(res.headers.get('content-type')).toBe('application/octet-stream')
      expect(await res.text()).toBe('same bytes every time')
    }
  })
})
