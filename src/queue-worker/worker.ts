/**
 * The queue-worker: takes async calls from the queue backend and runs them through the router.
 *
 * Credit-based dispatch: a message for a function is taken only when one of its ready replicas
 * has a free `max_inflight` slot (or, at 0 ready replicas, one call at a time may wake it up).
 * Waiting for a slot happens in the queue, not in a retry loop, so internal saturation costs
 * neither an attempt nor a 429. Functions have their own credit, so a flood of slow calls to
 * one function never holds back another's.
 */
import { FaasError, type FaasError as FaasErrorType } from '../errors.js'
import type { Deployment } from '../pool/deployment.js'
import type { InvokeResult } from '../pool/replica.js'
import type { Router } from '../router/router.js'
import type { QueueBackend, QueuedCall, QueueMessage } from '../queue/types.js'
import { CallbackSender, CALLBACK_DEFAULTS, type CallbackOptions, type CallbackOutcome } from './callback.js'
import { redactUrl } from '../logs/redact.js'
import type { CallStatusStore } from './call-status.js'
import { CallStore, isTerminal, type CallEntry, type CallRecord, type CallStatus, type DeadLetter } from './calls.js'
import { MemoryDeadLetters, type DeadLetterStore } from './dead-letters.js'
import { effectiveRetry, isRetryable, parseRetryAfter, RETRY_DEFAULTS, retryDelay, type RetrySettings } from './retry.js'

export interface QueueWorkerOptions {
  queue: QueueBackend
  router: Router
  /** Global retry settings; per-function annotations override them. */
  retry?: Partial<RetrySettings>
  callback?: Partial<CallbackOptions>
  /** Calls in flight for a function without `max_inflight`, so a deep backlog is not sent all at once. @default 1000 */
  unboundedInflight?: number
  /** Finished calls whose status stays queryable. @default 10000 */
  recentCalls?: number
  /** Dead letters kept in memory when no `deadLetters` store is given (oldest dropped, and logged, beyond it). @default 10000 */
  maxDeadLetters?: number
  /** Where dead letters are kept. @default in memory, `maxDeadLetters` of them */
  deadLetters?: DeadLetterStore
  /** Where call status is written behind the in-memory cache (JetStream KV). @default none: memory only */
  callStatus?: CallStatusStore
  /** With a shared queue and `callStatus`: forget a `queued` entry unchanged here this long (it ran elsewhere). @default never */
  forgetQueuedAfterMs?: number
  log?: (line: string) => void
  /** Hooks for metrics: a call finished (any outcome), was retried, was dead-lettered. */
  events?: QueueWorkerEvents
  /** Where a callback goes instead of its URL when it meets a fault (`src/faults/`). */
  callbackFault?: (fn: string) => Promise<string> | undefined
}

export interface QueueWorkerEvents {
  processed?(fn: string, status: CallStatus): void
  retried?(fn: string): void
  deadLettered?(fn: string): void
}

export interface FunctionQueueStats {
  name: string
  /** Waiting for a free slot. */
  pending: number
  inflight: number
  /** Waiting for their retry delay. */
  retrying: number
  deadLettered: number
}

export interface QueueWorkerCounters {
  submitted: number
  processed: number
  retries: number
  deadLettered: number
  callbacksFailed: number
}

function header(result: InvokeResult, name: string): string | undefined {
  for (const [k, v] of result.headers) if (k.toLowerCase() === name) return v
  return undefined
}

function closedError(): FaasError {
  return new FaasError('ERR_CLOSED', 'faasdev is shutting down and takes no new async calls\n', { internal: 'gateway', headers: { 'Retry-After': '5' } })
}

function noLetter(id: string): FaasError {
  return new FaasError('ERR_CALL_NOT_FOUND', `no dead letter with call id ${id}\n`, { internal: 'gateway' })
}

/** A platform error as the response the function would have given, marked internal. */
function errorResult(err: unknown): InvokeResult {
  const e: FaasErrorType = err instanceof FaasError ? err : new FaasError('ERR_INTERNAL', `${(err as Error)?.message ?? String(err)}\n`, { internal: 'queue-worker' })
  const headers = Object.entries(e.headers) as [string, string][]
  if (!headers.some(([k]) => k.toLowerCase() === 'x-openfaas-internal')) headers.push(['X-OpenFaaS-Internal', 'queue-worker'])
  return { status: e.statusCode, headers: [['content-type', 'text/plain; charset=utf-8'], ...headers], body: e.emptyBody ? new Uint8Array() : new TextEncoder().encode(e.message) }
}

