/**
 * OpenFaaS node-template handlers called asynchronously: the body a caller submits must reach
 * `event.body` on every path a queued call takes (first delivery, retries, a replayed dead
 * letter), on the memory queue and on JetStream alike, as it does through OpenFaaS's queue-worker.
 */
import { describe, expect, it } from 'vitest'
import type { RuntimeOptions } from '../../src/index.js'
import { startRuntime, waitFor } from '../helpers.js'
import { SKIP_NATS, useNatsServer, type TestNats } from '../nats-helper.js'
import { callbackServer, submit, type Received } from './async-helpers.js'

const ORDERS = `
functions:
  orders:
    lang: node20
    handler: @/tpl-orders
    labels:
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "1"
    annotations:
      com.openfaas.retry.attempts: "3"
      com.openfaas.retry.min_wait: "50ms"
      com.openfaas.retry.max_wait: "200ms"
`

const ORDER = { id: 'ord-7', items: [{ sku: 'tea', qty: 2, price: 4.5 }, { sku: 'mug', qty: 1, price: 12 }] }
const ORDER_JSON = JSON.stringify(ORDER)
const JSON_HEADERS = { 'content-type': 'application/json' }

interface Priced {
  id: string
  total: number
  delivery: number
  contentLength?: string
}

async function callbacks(received: Received[], n: number): Promise<Received[]> {
  await waitFor(() => received.length >= n, 20_000, () => `${n} callback(s), got ${received.length}`)
  return received
}

const nats: TestNats | undefined = SKIP_NATS ? undefined : useNatsServer()
let streams = 0

const QUEUES: [string, () => RuntimeOptions][] = [
  ['memory queue', () => ({ queue: 'memory' })],
  // A stream of its own per test: nothing one test leaves behind reaches the next.
  ...(nats ? [['JetStream', () => ({ queue: 'jetstream', natsUrl: nats.url, queueName: `tpl-async-${++streams}` })] as [string, () => RuntimeOptions]] : []),
]

describe.each(QUEUES)('node20 handler called asynchronously (%s)', (_name, options) => {
  it('gets the JSON body as event.body, with a content-length that matches it', async () => {
    const rt = await startRuntime(ORDERS, options())
    const cb = await callbackServer()
    const res = await submit(rt.url, 'orders', { ...JSON_HEADERS, 'x-callback-url': cb.url, 'x-call-id': 'plain-1' }, ORDER_JSON)
    expect(res.status).toBe(202)
    const [got] = await callbacks(cb.received, 1)
    expect(got!.headers['x-function-status']).toBe('201')
    expect(got!.headers['x-order-id']).toBe('ord-7')
    expect(JSON.parse(got!.body)).toEqual({ id: 'ord-7', total: 21, delivery: 1, contentLength: String(Buffer.byteLength(ORDER_JSON)) })
  })

  it('gets the body of a chunked submission (no content-length from the caller)', async () => {
    const rt = await startRuntime(ORDERS, options())
    const cb = await callbackServer()
    const bytes = new TextEncoder().encode(ORDER_JSON)
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.subarray(0, 10))
        controller.enqueue(bytes.subarray(10))
        controller.close()
      },
    })
    const res = await fetch(`${rt.url}/async-function/orders`, { method: 'POST', headers: { ...JSON_HEADERS, 'x-callback-url': cb.url }, body: stream, duplex: 'half' } as RequestInit)
    expect(res.status).toBe(202)
    const [got] = await callbacks(cb.received, 1)
    expect(got!.headers['x-function-status']).toBe('201')
    expect((JSON.parse(got!.body) as Priced).total).toBe(21)
  })

  it('gets the same body on every retried delivery', async () => {
    const rt = await startRuntime(ORDERS, options())
    const cb = await callbackServer()
    await submit(rt.url, 'orders?unavailable=2', { ...JSON_HEADERS, 'x-callback-url': cb.url, 'x-call-id': 'retry-1' }, ORDER_JSON)
    const [got] = await callbacks(cb.received, 1)
    expect(got!.headers).toMatchObject({ 'x-function-status': '201', 'x-retry': '2' })
    expect(JSON.parse(got!.body)).toMatchObject({ id: 'ord-7', total: 21, delivery: 3 })
  })

  it('gets the body again when a dead letter is replayed', async () => {
    const rt = await startRuntime(ORDERS, options())
    const cb = await callbackServer()
    await submit(rt.url, 'orders?unavailable=3', { ...JSON_HEADERS, 'x-callback-url': cb.url, 'x-call-id': 'dead-1' }, ORDER_JSON)
    const [failed] = await callbacks(cb.received, 1)
    expect(failed!.headers['x-function-status']).toBe('503')
    await waitFor(async () => ((await (await fetch(`${rt.url}/system/queue/dead-letters`)).json()) as unknown[]).length === 1, 10_000, 'the dead letter')

    const replay = await fetch(`${rt.url}/system/queue/dead-letters/dead-1/retry`, { method: 'POST' })
    expect(replay.status).toBe(202)
    const [, replayed] = await callbacks(cb.received, 2)
    expect(replayed!.headers).toMatchObject({ 'x-function-status': '201', 'x-call-id': 'dead-1' })
    expect(JSON.parse(replayed!.body)).toMatchObject({ id: 'ord-7', total: 21, delivery: 4, contentLength: String(Buffer.byteLength(ORDER_JSON)) })
  })
})
