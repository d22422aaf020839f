import { describe, expect, it } from 'vitest'
import type { QueuedCall } from '../../src/queue/types.js'
import { deliveredContentLength, deliveryHeaders } from '../../src/queue-worker/worker.js'

const call = (over: Partial<QueuedCall>): QueuedCall => ({ id: 'c-1', function: 'f', method: 'POST', path: '/', headers: {}, body: null, submittedAt: 0, ...over })

describe('delivery headers of a queued call', () => {
  it('carries the true Content-Length of the body whatever framing the stored call has (a trigger, an older message)', () => {
    const stored = call({ headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'content-length': '999' } })
    expect(deliveryHeaders(stored, 42)).toEqual({ 'content-type': 'application/json', 'x-call-id': 'c-1', 'content-length': '42' })
    // The stored call is left as it was: a retry delivers it again.
    expect(stored.headers['transfer-encoding']).toBe('chunked')
  })

  it('sends Content-Length: 0 for an empty POST, PUT or PATCH and none for an empty GET, as Go\'s HTTP client does', () => {
    expect(deliveryHeaders(call({ method: 'POST' }), 0)).toEqual({ 'x-call-id': 'c-1', 'content-length': '0' })
    expect(deliveryHeaders(call({ method: 'PATCH' }), 0)['content-length']).toBe('0')
    expect(deliveryHeaders(call({ method: 'GET', headers: { 'content-length': '0' } }), 0)).toEqual({ 'x-call-id': 'c-1' })
  })

  it('keeps the call id over a different one in the stored headers, and reuses headers that are already right', () => {
    expect(deliveryHeaders(call({ headers: { 'x-call-id': 'other' } }), 3)['x-call-id']).toBe('c-1')
    const ready = { 'x-call-id': 'c-1', 'content-length': '3' }
    expect(deliveryHeaders(call({ headers: ready }), 3)).toBe(ready)
  })

  it('reuses the headers the gateway stores at submit on the first delivery, for every method and length', () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'GET', 'DELETE']) {
      for (const length of [0, 1, 4096]) {
        const stored: QueuedCall['headers'] = { 'x-call-id': 'c-1' }
        const framed = deliveredContentLength(method, length)
        if (framed !== undefined) stored['content-length'] = framed
        expect(deliveryHeaders(call({ method, headers: stored }), length)).toBe(stored)
      }
    }
  })
})
