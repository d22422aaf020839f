import { describe, expect, it } from 'vitest'
import { callbackHeaders } from '../../src/queue-worker/callback.js'

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
      ['X-Custom', 'kept'],
    ]
    const headers = callbackHeaders(result, { 'X-Call-Id': 'call-1', 'X-Function-Status': '200' })
    const pairs: [string, string][] = []
    for (let i = 0; i < headers.length; i += 2) pairs.push([headers[i]!, headers[i + 1]!])
    expect(pairs).toEqual([
      ['content-type', 'application/json'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['x-custom', 'kept'],
      ['x-call-id', 'call-1'],
      ['x-function-status', '200'],
    ])
  })
})
