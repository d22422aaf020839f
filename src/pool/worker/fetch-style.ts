import type { CallInput, CallOutput } from './entry.js'

const encoder = new TextEncoder()

/** What a fetch-style handler receives as its second argument. */
export interface Context {
  callId: string
  functionName: string
  /** Secret name → value, read from `.secrets/NAME` beside the stack file. */
  secrets: Record<string, string>
  /** Fires when the call passes the function's `exec_timeout`. */
  signal: AbortSignal
}

function toRequest({ message }: CallInput): Request {
  // Name/value pairs go into the Request's own headers in one pass (a Headers object first
  // would be filled, then copied).
  const headers: [string, string][] = []
  const given = message.headers
  for (const k in given) {
    const v = given[k]
    if (Array.isArray(v)) for (const item of v) headers.push([k, item])
    else if (v !== undefined) headers.push([k, v])
  }
  const host = typeof message.headers.host === 'string' ? message.headers.host : 'localhost'
  const hasBody = message.body !== null && message.method !== 'GET' && message.method !== 'HEAD'
  return new Request(`http://${host}${message.path}`, {
    method: message.method,
    headers,
    body: hasBody ? (message.body as Uint8Array<ArrayBuffer>) : null,
  })
}

export async function toOutput(value: unknown): Promise<CallOutput> {
  if (value instanceof Response) {
    const headers: [string, string][] = []
    value.headers.forEach((v, k) => {
      if (k !== 'set-cookie') headers.push([k, v])
    })
    for (const cookie of value.headers.getSetCookie()) headers.push(['set-cookie', cookie])
    return { status: value.status, headers, body: new Uint8Array(await value.arrayBuffer()) }
  }
  if (value === undefined || value === null) return { status: 204, headers: [], body: new Uint8Array(0) }
  if (typeof value === 'string') return { status: 200, headers: [['content-type', 'text/plain; charset=utf-8']], body: encoder.encode(value) }
  // The handler keeps its own bytes: copy them, since the result's buffer is transferred.
  if (value instanceof Uint8Array) return { status: 200, headers: [['content-type', 'application/octet-stream']], body: new Uint8Array(value) }
  if (value instanceof ArrayBuffer) return { status: 200, headers: [['content-type', 'application/octet-stream']], body: new Uint8Array(value.slice(0)) }
  return { status: 200, headers: [['content-type', 'application/json; charset=utf-8']], body: encoder.encode(JSON.stringify(value)) }
}

export async function callFetchHandler(handler: (...args: unknown[]) => unknown, input: CallInput): Promise<CallOutput> {
  const ctx: Context = {
    callId: input.message.callId,
    functionName: input.data.functionName,
    secrets: input.data.secrets,
    // Read lazily: the signal is only made when the handler asks for it.
    get signal() {
      return input.signal
    },
  }
  return toOutput(await handler(toRequest(input), ctx))
}
