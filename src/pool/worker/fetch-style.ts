import type { InvokeMessage } from '../protocol.js'
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

/**
 * A class, not an object literal with a `signal` getter (V8 defines a literal's accessor at run
 * time and makes the object a dictionary, per call). The signal is made only when read. The
 * call is a private field: a handler that logs or walks its context sees only the four names
 * above, not the replica's internals.
 */
class FetchContext implements Context {
  readonly callId: string
  readonly functionName: string
  readonly secrets: Record<string, string>
  readonly #input: CallInput

  constructor(input: CallInput) {
    this.callId = input.message.callId
    this.functionName = input.data.functionName
    this.secrets = input.data.secrets
    this.#input = input
  }

  get signal(): AbortSignal {
    return this.#input.signal
  }
}

function headerPairs(message: InvokeMessage): [string, string][] {
  // Name/value pairs go into the Request's own headers in one pass (a Headers object first
  // would be filled, then copied).
  const pairs: [string, string][] = []
  const given = message.headers
  for (const k in given) {
    const v = given[k]
    if (Array.isArray(v)) for (const item of v) pairs.push([k, item])
    else if (v !== undefined) pairs.push([k, v])
  }
  return pairs
}

const HOST = /^(?:[\w.~-]+|\[[\da-f:.]+\])(?::\d{1,5})?$/i
let lastOrigin: [host: string, origin: string] = ['localhost', 'http://localhost']

/**
 * The Host header when it is one `host[:port]`, else `http://localhost`: whatever a client
 * puts in Host (`evil.example/x?`, `a b`) never moves the path or the query, nor fails the URL.
 */
function originOf(host: string | string[] | undefined): string {
  if (typeof host !== 'string' || host === '') return 'http://localhost'
  if (host === lastOrigin[0]) return lastOrigin[1]
  let origin = 'http://localhost'
  if (HOST.test(host)) {
    try {
      origin = new URL(`http://${host}`).origin
    } catch {
      // Host-shaped but not a host (an IPv4 part above 255, a port above 65535): localhost.
    }
  }
  lastOrigin = [host, origin]
  return origin
}

function urlOf(message: InvokeMessage): string {
  const path = message.path.startsWith('/') ? message.path : `/${message.path}`
  return `${originOf(message.headers.host)}${path}`
}

function buildRequest(message: InvokeMessage, url: string, headers: HeadersInit): Request {
  const hasBody = message.body !== null && message.method !== 'GET' && message.method !== 'HEAD'
  return new Request(url, { method: message.method, headers, body: hasBody ? (message.body as Uint8Array<ArrayBuffer>) : null })
}

/**
 * Making a WHATWG Request costs Node about 10 µs and leaves garbage that outlives a young
 * collection, several times what a trivial handler costs; many handlers only read the method,
 * URL and headers, or nothing. So a handler gets a Request whose `method`, `url` and `headers`
 * are answered directly and which makes the real Request on first use of anything else (the
 * body, `clone()`, `signal`…), and forwards to it. It is `instanceof Request`, and undici
 * (`fetch(req)`, `new Request(req)`) reads the real one's internals through it; where that
 * does not hold (checked once, below) every call gets a real Request as before.
 */
const kMessage = Symbol('faasdev.message')
const kUrl = Symbol('faasdev.url')
const kHref = Symbol('faasdev.href')
const kHeaders = Symbol('faasdev.headers')
const kReal = Symbol('faasdev.request')

interface LazyState {
  [kMessage]: InvokeMessage
  [kUrl]: string
  [kHref]: string | undefined
  [kHeaders]: Headers | undefined
  [kReal]: Request | undefined
}

function real(self: LazyState): Request {
  // Headers read earlier are the ones the real Request starts from.
  self[kReal] ??= buildRequest(self[kMessage], self[kUrl], self[kHeaders] ?? headerPairs(self[kMessage]))
  return self[kReal]
}

const lazyPrototype: object = (() => {
  const proto = Object.create(Request.prototype) as Record<PropertyKey, unknown>
  Object.defineProperties(proto, {
    method: {
      get(this: LazyState) {
        return this[kMessage].method
      },
    },
    url: {
      get(this: LazyState) {
        // Normalised as a Request would (dot segments, host case), once.
        this[kHref] ??= new URL(this[kUrl]).href
        return this[kHref]
      },
    },
    headers: {
      get(this: LazyState) {
        this[kHeaders] ??= this[kReal]?.headers ?? new Headers(headerPairs(this[kMessage]))
        return this[kHeaders]
      },
    },
    [Symbol.for('nodejs.util.inspect.custom')]: {
      value(this: LazyState, _depth: number, options: object, inspect: (v: unknown, o: object) => string) {
        return inspect(real(this), options)
      },
    },
  })
  for (const [key, d] of Object.entries(Object.getOwnPropertyDescriptors(Request.prototype))) {
    if (key === 'constructor' || key === 'method' || key === 'url' || key === 'headers') continue
    if (d.get) Object.defineProperty(proto, key, { get: function (this: LazyState) { return Reflect.get(real(this), key) } })
    else if (typeof d.value === 'function') {
      const method = d.value as (...args: unknown[]) => unknown
      Object.defineProperty(proto, key, { value: function (this: LazyState, ...args: unknown[]) { return method.apply(real(this), args) } })
    }
  }
  // undici keeps a Request's state under symbols; reading them through here reads the real one's.
  for (const sym of Object.getOwnPropertySymbols(new Request('http://localhost/'))) {
    Object.defineProperty(proto, sym, { get: function (this: LazyState) { return Reflect.get(real(this), sym) } })
  }
  return proto
})()