/**
 * The `Content-Length` a queued call of `length` bytes is delivered with, or none. The one
 * rule: the gateway stores it at submit so a first delivery sends the stored headers as they
 * are (no copy per call), and `deliveryHeaders` checks it on every delivery.
 */
export function deliveredContentLength(method: string, length: number): string | undefined {
  // Go's client sends `Content-Length: 0` for an empty POST, PUT or PATCH only.
  return length > 0 || method === 'POST' || method === 'PUT' || method === 'PATCH' ? String(length) : undefined
}

/**
 * The request headers a queued call is delivered with: its call id, and the `Content-Length`
 * of its bytes, as OpenFaaS's queue-worker (a Go HTTP client) sends one. The caller's framing
 * belonged to the submit hop and was dropped there. Every delivery (the first, retries, a
 * replayed dead letter, a triggered call) comes through here, so each carries a true one.
 */
export function deliveryHeaders(call: QueuedCall, length: number): QueuedCall['headers'] {
  const given = call.headers
  const contentLength = deliveredContentLength(call.method, length)
  if (given['x-call-id'] === call.id && given['content-length'] === contentLength && given['transfer-encoding'] === undefined) return given
  const headers: QueuedCall['headers'] = { ...given, 'x-call-id': call.id }
  delete headers['transfer-encoding']
  if (contentLength === undefined) delete headers['content-length']
  else headers['content-length'] = contentLength
  return headers
}

export class QueueWorker {
  readonly calls: CallStore
  readonly deadLetters: DeadLetterStore
  private readonly statusStore: CallStatusStore | undefined
  readonly retry: RetrySettings
  readonly counters: QueueWorkerCounters = { submitted: 0, processed: 0, retries: 0, deadLettered: 0, callbacksFailed: 0 }
  private readonly queue: QueueBackend
  private readonly router: Router
  private readonly callbacks: CallbackSender
  private readonly unboundedInflight: number
  private readonly log: (line: string) => void
  private readonly events: QueueWorkerEvents
  private readonly callbackFault: QueueWorkerOptions['callbackFault']
  /** Per function: dispatches taken and not finished (including takes still resolving). */
  private readonly running = new Map<string, number>()
  /** Per call: deliveries that did not count as attempts (lost a slot race, deployment replaced). */
  private readonly freeDeliveries = new Map<string, number>()
  /** Per function: takes still resolving (a backend's `take` may be asynchronous). */
  private readonly taking = new Map<string, number>()
  /** Calls taken and not yet settled (their callback included). */
  private executing = 0
  private readonly watched = new WeakSet<Deployment>()
  /** Per function spec (a reload brings a new one): the retry settings with its annotations applied. */
  private readonly settingsCache = new WeakMap<object, RetrySettings>()
  private readonly dirty = new Set<string>()
  private readonly pumping = new Set<string>()
  private scheduled: NodeJS.Immediate | undefined
  private intake = true
  /** Dead letters being replayed by this process: a second replay of one at once answers 404. */
  private readonly replaying = new Set<string>()
  private stopped = false
  private started = false
  private closing: Promise<void> | undefined

