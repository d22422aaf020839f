/**
 * `faasdev/testing`: a real runtime for a test suite, on a free port, with a callback receiver
 * built in and faults one call away. Plain promises and no globals, so it works the same under
 * vitest, node:test and jest, and test files may run in parallel (each fixture has its own
 * port, build folder and receiver).
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Fault, FaultSpec } from '../faults/spec.js'
import { splitName } from '../router/router.js'
import { createRuntime, type Runtime, type RuntimeOptions, type RuntimeStats } from '../runtime.js'
import { CallbackReceiver } from './receiver.js'

export type { Fault, FaultKind, FaultSpec } from '../faults/spec.js'
export type { Runtime, RuntimeOptions, RuntimeStats } from '../runtime.js'

export interface StartOptions extends RuntimeOptions {
  /** The stack file to serve. */
  stack: string
  /** Print faasdev's messages and handler output, as `faasdev up` does. Handler output is kept for `logs()` either way. @default false */
  verbose?: boolean | undefined
  /** How long `invokeAsync` waits for a call's callback. @default 10000 */
  callbackTimeoutMs?: number | undefined
}

export interface InvokeOptions {
  /** A string or bytes as they are; any other value is sent as JSON (with its content type). */
  body?: string | Uint8Array | ArrayBuffer | Record<string, unknown> | unknown[] | number | boolean | null | undefined
  headers?: Record<string, string> | undefined
  /** @default 'POST' */
  method?: string | undefined
  query?: Record<string, string | number | boolean> | URLSearchParams | string | undefined
  /** Sub-path after `/function/NAME`, e.g. `/orders/7`. */
  path?: string | undefined
}

export interface AsyncInvokeOptions extends Omit<InvokeOptions, 'method'> {
  /** How long to wait for the callback. @default the fixture's `callbackTimeoutMs` */
  timeoutMs?: number | undefined
}

/** An async call's result, as its callback delivered it. */
export interface CallbackResult {
  callId: string
  /** The function's status (`X-Function-Status`). */
  status: number
  /** The callback's headers, lower-case: the function's own, and `x-retry`, `x-function-status`, `x-duration-seconds`… */
  headers: Record<string, string>
  /** The function's response body as text. */
  body: string
  bytes: Uint8Array
}

/** What `fault()` takes: a fault spec without the function, which is the first argument. */
export type FaultOptions = Omit<FaultSpec, 'function'>

export interface Faasdev {
  /** The gateway's base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  /** The runtime itself, for anything the fixture does not wrap. */
  readonly runtime: Runtime
  /** A sync call (`/function/NAME`): the gateway's `Response` as is. */
  invoke(name: string, options?: InvokeOptions): Promise<Response>
  /** An async call (`/async-function/NAME`) whose callback is awaited; rejects, naming the call id, when none comes in time. */
  invokeAsync(name: string, options?: AsyncInvokeOptions): Promise<CallbackResult>
  /** Injects a fault into the function's next calls (see `POST /system/faults`). */
  fault(name: string, spec: FaultOptions): Promise<Fault>
  clearFaults(): Promise<void>
  /** Submits the async call the function's schedule (`topic: cron-function`) makes, now, so a test need not wait for the clock; resolves with its call ids. */
  trigger(name: string): Promise<string[]>
  /** Resolves when nothing is in flight, queued, retrying or waiting for its callback. */
  idle(): Promise<void>
  stats(): RuntimeStats
  /** The lines the function's replicas wrote (the last 1000), oldest first. A line travels beside a call's answer, so it may show a moment after the response. */
  logs(name: string): string[]
  /** Drains and stops everything the fixture started. Idempotent. */
  close(): Promise<void>
}

function requestBody(body: InvokeOptions['body'], headers: Headers): BodyInit | undefined {
  if (body === undefined) return undefined
  if (typeof body === 'string') return body
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) return body as BodyInit
  if (!headers.has('content-type')) headers.set('content-type', 'application/json')
  return JSON.stringify(body)
}

