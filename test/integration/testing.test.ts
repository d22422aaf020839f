import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it, onTestFinished } from 'vitest'
import { startFaasdev } from '../../src/testing/index.js'
import { waitFor, writeStack } from '../helpers.js'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const SHOP = resolve(import.meta.dirname, '../fixtures/shop/stack.yml')

const STACK = `
functions:
  orders:
    lang: typescript
    handler: @/orders
    environment:
      exec_timeout: 1s
      write_timeout: 2s
    annotations:
      com.openfaas.retry.attempts: "2"
      com.openfaas.retry.min_wait: "50ms"
  echo:
    lang: typescript
    handler: @/echo
`

async function fixture(options: Partial<Parameters<typeof startFaasdev>[0]> = {}) {
  const fx = await startFaasdev({ stack: writeStack(STACK), ...options })
  onTestFinished(() => fx.close())
  return fx
}

describe('faasdev/testing: startFaasdev', () => {
  it('serves on a free port without watching; invoke sends body, headers, method, query and path', async () => {
    const fx = await fixture()
    expect(fx.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(fx.url).not.toBe('http://127.0.0.1:8080')
    expect(fx.runtime.url).toBe(fx.url)
    const res = await fx.invoke('echo', { method: 'PUT', path: '/a/b', query: { x: 1, y: 'z' }, headers: { 'content-type': 'text/plain', 'x-call-id': 'mine' }, body: 'hi' })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ method: 'PUT', path: '/a/b', query: '?x=1&y=z', body: 'hi', callId: 'mine', fn: 'echo', contentType: 'text/plain' })
    const json = await fx.invoke('echo', { body: { a: [1] } })
    expect(await json.json()).toMatchObject({ method: 'POST', path: '/', body: '{"a":[1]}', contentType: 'application/json' })
    expect(fx.stats().functions.echo).toMatchObject({ ready: 1 })
  })

  it('invokeAsync resolves with the callback: status, headers (X-Retry…) and body', async () => {
    const fx = await fixture()
    const cb = await fx.invokeAsync('echo', { path: '/x', query: 'q=1', body: 'amy', headers: { 'x-call-id': 'call-7' } })
    expect(cb).toMatchObject({ callId: 'call-7', status: 200 })
    expect(cb.headers['x-retry']).toBe('0')
    expect(cb.headers['x-function-name']).toBe('echo')
    expect(JSON.parse(cb.body)).toMatchObject({ path: '/x', query: '?q=1', body: 'amy', callId: 'call-7' })
    // Many at once: each resolves with its own callback.
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => fx.invokeAsync('echo', { body: `n${i}` })))
    expect(many.map((c) => (JSON.parse(c.body) as { body: string }).body)).toEqual(Array.from({ length: 20 }, (_, i) => `n${i}`))
    await fx.idle()
  })

  it('faults: an error the retry survives; a fault past the attempts ends with the last status', async () => {
    const fx = await fixture()
    await fx.fault('orders', { kind: 'error', status: 503 })
    const recovered = await fx.invokeAsync('orders', { body: { sku: 'tea', quantity: 1 } })
    expect(recovered.status).toBe(201)
    expect(recovered.headers['x-retry']).toBe('1')
    await fx.fault('orders', { kind: 'timeout', count: 2 })
    const gaveUp = await fx.invokeAsync('orders', { body: { sku: 'tea', quantity: 1 } })
    expect(gaveUp.status).toBe(504)
    expect(gaveUp.headers['x-retry']).toBe('1')
    await fx.fault('orders', { kind: 'crash', count: 5 })
    expect(fx.runtime.faults.list()).toHaveLength(1)
    await fx.clearFaults()
    expect((await fx.invoke('orders', { body: { sku: 'tea', quantity: 1 } })).status).toBe(201)
    await expect(fx.fault('orders', { kind: 'latency' })).rejects.toThrow(/^ms: a latency fault needs ms/)
    await expect(fx.fault('nope', { kind: 'crash' })).rejects.toThrow(/^function: no function named "nope"/)
  })

  it('an async call whose callback never comes rejects naming the call id and what became of it', async () => {
    const fx = await fixture({ callback: { attempts: 1 } })
    await fx.fault('orders', { kind: 'callback' })
    await expect(fx.invokeAsync('orders', { body: { sku: 'tea', quantity: 1 }, headers: { 'x-call-id': 'lost-1' }, timeoutMs: 1500 })).rejects.toThrow(
      /no callback for async call lost-1 to orders within 1500 ms: it is succeeded after 1 attempt\(s\), last status 201, callback failed: /,
    )
    await expect(fx.invokeAsync('nope', { headers: { 'x-call-id': 'refused-1' } })).rejects.toThrow(/async call refused-1 to nope was refused: 404/)
  })

  it('keeps handler output for logs(name)', async () => {
    const fx = await fixture()
    await fx.invoke('orders', { body: { sku: 'jam', quantity: 4 }, headers: { 'x-call-id': 'log-1' } })
    // The line travels on the replica's stdout, beside (not before) its answer.
    await waitFor(() => fx.logs('orders').includes('order log-1: 4 x jam'), 5_000, 'the handler output')
    expect(fx.logs('orders.openfaas-fn')).toContain('order log-1: 4 x jam')
  })

  it('trigger(name) runs a schedule now, without waiting for the clock', async () => {
    const fx = await startFaasdev({
      stack: writeStack(`
functions:
  nightly:
    lang: typescript
    handler: @/trigger-inbox
    annotations:
      topic: cron-function
      schedule: "0 4 * * *"
  echo:
    lang: typescript
    handler: @/echo
`),
    })
    onTestFinished(() => fx.close())
    const [callId] = await fx.trigger('nightly')
    await fx.idle()
    expect(await fx.runtime.queueWorker.status(callId ?? '')).toMatchObject({ function: 'nightly', status: 'succeeded', attempts: 1 })
    await waitFor(() => fx.logs('nightly').some((l) => l.includes(`"callId":"${callId}"`)), 5_000, 'the scheduled run')
    expect(fx.logs('nightly').join('\n')).toContain('"topic":"cron-function"')
    await expect(fx.trigger('echo')).rejects.toThrow(/echo has no schedule/)
  })

  it('close is idempotent, removes its build folder, and fixtures on one stack file run side by side', async () => {
    const [a, b] = await Promise.all([startFaasdev({ stack: SHOP }), startFaasdev({ stack: SHOP })])
    expect(a.url).not.toBe(b.url)
    const [ra, rb] = await Promise.all([a.invoke('orders', { body: { sku: 'a', quantity: 1 } }), b.invoke('orders', { body: { sku: 'b', quantity: 1 } })])
    expect([ra.status, rb.status]).toEqual([201, 201])
    await a.fault('orders', { kind: 'error' })
    expect((await b.invoke('orders', { body: { sku: 'b', quantity: 1 } })).status).toBe(201)
    const dir = a.runtime.dataDir
    await Promise.all([a.close(), a.close(), b.close()])
    await a.close()
    expect(existsSync(dir)).toBe(false)
    expect(existsSync(resolve(SHOP, '../.faasdev'))).toBe(false)
  })

  it('works under node:test with no plugin (the compiled package entry)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'faasdev-node-test-'))
    const file = join(dir, 'orders.test.mjs')
    writeFileSync(
      file,
      `import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startFaasdev } from ${JSON.stringify(join(ROOT, 'dist/testing/index.js'))}
const fx = await startFaasdev({ stack: ${JSON.stringify(SHOP)} })
after(() => fx.close())
test('sync', async () => assert.equal((await fx.invoke('orders', { body: { sku: 'tea', quantity: 1 } })).status, 201))
test('async after a crash', async () => {
  await fx.fault('orders', { kind: 'crash' })
  const cb = await fx.invokeAsync('orders', { body: { sku: 'tea', quantity: 1 } })
  assert.equal(cb.status, 201)
  assert.equal(cb.headers['x-retry'], '1')
})
`,
    )
    const { stdout, stderr } = await run(process.execPath, ['--test', '--test-reporter=tap', file], { cwd: dir })
    expect(stdout).toMatch(/# pass 2/)
    expect(stdout).toMatch(/# fail 0/)
    // Quiet: neither faasdev's messages nor handler output reach the terminal.
    expect(stderr).toBe('')
    expect(stdout).not.toMatch(/order .*tea/)
  })
})