  constructor(options: QueueWorkerOptions) {
    this.queue = options.queue
    this.router = options.router
    this.retry = { ...RETRY_DEFAULTS, ...options.retry }
    this.callbacks = new CallbackSender({ ...CALLBACK_DEFAULTS, ...options.callback })
    this.unboundedInflight = options.unboundedInflight ?? 1000
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`))
    this.events = options.events ?? {}
    this.callbackFault = options.callbackFault
    this.calls = new CallStore(options.recentCalls ?? 10_000, options.callStatus ? options.forgetQueuedAfterMs : undefined)
    this.deadLetters =
      options.deadLetters ?? new MemoryDeadLetters(options.maxDeadLetters ?? 10_000, (l) => this.log(`queue-worker: dead letter ${l.call.id} (${l.call.function}) dropped: more than ${options.maxDeadLetters ?? 10_000} kept`))
    this.statusStore = options.callStatus
  }

  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    await this.deadLetters.start()
    await this.statusStore?.start()
    this.queue.onReady((fn) => this.kick(fn))
    // A shared backend (JetStream) may already hold messages from before a restart.
    for (const fn of this.queue.functions()) this.kick(fn)
  }

  /** Accepts an async call: 503 once shutting down, 429 when the queue is full. */
  async submit(call: QueuedCall): Promise<void> {
    await this.submitNow(call)
  }

  /**
   * `submit` for the gateway, which answers thousands a second: the errors are thrown, and a
   * promise comes back only when the backend must be waited for (not the memory queue).
   */
  submitNow(call: QueuedCall): Promise<void> | undefined {
    if (!this.intake) throw closedError()
    const prior = this.calls.entry(call.id)
    const priorStatus = prior?.status
    if (this.queue.submitNow) {
      if (this.queue.submitNow(call)) this.accepted(call, prior, priorStatus)
      return undefined
    }
    return this.queue.submit(call).then((queued) => {
      if (queued) this.accepted(call, prior, priorStatus)
    })
  }

  private accepted(call: QueuedCall, prior: CallEntry | undefined, priorStatus: CallStatus | undefined): void {
    // Not reached for a duplicate (a schedule every instance submits, deduplicated by the stream): that is another instance's call, which keeps its entry.
    this.counters.submitted++
    const entry = this.calls.accepted(call, prior, priorStatus)
    // Only if absent: the instance that took the call may already have written `running`.
    this.track(entry, true)
  }

  /**
   * Puts a dead letter back on the queue with a fresh attempt count. The letter is read, its
   * call submitted, and only then is the letter removed: a step that fails leaves the letter
   * where it was, and the caller gets a coded error. With a shared store (JetStream) any
   * instance can replay any letter; the submit carries `<callId>:<deadLetteredAt>` as its
   * dedupe id, so two instances replaying one letter at once queue it once (the other: 404).
   */
  async replay(id: string): Promise<CallRecord> {
    if (!this.intake) throw closedError()
    if (this.replaying.has(id)) throw noLetter(id)
    this.replaying.add(id)
    try {
      return await this.replayLetter(id)
    } finally {
      this.replaying.delete(id)
    }
  }

  private async replayLetter(id: string): Promise<CallRecord> {
    const letter = await this.deadLetters.get(id)
    if (!letter) throw noLetter(id)
    const call: QueuedCall = { ...letter.call, submittedAt: Date.now(), dedupeId: `${id}:${letter.deadLetteredAt}` }
    const prior = this.calls.entry(id)
    // Before the submit, so that a delivery here before the submit resumes finds it.
    const entry = this.calls.queued(call)
    let queued: boolean
    try {
      queued = await this.queue.submit(call)
    } catch (err) {
      this.calls.restore(entry, prior)
      if (err instanceof FaasError) throw err
      throw new FaasError('ERR_QUEUE_UNAVAILABLE', `dead letter ${id} could not be queued again (${(err as Error)?.message ?? String(err)}); it is kept, retry later\n`, { internal: 'gateway', headers: { 'Retry-After': '5' }, cause: err })
    }
    if (!queued) {
      // Queued already under this letter's dedupe id: another instance replaying it at the same
      // time (which removes it), or an earlier replay whose removal failed (removed now).
      this.calls.restore(entry, prior)
      await this.deadLetters.remove(letter).catch(() => false)
      throw noLetter(id)
    }
    this.counters.submitted++
    // Written once the call is queued, and by the one instance that queued it (a duplicate
    // writes nothing): the `dead-lettered` status stays until then, as the letter does.
    this.track(entry)
    await this.statusStore?.settled(id)
    // The call is queued; a letter that cannot be removed now stays listed, and a replay of it within the dedupe window is refused as a duplicate.
    await this.deadLetters.remove(letter).catch((err: unknown) => this.log(`queue-worker: dead letter ${id} was replayed but could not be removed: ${(err as Error).message}`))
    return entry.toJSON()
  }

  /** A call's status: this instance's record, or the stored one (a restart, another instance) when that is newer. */
  async status(id: string): Promise<CallRecord> {
    const local = this.calls.entry(id)
    if (this.statusStore && !(local && this.statusStore.pending(id))) {
      const stored = await this.statusStore.read(id).catch(() => undefined)
      if (stored && (!local || stored.updatedAt >= local.updatedAt)) {
        const { updatedAt: _, ...record } = stored
        return record
      }
    }
    if (!local) throw new FaasError('ERR_CALL_NOT_FOUND', `no async call with id ${id} (unknown, or finished and forgotten)\n`, { internal: 'gateway' })
    return local.toJSON()
  }

  /** Writes a transition behind the cache, when there is a store to write it to. */
  private track(entry: CallEntry, ifAbsent = false): void {
    if (!this.statusStore) return
    entry.updatedAt = Date.now()
    this.statusStore.write(entry, ifAbsent)
  }

  /** Per function: waiting, in flight, retrying, dead-lettered. */
  stats(): FunctionQueueStats[] {
    const dead = this.deadLetters.counts()
    const names = new Set([...this.router.deployments.keys(), ...this.queue.functions(), ...dead.keys()])
    return [...names].sort().map((name) => {
      const s = this.queue.stats(name)
      return { name, pending: s.pending - s.delayed, inflight: s.inflight, retrying: s.delayed, deadLettered: dead.get(name) ?? 0 }
    })
  }

  /** True when nothing is queued, in flight, or waiting to be called back. */
  isIdle(): boolean {
    if (this.executing > 0) return false
    for (const fn of this.queue.functions()) {
      const s = this.queue.stats(fn)
      if (s.pending > 0 || s.inflight > 0) return false
    }
    return true
  }

  async idle(pollMs = 10): Promise<void> {
    while (!this.isIdle()) await new Promise((r) => setTimeout(r, pollMs))
  }

  /** Stops intake (submit answers 503); the queue keeps being worked. */
  stopIntake(): void {
    this.intake = false
  }

  /**
   * Stops intake and works the queue until it is empty or `graceMs` passes; returns the ids of
   * the calls left unfinished, after which nothing more is taken.
   */
  async drain(graceMs: number): Promise<string[]> {
    this.stopIntake()
    const deadline = Date.now() + graceMs
    while (!this.isIdle() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    this.stopped = true
    const ids = this.calls.unfinished().map((r) => r.callId)
    return this.statusStore ? this.notFinishedElsewhere(ids) : ids
  }

  /**
   * Of the calls this instance accepted and did not finish, those no other instance finished
   * either (a shared JetStream): the others show a final status in the store.
   */
  private async notFinishedElsewhere(ids: string[]): Promise<string[]> {
    const store = this.statusStore as CallStatusStore
    const left: string[] = []
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200)
      const stored = await Promise.all(chunk.map((id) => store.read(id).catch(() => undefined)))
      chunk.forEach((id, j) => {
        const s = stored[j]
        if (s && isTerminal(s.status)) this.calls.update(id, { status: s.status, attempts: s.attempts, ...(s.lastStatus !== undefined ? { lastStatus: s.lastStatus } : {}) })
        else left.push(id)
      })
    }
    return left
  }

  /** Stops taking messages, closes the callback connections and stores what is pending. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.intake = false
      this.stopped = true
      if (this.scheduled) clearImmediate(this.scheduled)
      this.callbacks.close()
      await this.statusStore?.close()
      await this.deadLetters.close()
    })()
    return this.closing
  }

  /** Something may be dispatchable for `fn`: a message arrived, or a slot freed. */
  private kick(fn: string): void {
    if (this.stopped) return
    this.dirty.add(fn)
    // Coalesced to the next turn: a replica that becomes ready first resumes the call held for
    // it (a microtask), so the slots counted here are the ones really left.
    this.scheduled ??= setImmediate(() => {
      this.scheduled = undefined
      const fns = [...this.dirty]
      this.dirty.clear()
      for (const f of fns) void this.pump(f)
    })
  }

  private credit(fn: string): number {
    const running = this.running.get(fn) ?? 0
    const d = this.router.deployments.get(fn)
    // Unknown function (removed by a reload): one call at a time, it fails fast and is retried.
    if (!d) return running === 0 ? 1 : 0
    if (!this.watched.has(d)) {
      this.watched.add(d)
      d.on('slot', () => this.kick(fn))
    }
    if (d.closed) return 0
    const free = d.freeSlots()
    if (free === Infinity) return this.unboundedInflight - running
    if (free > 0) {
      // Taken messages not yet handed to a replica do not show in freeSlots.
      return free - (this.taking.get(fn) ?? 0)
    }
    // Nothing ready (scaled to zero, or replicas starting): one call wakes it up and waits.
    return d.stats().ready === 0 && running === 0 ? 1 : 0
  }

  private async pump(fn: string): Promise<void> {
    if (this.pumping.has(fn)) {
      this.dirty.add(fn)
      return
    }
    this.pumping.add(fn)
    try {
      while (!this.stopped && this.credit(fn) > 0) {
        this.taking.set(fn, (this.taking.get(fn) ?? 0) + 1)
        this.running.set(fn, (this.running.get(fn) ?? 0) + 1)
        let msg: QueueMessage | undefined
        try {
          msg = this.queue.takeNow ? this.queue.takeNow(fn) : await this.queue.take(fn)
        } catch (err) {
          this.log(`queue-worker: taking a message for ${fn} failed: ${(err as Error).message}`)
        } finally {
          this.taking.set(fn, (this.taking.get(fn) ?? 1) - 1)
        }
        if (!msg) {
          this.done(fn)
          break
        }
        void this.execute(fn, msg)
      }
    } finally {
      this.pumping.delete(fn)
      if (this.dirty.has(fn) && !this.scheduled) this.kick(fn)
    }
  }

  private done(fn: string): void {
    const n = (this.running.get(fn) ?? 1) - 1
    if (n <= 0) this.running.delete(fn)
    else this.running.set(fn, n)
  }

  private settings(deployment: Deployment | undefined): RetrySettings {
    if (!deployment?.spec.retry) return this.retry
    let settings = this.settingsCache.get(deployment.spec)
    if (!settings) {
      settings = effectiveRetry(this.retry, deployment.spec.retry)
      this.settingsCache.set(deployment.spec, settings)
    }
    return settings
  }

  /** Runs one delivery to its end; never rejects. */
  private async execute(fn: string, msg: QueueMessage): Promise<void> {
    this.executing++
    try {
      await this.attempt(fn, msg)
    } catch (err) {
      // A backend failing to settle a message (JetStream connection lost) must not crash the
      // process with an unhandled rejection; the message is redelivered by the backend.
      this.log(`queue-worker: ${(err as Error)?.message ?? String(err)}`)
    } finally {
      this.executing--
      this.done(fn)
      // Its dispatch credit is back. A replica's freed slot kicks the pump too, but a call also
      // holds its credit through its callback (and `credit` counts running calls when the
      // function has no max_inflight or no ready replica): without this kick, a backlog behind
      // slow callbacks waited for the next submit.
      this.kick(fn)
    }
  }

  private async attempt(fn: string, msg: QueueMessage): Promise<void> {
    const { call } = msg
    const free = this.freeDeliveries.size > 0 ? (this.freeDeliveries.get(call.id) ?? 0) : 0
    const attempt = msg.attempt - free
    const deployment = this.router.deployments.get(fn)
    const settings = this.settings(deployment)
    const record = this.calls.ensure(call)
    record.status = 'running'
    record.attempts = attempt
    record.maxAttempts = settings.maxAttempts
    record.startedAt ??= Date.now()
    this.track(record)
    const started = performance.now()
    let result: InvokeResult
    try {
      const d = deployment ?? this.router.resolve(fn)
      // A copy per attempt: the replica takes over the bytes it is sent, and a retry needs them again.
      const body = call.body && call.body.byteLength > 0 ? call.body.slice() : null
      const headers = deliveryHeaders(call, body?.byteLength ?? 0)
      result = await this.router.invokeDeployment(d, { method: call.method, path: call.path, headers, body, callId: call.id })
    } catch (err) {
      if (err instanceof FaasError && (err.code === 'ERR_POOL_SATURATED' || err.code === 'ERR_CLOSED') && !this.stopped) {
        // Lost the slot to a sync call, or the deployment was being replaced: not an attempt.
        this.freeDeliveries.set(call.id, free + 1)
        this.calls.update(call.id, { status: 'queued', attempts: attempt - 1 })
        this.track(record)
        await msg.retry(err.code === 'ERR_CLOSED' ? 100 : 0)
        return
      }
      result = errorResult(err)
    }
    const seconds = (performance.now() - started) / 1000
    const retryable = isRetryable(result.status, header(result, 'x-openfaas-internal') !== undefined, settings)
    if (retryable && attempt < settings.maxAttempts && !this.stopped) {
      const delay = retryDelay(attempt, settings, parseRetryAfter(header(result, 'retry-after')))
      this.counters.retries++
      this.events.retried?.(fn)
      this.calls.update(call.id, { status: 'retrying', lastStatus: result.status, nextAttemptAt: Date.now() + delay })
      this.track(record)
      await msg.retry(delay)
      return
    }
    if (retryable && attempt < settings.maxAttempts) {
      // Shutting down past the grace period: leave the call unsettled so it is reported unfinished.
      this.calls.update(call.id, { status: 'retrying', lastStatus: result.status })
      this.track(record)
      return
    }
    const status: CallStatus = retryable ? 'dead-lettered' : result.status < 400 ? 'succeeded' : 'failed'
    if (status === 'dead-lettered') {
      const letter: DeadLetter = { call, attempts: attempt, lastStatus: result.status, lastHeaders: result.headers, lastBody: result.body, deadLetteredAt: Date.now() }
      try {
        await this.deadLetters.add(letter)
      } catch (err) {
        // Not stored (the store is unreachable): the call stays on the queue and comes back, rather than being acknowledged and lost.
        this.log(`queue-worker: ${call.id} (${fn}) could not be dead-lettered, delivered again in 5s: ${(err as Error).message}`)
        this.calls.update(call.id, { status: 'retrying', lastStatus: result.status, nextAttemptAt: Date.now() + 5000 })
        this.track(record)
        await msg.retry(5000)
        return
      }
      this.counters.deadLettered++
      this.events.deadLettered?.(fn)
      this.log(`queue-worker: ${call.id} (${fn}) dead-lettered after ${attempt} attempt(s), last status ${result.status}`)
    }
    if (free > 0) this.freeDeliveries.delete(call.id)
    this.counters.processed++
    this.events.processed?.(fn, status)
    record.status = status
    record.lastStatus = result.status
    record.finishedAt = Date.now()
    record.nextAttemptAt = undefined
    this.calls.settled(record)
    this.track(record)
    // The final status is stored before the callback goes out, so that whoever receives the
    // callback finds it on every instance, and so before the ack: no crash leaves a finished
    // call `running` in the store. Waiting for it here rather than after the callback keeps the
    // time between a callback and its ack (a crash there calls back twice) as short as it can be.
    if (this.statusStore) await this.statusStore.settled(call.id)
    // Callback before ack: a crash in between redelivers the call (at-least-once) instead of
    // losing its callback. The JetStream lease is kept alive while the callback is sent.
    if (call.callbackUrl) {
      await this.callback(call, record, result, seconds, attempt, settings)
      // The callback's outcome goes out at once too, ahead of the ack on the same connection, not waited for.
      this.track(record)
      this.statusStore?.sendNow(call.id)
    }
    await msg.ack()
  }

  /** Not an async function: one per async call, and its frame would be one more object per call. */
  private callback(call: QueuedCall, record: CallEntry, result: InvokeResult, seconds: number, attempt: number, settings: RetrySettings): Promise<void> {
    const url = call.callbackUrl as string
    const sent = { callId: call.id, fn: call.function, status: result.status, seconds, retry: attempt - 1, retryMax: settings.maxAttempts - 1, headers: result.headers }
    // A text body goes as it came: the thread makes its bytes, not this one.
    const body = result.text ?? result.body
    const faulted = this.callbackFault?.(call.function)
    const outcome = faulted ? faulted.then((target) => this.callbacks.send(target, sent, body)) : this.callbacks.send(url, sent, body)
    return outcome.then((o) => this.calledBack(call, record, url, o))
  }

  private calledBack(call: QueuedCall, record: CallEntry, url: string, outcome: CallbackOutcome): void {
    // The error may quote the URL (a DNS or TLS failure names the host with its credentials): redacted for the record and the log alike.
    const error = outcome.error === undefined ? undefined : redactUrl(outcome.error)
    record.callback = error === undefined ? outcome : { ...outcome, error }
    const ok = outcome.status !== undefined && outcome.status < 400
    if (!ok) {
      this.counters.callbacksFailed++
      this.log(`queue-worker: callback for ${call.id} (${call.function}) to ${redactUrl(url)} failed after ${outcome.attempts} attempt(s): ${error ?? `status ${outcome.status}`}`)
    }
  }
}
