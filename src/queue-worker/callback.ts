/**
 * POSTs the result of an async call to its `X-Callback-Url`.
 *
 * The HTTP work runs on a thread of its own (`callback-thread.ts`): at thousands of calls a
 * second the callbacks cost the main thread as much as the submits do, and the main thread
 * also answers every gateway request. `CallbackSender` is the main thread's side: it hands the
 * callbacks of one event-loop turn to the thread in one message and resolves each with its
 * outcome. `CallbackClient` is the thread's side: undici's connection pools (about half the
 * cost per request of node:http), retries with backoff, then gives up (the caller logs it).
 */
import { Worker } from 'node:worker_threads'
import { Agent, type Dispatcher } from 'undici'
import { HOP_BY_HOP } from '../router/hop-by-hop.js'

/** Header names and values in turn (`[name, value, name, value…]`), the form undici takes as is. */
export type CallbackHeaders = string[]

/** A callback's body: the function's text as it came (encoded on the callback thread), or its bytes. */
export type CallbackBody = string | Uint8Array

/**
 * What the queue-worker says about the call in its callback headers, besides the function's own.
 * It crosses to the callback thread as values, and the thread formats the headers: the main
 * thread, which also answers every request, neither builds nor clones them.
 */
export interface CallbackCall {
  callId: string
  fn: string
  /** The function's HTTP status. */
  status: number
  /** Seconds from the start of the attempt to its result. */
  seconds: number
  /** Attempts before this one, and the most there could be. */
  retry: number
  retryMax: number
  /** The function's response headers. */
  headers: [string, string][]
}

export interface CallbackOptions {
  /** Tries in total. @default 3 */
  attempts: number
  /** Wait before the second try; doubles after each. @default 500 */
  initialWaitMs: number
  /** One try's time limit: to connect, for the answer's headers, and between its body chunks. @default 10000 */
  timeoutMs: number
}

export const CALLBACK_DEFAULTS: Readonly<CallbackOptions> = Object.freeze({ attempts: 3, initialWaitMs: 500, timeoutMs: 10_000 })

export interface CallbackOutcome {
  status?: number
  error?: string
  attempts: number
}


/** The names of the queue-worker's own callback headers, as `headersOf` writes them. */
const OWN_NAMES: ReadonlySet<string> = new Set(['x-call-id', 'x-function-status', 'x-function-name', 'x-duration-seconds', 'x-retry', 'x-retry-max', 'user-agent'])

/** The headers of a callback: the function's, then the queue-worker's own, which replace any of the same name whatever its case. */
export function headersOf(call: CallbackCall): CallbackHeaders {
  const headers = functionHeaders(call.headers, OWN_NAMES)
  headers.push(
    'x-call-id',
    call.callId,
    'x-function-status',
    String(call.status),
    'x-function-name',
    call.fn,
    'x-duration-seconds',
    call.seconds.toFixed(6),
    'x-retry',
    String(call.retry),
    'x-retry-max',
    String(call.retryMax),
    'user-agent',
    'faasdev-queue-worker',
  )
  return headers
}

/** The function's response headers a callback carries: lowercased, without those it must not or `own` replaces. */
function functionHeaders(result: [string, string][], own: ReadonlySet<string>): CallbackHeaders {
  const headers: CallbackHeaders = []
  for (const [k, v] of result) {
    const key = k.toLowerCase()
    // undici refuses to send `expect`; it describes a request anyway, not a response.
    if (HOP_BY_HOP.has(key) || key === 'host' || key === 'expect' || own.has(key)) continue
    headers.push(key, v)
  }
  return headers
}

export class CallbackClient {
  /** One pool per callback origin, http and https alike; keep-alive, no pipelining (a slow receiver delays only its own calls). */
  private readonly agent: Agent
  private readonly targets = new Map<string, Target>()

