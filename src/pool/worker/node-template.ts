/**
 * The OpenFaaS node18/node20/node22 template (of-watchdog http mode + Express), reproduced
 * in-process so template functions run unmodified: the same event, context, body parsing
 * and response rules. Two of the template's bugs are fixed on purpose: a thrown error or a
 * rejected promise answers 500 (not 200), and an object result is sent as application/json.
 */
import type { InvokeMessage } from '../protocol.js'
import type { CallInput, CallOutput } from './entry.js'

const encoder = new TextEncoder()
const DEFAULT_LIMIT = '100kb'

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

/** The `bytes` package's format, as body-parser reads its `limit`: `100kb`, `1mb`, or bytes. */
export function parseByteLimit(value: string | undefined, fallback = DEFAULT_LIMIT): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)?\s*$/i.exec(value ?? fallback) ?? /^(\d+)(kb)$/.exec(fallback)
  const units: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 }
  return Math.floor(Number(match?.[1] ?? 102400) * (units[(match?.[2] ?? 'b').toLowerCase()] ?? 1))
}

function header(headers: Record<string, string | string[]>, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

function parseQuery(search: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [k, v] of new URLSearchParams(search)) {
    const prev = out[k]
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v]
  }
  return out
}

type QsValue = string | QsValue[] | { [key: string]: QsValue }
type QsContainer = QsValue[] | { [key: string]: QsValue }

const QS_DEPTH = 5
const QS_ARRAY_LIMIT = 20

/**
 * The `qs` parser's common cases, as Express 4's `req.query` and body-parser's extended
 * urlencoded use it: `a[b]=1` → `{a: {b: '1'}}`, `a[]=1&a[]=2` and `a[0]=1` → arrays,
 * repeated keys → arrays, at most 5 levels deep (the rest stays one literal key).
 */
export function parseQs(search: string): Record<string, QsValue> {
  const root: { [key: string]: QsValue } = {}
  for (const [key, value] of new URLSearchParams(search)) {
    const open = key.indexOf('[')
    const parent = open > 0 ? key.slice(0, open) : key
    const segments = [parent]
    if (open > 0) {
      const bracket = /\[([^[\]]*)\]/y
      bracket.lastIndex = open
      let match: RegExpExecArray | null
      while (segments.length <= QS_DEPTH && (match = bracket.exec(key))) segments.push(match[1] as string)
      if (bracket.lastIndex < key.length && bracket.lastIndex > open) segments.push(key.slice(bracket.lastIndex))
      if (segments.length === 1) segments[0] = key
    }
    if (key !== '') put(root, segments, value)
  }
  return compact(root) as Record<string, QsValue>
}

const isIndex = (seg: string): boolean => /^\d+$/.test(seg) && Number(seg) <= QS_ARRAY_LIMIT

/** Puts one value at a path of segments; returns the container, replaced by an object when an array gets a name. */
function put(container: QsContainer, segments: string[], value: string): QsContainer {
  const [seg, ...rest] = segments as [string, ...string[]]
  if (seg === '__proto__' || seg === 'constructor' || seg === 'prototype') return container
  const target = Array.isArray(container) && seg !== '' && !isIndex(seg) ? toObject(container) : container
  const items = target as Record<string, QsValue>
  const at = Array.isArray(target) && seg === '' ? String(target.length) : seg
  if (rest.length === 0) {
    const prev = items[at]
    items[at] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]
    return target
  }
  const next = rest[0] as string
  let child = items[at]
  if (child === undefined || typeof child === 'string') {
    const fresh: QsContainer = next === '' || isIndex(next) ? [] : {}
    if (typeof child === 'string') Object.assign(fresh, { [Array.isArray(fresh) ? 0 : '0']: child })
    child = fresh
  }
  items[at] = put(child, rest, value)
  return target
}

function toObject(list: QsValue[]): { [key: string]: QsValue } {
  const out: { [key: string]: QsValue } = {}
  list.forEach((v, i) => {
    if (v !== undefined) out[String(i)] = v
  })
  return out
}

/** Removes holes from arrays filled by index (`a[1]=x&a[5]=y` → `['x', 'y']`), as qs does. */
function compact(value: QsValue): QsValue {
  if (typeof value === 'string') return value
  if (Array.isArray(value)) return value.filter((v) => v !== undefined).map(compact)
  const out: { [key: string]: QsValue } = {}
  for (const [k, v] of Object.entries(value)) out[k] = compact(v)
  return out
}

