// A suite as a user writes it with faasdev/testing: one runtime for the file, three tests.
// The file's wall time is printed (it should stay well under 2 s); it is not asserted.
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFaasdev, type Faasdev } from '../../src/testing/index.js'

const started = performance.now()
let fx: Faasdev

beforeAll(async () => {
  fx = await startFaasdev({ stack: resolve(import.meta.dirname, '../fixtures/shop/stack.yml') })
})
afterAll(async () => {
  await fx.close()
  console.log(`testing-fixture: three tests, ${Math.round(performance.now() - started)} ms from import to close`)
})

describe('orders, through faasdev/testing', () => {
  it('accepts an order (sync)', async () => {
    const res = await fx.invoke('orders', { body: { sku: 'tea', quantity: 2 } })
    expect(res.status).toBe(201)
    expect(await res.json()).toMatchObject({ accepted: true, sku: 'tea', quantity: 2 })
  })

  it('calls back with the result of an async order', async () => {
    const cb = await fx.invokeAsync('orders', { body: { sku: 'coffee', quantity: 1 } })
    expect(cb.status).toBe(201)
    expect(cb.headers['x-retry']).toBe('0')
    expect(JSON.parse(cb.body)).toMatchObject({ accepted: true, sku: 'coffee' })
  })

  it('survives a crashed replica: the retry succeeds', async () => {
    await fx.fault('orders', { kind: 'crash' })
    const cb = await fx.invokeAsync('orders', { body: { sku: 'cocoa', quantity: 3 } })
    expect(cb.status).toBe(201)
    expect(cb.headers['x-retry']).toBe('1')
    expect(fx.logs('orders').some((line) => line.includes('3 x cocoa'))).toBe(true)
  })
})
