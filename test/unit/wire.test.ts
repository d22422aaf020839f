import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { CallOutput, InvokeMessage } from '../../src/pool/protocol.js'
import { readCalls, readResults, type WireCalls, type WireResults, writeCall, writeResult } from '../../src/pool/wire.js'

/** Sends `value` across a real MessagePort (structured clone, as between the main thread and a replica). */
function across<T>(value: T): T {
  const { port1, port2 } = new MessageChannel()
  try {
    port1.postMessage(value)
    const got = receiveMessageOnPort(port2)
    if (!got) throw new Error('nothing arrived')
    return got.message as T
  } finally {
    port1.close()
  }
}

// Header names as clients send them, including ones that are also names on Object.prototype.
const headerName = fc.oneof(
  fc.constantFrom('host', 'content-type', 'x-call-id', 'set-cookie', '__proto__', 'constructor', 'toString', 'hasOwnProperty'),
  fc.stringMatching(/^[a-z0-9!#$%&'*+.^_`|~-]{1,20}$/),
)
const headerValue = fc.oneof(fc.string({ unit: 'binary' }), fc.array(fc.string(), { minLength: 1, maxLength: 3 }))
const headers = fc.dictionary(headerName, headerValue, { maxKeys: 12 })
const body = fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null })
const fault = fc.option(
  fc.oneof(fc.record({ kind: fc.constant('latency' as const), ms: fc.nat(5000) }), fc.record({ kind: fc.constantFrom('timeout' as const, 'crash' as const, 'oom' as const) })),
  { nil: undefined },
)
const call = fc.record({
  id: fc.nat(),
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
  path: fc.string(),
  headers,
  body,
  callId: fc.string(),
  fault,
})

const output = fc.record({
  status: fc.integer({ min: 100, max: 599 }),
  headers: fc.array(fc.tuple(headerName, fc.string()), { maxLength: 8 }),
  body: fc.oneof(fc.string({ unit: 'binary' }), fc.uint8Array({ maxLength: 64 })),
  tooLarge: fc.option(fc.constant(true as const), { nil: undefined }),
})

describe('the wire between the main thread and a replica', () => {
  it('gives a replica every call of a batch as it was sent, headers, body and fault included', () => {
    fc.assert(
      fc.property(fc.array(call, { maxLength: 20 }), (calls) => {
        const wire: WireCalls = []
        for (const c of calls) {
          const { id, fault: f, ...rest } = c
          writeCall(wire, id, f ? { ...rest, fault: f } : rest)
        }
        const got: InvokeMessage[] = []
        readCalls(across(wire), (m) => got.push(m))
        expect(got).toHaveLength(calls.length)
        got.forEach((m, i) => {
          const sent = calls[i] as (typeof calls)[number]
          expect(m.id).toBe(sent.id)
          expect(m.method).toBe(sent.method)
          expect(m.path).toBe(sent.path)
          expect(m.callId).toBe(sent.callId)
          expect(m.body).toEqual(sent.body)
          expect(m.fault).toEqual(sent.fault)
          // Own keys, in order, with the same values; an own `__proto__` stays a header.
          expect(Object.entries(m.headers)).toEqual(Object.entries(sent.headers))
          expect(Object.getPrototypeOf(m.headers)).toBe(Object.prototype)
        })
      }),
    )
  })

  it('gives the main thread every result of a batch as the replica answered it', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.double({ min: 0, max: 1e6, noNaN: true }), output), { maxLength: 20 }), (results) => {
        const wire: WireResults = []
        for (const [id, ms, out] of results) writeResult(wire, id, ms, out.tooLarge ? out : { status: out.status, headers: out.headers, body: out.body })
        const got: [number, number, CallOutput][] = []
        readResults(across(wire), (id, ms, out) => got.push([id, ms, out]))
        expect(got).toHaveLength(results.length)
        got.forEach(([id, ms, out], i) => {
          const [sentId, sentMs, sent] = results[i] as (typeof results)[number]
          expect(id).toBe(sentId)
          expect(ms).toBe(sentMs)
          expect(out.status).toBe(sent.status)
          expect(out.headers).toEqual(sent.headers)
          expect(out.body).toEqual(sent.body)
          expect(out.tooLarge).toBe(sent.tooLarge)
        })
      }),
    )
  })
})
