/**
 * The in-memory queue backend: one FIFO deque of ready messages per function, retry delays
 * on timers, and hard bounds on messages and bytes so a flood is refused at submit (429)
 * instead of growing the heap until the process dies. Nothing survives a restart; a
 * graceful shutdown keeps the queue-worker running until it is empty or the grace ends.
 */
import { FaasError } from '../errors.js'
import { Deque } from './deque.js'
import type { QueueBackend, QueuedCall, QueueMessage, QueueStats } from './types.js'

export interface MemoryQueueOptions {
  /** Accepted and not yet acknowledged messages, across functions. @default 100000 */
  maxMessages?: number
  /** Their total size (bodies, headers, paths). @default 256 MiB */
  maxBytes?: number
}

export const MEMORY_QUEUE_DEFAULTS = { maxMessages: 100_000, maxBytes: 256 * 1024 * 1024 } as const

interface Entry {
  call: QueuedCall
  attempt: number
  bytes: number
}

interface FunctionQueue {
  ready: Deque<Entry>
  delayed: number
  inflight: number
}

/** Rough size of a call in memory; the body dominates. */
export function callBytes(call: QueuedCall): number {
  let n = (call.body?.byteLength ?? 0) + call.path.length + call.method.length + call.id.length + (call.callbackUrl?.length ?? 0) + 64
  const headers = call.headers
  for (const k in headers) {
    const v = headers[k] as string | string[]
    n += k.length + (typeof v === 'string' ? v.length : v.reduce((s, x) => s + x.length, 0)) + 4
  }
  return n
}

/** A taken message; settles once (ack or retry), later calls are no-ops. */
class MemoryMessage implements QueueMessage {
  readonly call: QueuedCall
  readonly attempt: number
  private settled = false

  constructor(
    private readonly owner: MemoryQueue,
    private readonly fn: string,
    private readonly q: FunctionQueue,
    private readonly entry: Entry,
  ) {
    this.call = entry.call
    this.attempt = entry.attempt
  }

  async ack(): Promise<void> {
    if (this.settled) return
    this.settled = true
    this.owner.acked(this.fn, this.q, this.entry)
  }

  async retry(delayMs: number): Promise<void> {
    if (this.settled) return
    this.settled = true
    this.owner.requeue(this.fn, this.q, this.entry, delayMs)
  }

  working(): void {}
}

export class MemoryQueue implements QueueBackend {
  readonly kind = 'memory' as const
  readonly maxMessages: number
  readonly maxBytes: number
  private readonly queues = new Map<string, FunctionQueue>()
  private readonly listeners: ((fn: string) => void)[] = []
  private readonly timers = new Set<NodeJS.Timeout>()
  private messages = 0
  private bytes = 0
  private closing: Promise<void> | undefined

  constructor(options: MemoryQueueOptions = {}) {
    this.maxMessages = options.maxMessages ?? MEMORY_QUEUE_DEFAULTS.maxMessages
    this.maxBytes = options.maxBytes ?? MEMORY_QUEUE_DEFAULTS.maxBytes
  }

  async start(): Promise<void> {}

  async submit(call: QueuedCall): Promise<boolean> {
    return this.submitNow(call)
  }

  /** Synchronous `submit`: the gateway answers an async call's 202 without waiting for a microtask. */
  submitNow(call: QueuedCall): boolean {
    if (this.closing) throw new FaasError('ERR_CLOSED', 'the queue is shutting down and takes no new calls\n', { internal: 'gateway', headers: { 'Retry-After': '5' } })
    const bytes = callBytes(call)
    if (this.messages + 1 > this.maxMessages || this.bytes + bytes > this.maxBytes) {
      const which = this.messages + 1 > this.maxMessages ? `${this.maxMessages} messages (--queue-max-messages)` : `${this.maxBytes} bytes (--queue-max-bytes)`
      throw new FaasError('ERR_QUEUE_FULL', `the async queue is full: its limit is ${which}; retry later\n`, { internal: 'gateway', headers: { 'Retry-After': '1' } })
    }
    this.messages++
    this.bytes += bytes
    this.queue(call.function).ready.push({ call, attempt: 1, bytes })
    this.notify(call.function)
    return true
  }

  async take(fn: string): Promise<QueueMessage | undefined> {
    return this.takeNow(fn)
  }

  /** Synchronous `take`: the queue-worker's dispatch loop avoids a microtask per message. */
  takeNow(fn: string): QueueMessage | undefined {
    if (this.closing) return undefined
    const q = this.queues.get(fn)
    const entry = q?.ready.shift()
    if (!q || !entry) return undefined
    q.inflight++
    return new MemoryMessage(this, fn, q, entry)
  }

  /** A taken message is done: it leaves the queue and its bounds. */
  acked(fn: string, q: FunctionQueue, entry: Entry): void {
    q.inflight--
    this.messages--
    this.bytes -= entry.bytes
    this.forgetIfEmpty(fn, q)
  }

  /** A taken message goes back, at once or after its delay. */
  requeue(fn: string, q: FunctionQueue, entry: Entry, delayMs: number): void {
    q.inflight--
    entry.attempt++
    if (this.closing) return
    if (delayMs <= 0) {
      q.ready.push(entry)
      this.notify(fn)
      return
    }
    q.delayed++
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      q.delayed--
      q.ready.push(entry)
      this.notify(fn)
    }, delayMs)
    this.timers.add(timer)
  }

  onReady(listener: (fn: string) => void): void {
    this.listeners.push(listener)
  }

  functions(): string[] {
    return [...this.queues.keys()]
  }

  stats(fn: string): QueueStats {
    const q = this.queues.get(fn)
    if (!q) return { pending: 0, delayed: 0, inflight: 0 }
    return { pending: q.ready.length + q.delayed, delayed: q.delayed, inflight: q.inflight }
  }

  /** Totals across functions, for `/system/queue` and the readiness check. */
  totals(): { messages: number; bytes: number } {
    return { messages: this.messages, bytes: this.bytes }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const t of this.timers) clearTimeout(t)
      this.timers.clear()
    })()
    return this.closing
  }

  private queue(fn: string): FunctionQueue {
    let q = this.queues.get(fn)
    if (!q) {
      q = { ready: new Deque<Entry>(), delayed: 0, inflight: 0 }
      this.queues.set(fn, q)
    }
    return q
  }

  private forgetIfEmpty(fn: string, q: FunctionQueue): void {
    if (q.ready.length === 0 && q.delayed === 0 && q.inflight === 0 && this.queues.get(fn) === q) this.queues.delete(fn)
  }

  private notify(fn: string): void {
    for (const l of this.listeners) l(fn)
  }
}