function lazyRequest(message: InvokeMessage): Request {
  const self = Object.create(lazyPrototype) as LazyState
  self[kMessage] = message
  self[kUrl] = urlOf(message)
  self[kHref] = undefined
  self[kHeaders] = undefined
  self[kReal] = undefined
  return self as unknown as Request
}

/** Whether this Node's Request accepts the lazy one everywhere a Request goes. */
const lazyWorks: boolean = (() => {
  try {
    const message = { id: 0, method: 'POST', path: '/a/../p?q=1', headers: { host: 'H', 'x-a': 'b' }, body: new TextEncoder().encode('x'), callId: '' } as InvokeMessage
    const copy = new Request(lazyRequest(message))
    const probe = lazyRequest(message)
    return probe instanceof Request && copy.method === 'POST' && copy.url === 'http://h/p?q=1' && probe.url === copy.url && copy.headers.get('x-a') === 'b' && probe.headers.get('x-a') === 'b' && probe.signal instanceof AbortSignal
  } catch {
    return false
  }
})()

function toRequest({ message }: CallInput): Request {
  return lazyWorks ? lazyRequest(message) : buildRequest(message, urlOf(message), headerPairs(message))
}

/** A response over `maxResponse`: the main thread answers 502 naming the limit. */
export const TOO_LARGE: Readonly<CallOutput> = Object.freeze({ status: 502, headers: [], body: new Uint8Array(0), tooLarge: true })

/**
 * A Response's body, read chunk by chunk and cancelled as soon as it passes `limit`, so a
 * handler streaming gigabytes is stopped after `limit` bytes instead of being buffered whole.
 */
async function readBody(res: Response, limit: number): Promise<Uint8Array | undefined> {
  if (!res.body) return new Uint8Array(0)
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    if (!(value instanceof Uint8Array)) throw new TypeError('a Response body stream must give Uint8Array chunks')
    size += value.byteLength
    if (size > limit) {
      reader.cancel(new RangeError(`response larger than ${limit} bytes`)).catch(() => undefined)
      return undefined
    }
    chunks.push(value)
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array
  const body = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    body.set(c, at)
    at += c.byteLength
  }
  return body
}

async function responseOutput(res: Response, limit: number): Promise<CallOutput> {
  const headers: [string, string][] = []
  res.headers.forEach((v, k) => {
    if (k !== 'set-cookie') headers.push([k, v])
  })
  for (const cookie of res.headers.getSetCookie()) headers.push(['set-cookie', cookie])
  const body = await readBody(res, limit)
  return body ? { status: res.status, headers, body } : TOO_LARGE
}

/** A handler's return value as a result; a promise only for a Response, whose body is read. */
export function toOutput(value: unknown, limit = Infinity): CallOutput | Promise<CallOutput> {
  if (value instanceof Response) return responseOutput(value, limit)
  if (value === undefined || value === null) return { status: 204, headers: [], body: new Uint8Array(0) }
  if (typeof value === 'string') return { status: 200, headers: [['content-type', 'text/plain; charset=utf-8']], body: value }
  // The handler keeps its own bytes: copy them, since the result's buffer is transferred.
  if (value instanceof Uint8Array) return { status: 200, headers: [['content-type', 'application/octet-stream']], body: new Uint8Array(value) }
  if (value instanceof ArrayBuffer) return { status: 200, headers: [['content-type', 'application/octet-stream']], body: new Uint8Array(value.slice(0)) }
  // JSON.stringify gives undefined for a function or a symbol: an empty body, as before.
  return { status: 200, headers: [['content-type', 'application/json; charset=utf-8']], body: (JSON.stringify(value) as string | undefined) ?? '' }
}

// Methods a WHATWG Request refuses to carry (undici throws on them): answered here rather than
// failing inside the handler as a 500.
const NOT_A_REQUEST = /^(trace|track|connect)$/i

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as { then?: unknown } | null)?.then === 'function'

/**
 * A promise only when the handler returns one (or a Response): a handler that answers at once
 * is answered without the promises and microtasks of async frames, on every call.
 */
export function callFetchHandler(handler: (...args: unknown[]) => unknown, input: CallInput): CallOutput | Promise<CallOutput> {
  if (NOT_A_REQUEST.test(input.message.method)) {
    const text = `method ${input.message.method} cannot reach a fetch-style handler\n`
    return { status: 405, headers: [['content-type', 'text/plain; charset=utf-8'], ['allow', 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS']], body: encoder.encode(text) }
  }
  const value = handler(toRequest(input), new FetchContext(input))
  const limit = input.data.maxResponse
  return isThenable(value) ? Promise.resolve(value).then((v) => toOutput(v, limit)) : toOutput(value, limit)
}