function target(base: string, route: string, name: string, options: InvokeOptions): string {
  const path = options.path ? (options.path.startsWith('/') ? options.path : `/${options.path}`) : ''
  const query = options.query === undefined ? '' : new URLSearchParams(typeof options.query === 'string' || options.query instanceof URLSearchParams ? options.query : Object.entries(options.query).map(([k, v]) => [k, String(v)])).toString()
  return `${base}/${route}/${encodeURIComponent(name)}${path}${query ? `?${query}` : ''}`
}

/** Starts a runtime on a free port (no watching, quiet unless `verbose`) for a test suite. */
export async function startFaasdev(options: StartOptions): Promise<Faasdev> {
  const { verbose, callbackTimeoutMs = 10_000, ...runtimeOptions } = options
  // Its own build folder, so suites sharing a stack file never share one.
  const ownDataDir = runtimeOptions.dataDir === undefined ? await mkdtemp(join(tmpdir(), 'faasdev-testing-')) : undefined
  const quiet = (): void => undefined
  const rt = await createRuntime({
    port: 0,
    watch: false,
    graceMs: 2000,
    ...(verbose ? {} : { log: quiet, onOutput: quiet }),
    ...runtimeOptions,
    ...(ownDataDir ? { dataDir: ownDataDir } : {}),
  })
  const receiver = new CallbackReceiver()
  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      try {
        await rt.close()
      } finally {
        await receiver.close()
        if (ownDataDir) await rm(ownDataDir, { recursive: true, force: true })
      }
    })())
  try {
    await rt.start()
  } catch (err) {
    await close().catch(() => undefined)
    throw err
  }
  const url = rt.url

  const invokeAsync = async (name: string, o: AsyncInvokeOptions = {}): Promise<CallbackResult> => {
    const headers = new Headers(o.headers)
    const callId = headers.get('x-call-id') ?? randomUUID()
    headers.set('x-call-id', callId)
    headers.set('x-callback-url', `${await receiver.url()}/callback/${encodeURIComponent(callId)}`)
    const timeoutMs = o.timeoutMs ?? callbackTimeoutMs
    // Waiting starts before the submit: a fast function calls back before the 202 is read.
    const received = receiver.wait(callId, timeoutMs, async () => {
      let state = ''
      try {
        const s = await rt.queueWorker.status(callId)
        state = `: it is ${s.status} after ${s.attempts} attempt(s)${s.lastStatus ? `, last status ${s.lastStatus}` : ''}${s.callback?.error ? `, callback failed: ${s.callback.error}` : ''}`
      } catch {
        state = ''
      }
      return new Error(`faasdev/testing: no callback for async call ${callId} to ${name} within ${timeoutMs} ms${state}`)
    })
    const body = requestBody(o.body, headers)
    let res: Response
    try {
      res = await fetch(target(url, 'async-function', name, o), { method: 'POST', headers, ...(body !== undefined ? { body } : {}) })
    } catch (err) {
      // Nobody will await the callback now: its rejection must not surface as unhandled.
      received.catch(() => undefined)
      receiver.fail(callId, err as Error)
      throw err
    }
    if (res.status !== 202) receiver.fail(callId, new Error(`faasdev/testing: async call ${callId} to ${name} was refused: ${res.status} ${(await res.text()).trim()}`))
    else await res.arrayBuffer()
    const cb = await received
    return {
      callId,
      status: Number(cb.headers['x-function-status'] ?? 0),
      headers: cb.headers,
      body: new TextDecoder().decode(cb.bytes),
      bytes: cb.bytes,
    }
  }

  return {
    url,
    runtime: rt,
    invoke: async (name, o = {}) => {
      const headers = new Headers(o.headers)
      const body = requestBody(o.body, headers)
      return fetch(target(url, 'function', name, o), { method: o.method ?? 'POST', headers, ...(body !== undefined ? { body } : {}) })
    },
    invokeAsync,
    fault: async (name, spec) => rt.faults.inject({ ...spec, function: name }),
    clearFaults: async () => {
      rt.faults.clear()
    },
    trigger: (name) => rt.trigger(splitName(name).name),
    idle: () => rt.idle(),
    stats: () => rt.stats(),
    logs: (name) => rt.logs.tail(splitName(name).name).map((m) => m.text),
    close,
  }
}
