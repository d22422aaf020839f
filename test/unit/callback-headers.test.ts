import { describe, expect, it } from 'vitest'
import { headersOf } from '../../src/queue-worker/callback.js'

describe('callback headers', () => {
  it("keeps the function's headers (repeats included), drops hop-by-hop ones, and lets the queue-worker's own replace any of the same name", () => {
    const result: [string, string][] = [
      ['Content-Type', 'application/json'],
      ['Set-Cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['Connection', 'close'],
      ['Transfer-Encoding', 'chunked'],
      ['Expect', '100-continue'],
      ['X-Call-Id', 'set-by-the-function'],
      ['x-function-STATUS', '299'],
      ['User-Agent', 'the-function'],
      ['X-Custom', 'kept'],
    ]
    const headers = headersOf({ callId: 'call-1', fn: 'orders', status: 201, seconds: 0.25, retry: 1, retryMax: 9, headers: result })
    const pairs: [string, string][] = []
    for (let i = 0; i < headers.length; i += 2) pairs.push([headers[i]!, headers[i + 1]!])
    expect(pairs).toEqual([
      ['content-type', 'application/json'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['x-custom', 'kept'],
      ['x-call-id', 'call-1'],
      ['x-function-status', '201'],
      ['x-function-name', 'orders'],
      ['x-duration-seconds', '0.250000'],
      ['x-retry', '1'],
      ['x-retry-max', '9'],
      ['user-agent', 'faasdev-queue-worker'],
    ])
  })
})