  constructor(readonly options: CallbackOptions = CALLBACK_DEFAULTS) {
    this.agent = new Agent({
      connections: 256,
      pipelining: 1,
      connect: { timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    })
  }

  /** Sends one callback, with its retries; `done` gets the outcome (never an exception). */
  send(url: string, headers: CallbackHeaders, body: CallbackBody, done: (outcome: CallbackOutcome) => void): void {
    let target: Target
    try {
      target = this.targetOf(url)
    } catch (err) {
      done({ error: describe(err), attempts: 0 })
      return
    }
    const sent = target.auth ? [...withoutHeader(headers, 'authorization'), 'authorization', target.auth] : headers
    let wait = this.options.initialWaitMs
    // Callbacks and no promises: this runs for every async call.
    const attempt = (n: number): void => {
      const finish = (status: number, err?: unknown): void => {
        const outcome: CallbackOutcome = err ? { error: describe(err), attempts: n } : { status, attempts: n }
        const retry = err !== undefined || status >= 500 || status === 429 || status === 408
        if (!retry || n >= this.options.attempts) return done(outcome)
        setTimeout(() => attempt(n + 1), wait)
        wait *= 2
      }
      try {
        this.agent.dispatch({ origin: target.origin, path: target.path, method: 'POST', headers: sent, body }, new StatusHandler(finish))
      } catch (err) {
        finish(0, err)
      }
    }
    attempt(1)
  }

  /** The request target of a callback URL, parsed once per URL (most calls share one). */
  private targetOf(url: string): Target {
    let target = this.targets.get(url)
    if (!target) {
      const u = new URL(url)
      // Credentials in the URL (http://user:pass@host/…) become Basic auth, as node:http and curl do.
      const auth = u.username || u.password ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}` : undefined
      target = { origin: u.origin, path: u.pathname + u.search, auth }
      if (this.targets.size >= 1000) this.targets.clear()
      this.targets.set(url, target)
    }
    return target
  }
}

interface Target {
  origin: string
  path: string
  auth: string | undefined
}

function withoutHeader(headers: CallbackHeaders, name: string): CallbackHeaders {
  const out: CallbackHeaders = []
  for (let i = 0; i < headers.length; i += 2) if (headers[i] !== name) out.push(headers[i] as string, headers[i + 1] as string)
  return out
}

/**
 * undici's dispatch API rather than request(): the final status is kept and the answer's body
 * dropped as it arrives, without a stream per callback; the connection goes back to the pool.
 */
class StatusHandler implements Dispatcher.DispatchHandler {
  private status = 0
  private settled = false

  constructor(private readonly done: (status: number, err?: Error) => void) {}

  onRequestStart(): void {}

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode
  }

  onResponseData(): void {}

  onResponseEnd(): void {
    if (this.settled) return
    this.settled = true
    this.done(this.status)
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.settled) return
    this.settled = true
    this.done(this.status, err)
  }
}

/** undici's errors carry the useful part in `code` and `cause` (ECONNREFUSED and the like). */
function describe(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } }
  const cause = e?.cause?.code ?? e?.cause?.message
  const message = e?.message ?? String(err)
  return cause && !message.includes(cause) ? `${message} (${cause})` : message
}

/**
 * Main thread → callback thread: per callback `CALLBACK_FIELDS` values in turn (id, URL, the
 * `CallbackCall` fields, body), in one flat list. The structured clone of an object writes its
 * property names again for every object; a list of values does not, on either side.
 */
export interface ToCallbackThread {
  t: 'send'
  batch: (number | string | [string, string][] | CallbackBody)[]
}

export const CALLBACK_FIELDS = 10

/** The callback at `i` in a batch, as `CallbackClient.send` takes it. */
export function fromBatch(batch: ToCallbackThread['batch'], i: number): { id: number; url: string; headers: CallbackHeaders; body: CallbackBody } {
  const call: CallbackCall = {
    callId: batch[i + 2] as string,
    fn: batch[i + 3] as string,
    status: batch[i + 4] as number,
    seconds: batch[i + 5] as number,
    retry: batch[i + 6] as number,
    retryMax: batch[i + 7] as number,
    headers: batch[i + 8] as [string, string][],
  }
  return { id: batch[i] as number, url: batch[i + 1] as string, headers: headersOf(call), body: batch[i + 9] as CallbackBody }
}
/**
 * Callback thread → main thread, the outcomes finished in one turn: `answered` holds id, status
 * and attempts in turn for each callback that got an answer, `failed` id, attempts and error.
 */
export interface FromCallbackThread {
  t: 'done'
  answered: number[]
  failed: (number | string)[]
}

// Vitest runs src/ as TypeScript, which a worker thread cannot load: there the compiled thread
// from dist/ is used (test/global-setup.ts builds it first).
const THREAD_URL = import.meta.url.endsWith('.ts') ? new URL('../../dist/queue-worker/callback-thread.js', import.meta.url) : new URL('./callback-thread.js', import.meta.url)

/**
 * The main thread's side of the callbacks: batches them to the callback thread, which is
 * started on the first callback (a runtime whose calls have no callback URL never starts it).
 */
export class CallbackSender {
  private worker: Worker | undefined
  private readonly pending = new Map<number, (outcome: CallbackOutcome) => void>()
  private outbox: ToCallbackThread['batch'] = []
  private nextId = 1
  private closed = false

  constructor(readonly options: CallbackOptions = CALLBACK_DEFAULTS) {}

  /** Sends the callback of `call` (with its retries); never rejects, the outcome says what happened. */
  send(url: string, call: CallbackCall, body: CallbackBody): Promise<CallbackOutcome> {
    if (this.closed) return Promise.resolve({ error: 'faasdev is shutting down', attempts: 0 })
    this.worker ??= this.startThread()
    const id = this.nextId++
    // A view into a larger buffer would copy all of that buffer to the thread. A copy of its
    // bytes, not `body.slice()`: on a Buffer (a pooled one, typically) that is another view.
    const own = typeof body === 'string' || (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength) ? body : new Uint8Array(body)
    if (this.outbox.push(id, url, call.callId, call.fn, call.status, call.seconds, call.retry, call.retryMax, call.headers, own) === CALLBACK_FIELDS) setImmediate(this.flush)
    return new Promise((resolve) => this.pending.set(id, resolve))
  }

  /** Stops the thread; callbacks still being sent are reported as failed. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    const worker = this.worker
    this.worker = undefined
    this.fail('faasdev is shutting down')
    if (worker) void worker.terminate()
  }

  private readonly flush = (): void => {
    const batch = this.outbox
    this.outbox = []
    if (batch.length > 0) this.worker?.postMessage({ t: 'send', batch } satisfies ToCallbackThread)
  }

  private settle(id: number, outcome: CallbackOutcome): void {
    this.pending.get(id)?.(outcome)
    this.pending.delete(id)
  }

  private startThread(): Worker {
    const worker = new Worker(THREAD_URL, { workerData: this.options, name: 'faasdev callbacks' })
    // Callbacks keep nothing alive: the queue-worker's drain decides when the process may end.
    worker.unref()
    worker.on('message', (msg: FromCallbackThread) => {
      const { answered, failed } = msg
      for (let i = 0; i < answered.length; i += 3) this.settle(answered[i] as number, { status: answered[i + 1] as number, attempts: answered[i + 2] as number })
      for (let i = 0; i < failed.length; i += 3) this.settle(failed[i] as number, { error: failed[i + 2] as string, attempts: failed[i + 1] as number })
    })
    let lastError: Error | undefined
    worker.on('error', (err) => {
      lastError = err
    })
    worker.on('exit', (code) => {
      if (this.worker !== worker) return
      // Not expected: the next callback starts a new thread; these are reported as failed.
      this.worker = undefined
      this.fail(`the callback thread stopped${lastError ? `: ${lastError.message}` : ` with code ${code}`}`)
    })
    return worker
  }

  private fail(error: string): void {
    this.outbox = []
    for (const resolve of this.pending.values()) resolve({ error, attempts: 0 })
    this.pending.clear()
  }
}
