/**
 * How a `QueuedCall` travels through JetStream: the message data is the request body, byte
 * for byte (no base64, no copy into an envelope), and one NATS header, `Faasdev-Call`, holds
 * everything else as compact JSON:
 *
 *     Faasdev-Call: {"v":1,"id":"…","m":"POST","p":"/sub?q=1","h":{"content-type":"…"},"cb":"http://…","t":1732350000000,"nb":true}
 *
 * `nb` marks a call that had no body at all (as opposed to an empty one). The function name
 * is the subject's last token (`faas-request.NAME`). JSON escapes CR and LF, so the value is
 * always a legal header value.
 */
import { headers, type Msg, type MsgHdrs } from '@nats-io/transport-node'
import type { QueuedCall } from './types.js'

export const CALL_HEADER = 'Faasdev-Call'

interface Envelope {
  v: 1
  id: string
  m: string
  p: string
  h: Record<string, string | string[]>
  cb?: string
  t: number
  nb?: true
}

/** A function name as one subject / consumer-name token: anything outside [A-Za-z0-9_-] is escaped. */
export function fnToken(fn: string): string {
  return fn.replace(/[^A-Za-z0-9_-]/g, (c) => `_${c.codePointAt(0)?.toString(16) ?? ''}_`)
}

export function tokenFn(token: string): string {
  return token.replace(/_([0-9a-f]+)_/g, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
}

export function encodeCall(call: QueuedCall): { data: Uint8Array; headers: MsgHdrs } {
  const env: Envelope = { v: 1, id: call.id, m: call.method, p: call.path, h: call.headers, t: call.submittedAt }
  if (call.callbackUrl !== undefined) env.cb = call.callbackUrl
  if (call.body === null) env.nb = true
  const h = headers()
  h.set(CALL_HEADER, JSON.stringify(env))
  return { data: call.body ?? new Uint8Array(0), headers: h }
}

export function decodeCall(msg: Msg, fn: string): QueuedCall {
  const raw = msg.headers?.get(CALL_HEADER)
  if (!raw) throw new Error(`message ${msg.subject} has no ${CALL_HEADER} header`)
  // A copy: the queue-worker may transfer the body to a worker thread, and msg.data is a
  // view into the connection's read buffer, shared with other messages (a Node Buffer,
  // whose slice() is a view too).
  return callFromHeader(raw, new Uint8Array(msg.data), fn)
}

/** The call a `Faasdev-Call` header value describes, with `body` as its bytes (unless the call had none). */
export function callFromHeader(raw: string, body: Uint8Array | null, fn: string): QueuedCall {
  const env = JSON.parse(raw) as Envelope
  const call: QueuedCall = {
    id: env.id,
    function: fn,
    method: env.m,
    path: env.p,
    headers: env.h,
    body: env.nb ? null : body,
    submittedAt: env.t,
  }
  if (env.cb !== undefined) call.callbackUrl = env.cb
  return call
}

/**
 * Deliveries so far, from the ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`
 * (or the newer form with domain and account hash first, 12 tokens).
 */
export function deliveryCount(reply: string | undefined): number {
  const t = (reply ?? '').split('.')
  const n = Number(t.length >= 11 ? t[6] : t[4])
  return Number.isInteger(n) && n > 0 ? n : 1
}
