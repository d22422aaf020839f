import { describe, expect, it } from 'vitest'
import { faasdev, listening, project } from '../cli-helpers.js'
import { startRuntime, waitFor } from '../helpers.js'
import { callbackServer, submit } from './async-helpers.js'

const STACK = `
functions:
  slow:
    lang: typescript
    handler: @/cli-slow
`

/** A call that arrives while faasdev drains: a clear 503 a client can act on, never a refused connection. */
async function expectRefusedWhileDraining(base: string): Promise<void> {
  const sync = await fetch(`${base}/function/slow?ms=10`, { method: 'POST', body: 'late' })
  expect(sync.status).toBe(503)
  expect(sync.headers.get('retry-after')).toBe('5')
  expect(sync.headers.get('connection')).toBe('close')
  expect(sync.headers.get('x-openfaas-internal')).toBe('gateway')
  expect(await sync.text()).toContain('shutting down')
  const async = await submit(base, 'slow?ms=10', {}, 'late')
  expect(async.status).toBe(503)
  expect(async.headers.get('retry-after')).toBe('5')
  expect(async.headers.get('connection')).toBe('close')
  await async.arrayBuffer()
  const ready = await fetch(`${base}/readyz`)
  expect(ready.status).toBe(503)
  await ready.arrayBuffer()
}

describe('draining', () => {
  it('rt.close(): calls taken finish (sync 200, async called back), new sync and async calls get 503, /readyz 503', { timeout: 30_000 }, async () => {
    const started: string[] = []
    const rt = await startRuntime(STACK, { onOutput: (_replica, _stream, line) => started.push(line) })
    const cb = await callbackServer()
    const inflight = fetch(`${rt.url}/function/slow?ms=3000`, { method: 'POST', body: 'early' })
    expect((await submit(rt.url, 'slow?ms=3000', { 'x-callback-url': cb.url, 'x-call-id': 'before-close' }, 'early')).status).toBe(202)
    await waitFor(() => started.length === 2, 10_000, 'both calls to reach the replica')

    const closing = rt.close()
    await expectRefusedWhileDraining(rt.url)

    const res = await inflight
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('slept 3000')
    await closing
    expect(cb.received.map((r) => [r.headers['x-call-id'], r.headers['x-function-status'], r.body])).toEqual([['before-close', '200', 'slept 3000']])
    expect(rt.unfinishedCalls).toEqual([])
    // Closed once the work is done.
    await expect(fetch(`${rt.url}/healthz`)).rejects.toThrow()
  })

  it('at the grace limit the calls still running are cut and close() resolves', { timeout: 30_000 }, async () => {
    const started: string[] = []
    const rt = await startRuntime(STACK, { graceMs: 1000, onOutput: (_replica, _stream, line) => started.push(line) })
    const stuck = fetch(`${rt.url}/function/slow?ms=20000`).then((r) => r.status, (err: Error) => err.name)
    await waitFor(() => started.length === 1, 10_000, 'the call to reach the replica')
    const began = Date.now()
    await rt.close()
    // Well before the 20 s call would have ended: the process can exit.
    expect(Date.now() - began).toBeLessThan(10_000)
    expect(await stuck).toBe('TypeError')
  })

  it('faasdev up on SIGTERM keeps answering (503) until its calls are done, then exits 0', { timeout: 60_000 }, async () => {
    const cli = faasdev(['up', '--port', '0', '--no-watch'], project(STACK))
    const base = await listening(cli)

    const cb = await callbackServer()
    const inflight = fetch(`${base}/function/slow?ms=3000`, { method: 'POST', body: 'early' })
    expect((await submit(base, 'slow?ms=3000', { 'x-callback-url': cb.url, 'x-call-id': 'before-sigterm' }, 'early')).status).toBe(202)
    await waitFor(() => cli.stdout().split('call started, sleeping 3000 ms').length === 3, 10_000, 'both calls to reach the replica')

    cli.child.kill('SIGTERM')
    await waitFor(() => cli.stderr().includes('SIGTERM: draining'), 10_000, 'the drain to start')
    await expectRefusedWhileDraining(base)

    const res = await inflight
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('slept 3000')
    expect(await cli.exited).toBe(0)
    expect(cb.received.map((r) => [r.headers['x-call-id'], r.headers['x-function-status'], r.body])).toEqual([['before-sigterm', '200', 'slept 3000']])
  })
})