/** The `event.body` of a call whose request headers are `headers` (the template's, with its default type). */
function parseBody(message: InvokeMessage, headers: Record<string, string | string[]>, lang: string): unknown {
  const bytes = message.body ?? new Uint8Array(0)
  // The bytes decide: framing headers describe a hop, not the bytes handed over (a queued
  // call carries the queue-worker's `Content-Length` of its stored bytes, not the caller's).
  // Framing still matters for an empty body, where body-parser tells `Content-Length: 0`
  // (an empty string for text) from no body at all.
  const hasBody = bytes.byteLength > 0 || headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && !Number.isNaN(Number(header(headers, 'content-length'))))
  const legacyEmpty = lang === 'node22' ? undefined : {}
  const type = (header(headers, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  const check = (limit: number): void => {
    if (bytes.byteLength > limit) throw new HttpError(413, 'PayloadTooLargeError: request entity too large')
  }
  const buffer = (): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

  if (process.env.RAW_BODY === 'true') {
    if (!hasBody) return legacyEmpty
    check(parseByteLimit(process.env.MAX_RAW_SIZE))
    return buffer()
  }
  if (!hasBody) return legacyEmpty
  if (type === 'application/json') {
    check(parseByteLimit(process.env.MAX_JSON_SIZE))
    // body-parser: an empty body is `{}`, a blank one is still invalid JSON.
    if (bytes.byteLength === 0) return {}
    const text = buffer().toString('utf8')
    // body-parser's strict mode: only objects and arrays.
    if (!/^[\s]*[{[]/.test(text)) throw new HttpError(400, `SyntaxError: Unexpected token in JSON at position 0`)
    try {
      return JSON.parse(text) as unknown
    } catch (err) {
      throw new HttpError(400, `SyntaxError: ${(err as Error).message}`)
    }
  }
  if (type === 'application/octet-stream') {
    check(parseByteLimit(undefined))
    return buffer()
  }
  if (type.startsWith('text/')) {
    check(parseByteLimit(undefined))
    return buffer().toString('utf8')
  }
  if (type === 'application/x-www-form-urlencoded') {
    check(parseByteLimit(undefined))
    return parseQs(buffer().toString('utf8'))
  }
  return legacyEmpty
}

class FunctionContext {
  statusCode = 200
  headerValues: Record<string, unknown> = {}
  cbCalled = 0
  constructor(private readonly cb: (err: unknown, value?: unknown) => void) {}

  status(code?: number): number | this {
    if (!code) return this.statusCode
    this.statusCode = code
    return this
  }

  headers(value?: Record<string, unknown>): Record<string, unknown> | this {
    if (!value) return this.headerValues
    this.headerValues = value
    return this
  }

  succeed(value: unknown): void {
    this.cbCalled++
    this.cb(undefined, value)
  }

  fail(value: unknown): void {
    if (this.statusCode === 200) this.statusCode = 500
    this.cbCalled++
    this.cb(value)
  }
}

function isPlain(value: unknown): boolean {
  return !!value && ((value as object).constructor === Array || (value as object).constructor === Object)
}

function send(status: number, custom: Record<string, unknown>, value: unknown, json: boolean): CallOutput {
  const headers: [string, string][] = []
  let typeIndex = -1
  for (const [k, v] of Object.entries(custom)) {
    if (v === undefined || v === null) continue
    const name = k.toLowerCase()
    if (name === 'content-type') typeIndex = headers.length
    for (const item of Array.isArray(v) ? v : [v]) headers.push([name, String(item)])
  }
  const hasType = typeIndex >= 0
  // Text stays a string: the gateway writes it out whole, and the replica makes, hands over and
  // frees no ArrayBuffer per call (Express sends the same UTF-8 bytes).
  let body: Uint8Array | string
  let type: string | undefined
  let text = false
  if (value === undefined || value === null) {
    body = new Uint8Array(0)
  } else if (json) {
    body = JSON.stringify(value)
    type = 'application/json; charset=utf-8'
    text = true
  } else if (value instanceof Uint8Array) {
    body = new Uint8Array(value)
    type = 'application/octet-stream'
  } else if (typeof value === 'string') {
    body = value
    type = 'text/html; charset=utf-8'
    text = true
  } else {
    // Express 4 sends numbers, booleans and other objects through res.json. Bytes, as before:
    // a type the handler set is then sent exactly as set (Fastify would add a charset to a
    // JSON type sent as text), and this path is rare.
    body = encoder.encode(JSON.stringify(value))
    type = 'application/json; charset=utf-8'
  }
  if (!hasType && type) headers.push(['content-type', type])
  // Express's res.send(string) sets the charset on a type the handler chose.
  const chosen = headers[typeIndex]
  if (text && chosen && !/;\s*charset=/i.test(chosen[1])) chosen[1] = `${chosen[1]}; charset=utf-8`
  return { status, headers, body }
}

export async function callNodeTemplateHandler(handler: (...args: unknown[]) => unknown, input: CallInput): Promise<CallOutput> {
  const { message } = input
  const headers = { ...message.headers }
  // The template sets a default Content-Type before body parsing.
  if (!headers['content-type']) headers['content-type'] = 'text/plain'
  let body: unknown
  try {
    body = parseBody(message, headers, input.data.lang)
  } catch (err) {
    if (err instanceof HttpError) return { status: err.status, headers: [['content-type', 'text/html; charset=utf-8']], body: encoder.encode(err.message) }
    throw err
  }
  // Split, not parsed as a URL: a path like `//evil.example/x` would otherwise become a host,
  // and Express's `req.path` is the raw path too.
  const q = message.path.indexOf('?')
  const path = q < 0 ? message.path : message.path.slice(0, q)
  const search = q < 0 ? '' : message.path.slice(q + 1)
  const event = { body, headers, method: message.method, query: input.data.lang === 'node22' ? parseQuery(search) : parseQs(search), path }

  return new Promise<CallOutput>((resolve) => {
    let done = false
    const cb = (err: unknown, value?: unknown): void => {
      if (done) return
      done = true
      if (err !== undefined && err !== null) {
        console.error(err)
        const status = context.statusCode === 200 ? 500 : context.statusCode
        const text = typeof (err as { toString?: unknown }).toString === 'function' ? String(err) : JSON.stringify(err)
        resolve({ status, headers: [['content-type', 'text/html; charset=utf-8']], body: encoder.encode(text) })
        return
      }
      resolve(send(context.statusCode, context.headerValues, value, isPlain(value)))
    }
    const context = new FunctionContext(cb)
    let result: unknown
    try {
      result = handler(event, context, cb)
    } catch (err) {
      // A synchronous throw: the template would crash or answer 500; we answer 500.
      if (context.statusCode === 200) context.statusCode = 500
      cb(err ?? new Error('handler threw'))
      return
    }
    Promise.resolve(result).then(
      (value) => {
        if (!context.cbCalled) context.succeed(value)
      },
      (err: unknown) => {
        if (context.statusCode === 200) context.statusCode = 500
        cb(err ?? new Error('handler rejected'))
      },
    )
  })
}
