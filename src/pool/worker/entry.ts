/**
 * Runs inside each replica. The loader bundles this file with the user's handler, so it
 * imports nothing of ours but the adapters beside it, the wire layout (`../wire.ts`, which
 * imports nothing) and the protocol's types.
 */
import { performance } from 'node:perf_hooks'
import { parentPort } from 'node:worker_threads'
import type { CallOutput, FromWorker, InvokeMessage, ReplicaData, ResultsMessage, ToWorker } from '../protocol.js'
import { readCalls, type WireResults, writeResult } from '../wire.js'
import { compactWhenIdle } from './compact.js'
import { meetFault } from './fault.js'
import { callFetchHandler, TOO_LARGE } from './fetch-style.js'
import { callNodeTemplateHandler } from './node-template.js'
import { replicaData } from './replica-data.js'

export interface CallInput {
  message: InvokeMessage
  signal: AbortSignal
  data: ReplicaData
}

export type { CallOutput }

/**
 * One call: what the adapters read, and its abort switch. A class, not an object literal with
 * a `signal` getter: V8 defines a literal's accessor at run time and turns the object into a
 * dictionary, per call. The AbortController is only made when the handler reads its signal:
 * making one costs as much as the rest of a trivial call, and most handlers never look.
 */
class Call implements CallInput {
  private controller: AbortController | undefined
  private reason: unknown
  private aborted = false

  constructor(
    readonly message: InvokeMessage,
    readonly data: ReplicaData,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController()
      if (this.aborted) this.controller.abort(this.reason)
    }
    return this.controller.signal
  }

  abort(reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    this.controller?.abort(reason)
  }
}

type AnyHandler = (...args: unknown[]) => unknown

function pickHandler(mod: Record<string, unknown>): AnyHandler {
  const candidates = [mod.default, (mod.default as Record<string, unknown> | undefined)?.default, mod.handle, mod.handler]
  const fn = candidates.find((c) => typeof c === 'function')
  if (!fn) throw new Error('the handler module exports no function: use `export default async function handle(req, ctx)` or `module.exports = async (event, context) => …`')
  return fn as AnyHandler
}

export function serve(mod: Record<string, unknown>): void {
  const port = parentPort
  if (!port) throw new Error('faasdev worker entry must run in a worker thread')
  const data = replicaData() as ReplicaData
  const handler = pickHandler(mod)
  /** Calls that did not answer in the turn they started (only those can be aborted). */
  const calls = new Map<number, Call>()
  let lastElu = performance.eventLoopUtilization()

  const post = (msg: FromWorker, transfer?: ArrayBuffer[]): void => port.postMessage(msg, transfer)
  const answers = data.answers
  const answered = new Int32Array(data.answered)

  // Results that finish in the same burst of microtasks (the calls of one batch, typically) go
  // back as one message: one wake-up of the main thread instead of one per call. A microtask,
  // not a timer, so a result is never held back by a later macrotask (or a blocked loop).
  let results: WireResults = []
  const resultTransfer = new Set<ArrayBuffer>()
  const flushResults = (): void => {
    const message: ResultsMessage = { t: 'results', results }
    const transfer = resultTransfer.size > 0 ? [...resultTransfer] : undefined
    results = []
    resultTransfer.clear()
    answers.postMessage(message, transfer)
    Atomics.add(answered, 0, 1)
  }

  const call = (input: CallInput): CallOutput | Promise<CallOutput> =>
    data.style === 'fetch' ? callFetchHandler(handler, input) : callNodeTemplateHandler(handler, input)

  const failed = (err: unknown): CallOutput => {
    console.error(err)
    return { status: 500, headers: [['content-type', 'text/plain; charset=utf-8']], body: new TextEncoder().encode(String(err)) }
  }

  const finish = (id: number, started: number, result: CallOutput): void => {
    calls.delete(id)
    const body = result.body
    // A body built whole (a string, bytes, a node-template result) is not sent past the limit either.
    const size = typeof body === 'string' ? (data.maxResponse === undefined ? 0 : Buffer.byteLength(body)) : body.byteLength
    const out = size > (data.maxResponse ?? Infinity) ? TOO_LARGE : result
    // Only hand over buffers this call owns outright; a view on a shared slab must be copied.
    if (typeof out.body !== 'string') {
      const bytes = out.body
      const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer
      if (own && bytes.byteLength > 0) resultTransfer.add(bytes.buffer as ArrayBuffer)
    }
    if (results.length === 0) queueMicrotask(flushResults)
    writeResult(results, id, performance.now() - started, out)
  }

  // Without an async frame: a handler that answers at once is finished in the same turn, with
  // no promise of ours, which is most of a trivial call's cost in the replica.
  const run = (message: InvokeMessage): void => {
    const started = performance.now()
    const input = new Call(message, data)
    let out: CallOutput | Promise<CallOutput>
    try {
      out = message.fault ? meetFault(message.fault, input).then((faulted) => faulted ?? call(input)) : call(input)
    } catch (err) {
      out = failed(err)
    }
    if (out instanceof Promise) {
      // Kept until it answers, so an abort (exec_timeout) reaches it; a call answered in this
      // turn is never in the map (adding and removing one per call made V8 shrink it again and again).
      calls.set(message.id, input)
      void out.then(
        (result) => finish(message.id, started, result),
        (err: unknown) => finish(message.id, started, failed(err)),
      )
    } else finish(message.id, started, out)
  }

  port.on('message', (msg: ToWorker) => {
    switch (msg.t) {
      case 'calls':
        readCalls(msg.calls, run)
        break
      case 'abort':
        calls.get(msg.id)?.abort(new DOMException('exec_timeout exceeded', 'TimeoutError'))
        break
      case 'ping': {
        const now = performance.eventLoopUtilization()
        const elu = performance.eventLoopUtilization(now, lastElu).utilization
        lastElu = now
        post({ t: 'pong', seq: msg.seq, elu })
        break
      }
    }
  })
  post({ t: 'ready' })
  compactWhenIdle()
}
