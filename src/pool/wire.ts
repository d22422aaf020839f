/**
 * How calls and results cross between the main thread and a replica: flat arrays of strings,
 * numbers and bytes, one per message, not an object per call. A message is copied by V8's
 * structured clone, which writes an object's every key and makes a new object with map
 * transitions on the other side; a flat array of the same values costs about half as much to
 * write and a third to read (measured with `v8.serialize` on a batch of 16 calls: 0.55 → 0.24 µs
 * and 0.9 → 0.4 µs per call; results 0.6–0.7 → 0.2–0.3 µs and 0.9 → 0.25 µs). Both threads
 * pay this on every call, so it is a fixed part of the sync hop.
 *
 * Imports nothing: the replica's bundle includes this file.
 */
import type { CallOutput, InvokeMessage, ReplicaFault } from './protocol.js'

/**
 * Calls: per call `id, method, path, callId, body, fault, n`, then `n` header names and values
 * (a value is a string, or a list of strings for a header sent more than once, as Node gives
 * `set-cookie`). `body` is bytes or null, `fault` an object or null.
 */
export type WireCalls = unknown[]

/** Results: per result `id, ms, status, tooLarge (0|1), n`, then `n` header names and values, then the body. */
export type WireResults = unknown[]

export function writeCall(out: WireCalls, id: number, call: Omit<InvokeMessage, 'id'>): void {
  const headers = call.headers
  const at = out.length
  out.push(id, call.method, call.path, call.callId, call.body, call.fault ?? null, 0)
  let n = 0
  for (const k in headers) {
    const v = headers[k]
    if (v === undefined) continue
    out.push(k, v)
    n++
  }
  out[at + 6] = n
}

/** Calls `run` with each call in `data`, in order. */
export function readCalls(data: WireCalls, run: (call: InvokeMessage) => void): void {
  let i = 0
  while (i < data.length) {
    const id = data[i] as number
    const method = data[i + 1] as string
    const path = data[i + 2] as string
    const callId = data[i + 3] as string
    const body = data[i + 4] as Uint8Array | null
    const fault = data[i + 5] as ReplicaFault | null
    const n = data[i + 6] as number
    i += 7
    const headers: Record<string, string | string[]> = {}
    for (const end = i + 2 * n; i < end; i += 2) {
      const k = data[i] as string
      // An own `__proto__` (a queued call's headers come from JSON) stays a header, as a structured clone keeps it.
      if (k === '__proto__') Object.defineProperty(headers, k, { value: data[i + 1], enumerable: true, writable: true, configurable: true })
      else headers[k] = data[i + 1] as string | string[]
    }
    run(fault === null ? { id, method, path, headers, body, callId } : { id, method, path, headers, body, callId, fault })
  }
}

export function writeResult(out: WireResults, id: number, ms: number, result: CallOutput): void {
  const headers = result.headers
  out.push(id, ms, result.status, result.tooLarge ? 1 : 0, headers.length)
  for (const [k, v] of headers) out.push(k, v)
  out.push(result.body)
}

/** Calls `take` with each result in `data`, in order. */
export function readResults(data: WireResults, take: (id: number, ms: number, result: CallOutput) => void): void {
  let i = 0
  while (i < data.length) {
    const id = data[i] as number
    const ms = data[i + 1] as number
    const status = data[i + 2] as number
    const tooLarge = data[i + 3] === 1
    const n = data[i + 4] as number
    i += 5
    const headers: [string, string][] = []
    for (const end = i + 2 * n; i < end; i += 2) headers.push([data[i] as string, data[i + 1] as string])
    const body = data[i++] as Uint8Array | string
    take(id, ms, tooLarge ? { status, headers, body, tooLarge } : { status, headers, body })
  }
}
