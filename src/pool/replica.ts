import { EventEmitter } from 'node:events'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads'
import type { FunctionSpec } from '../config/stack.js'
import { FaasError } from '../errors.js'
import type { CallOutput, FromWorker, InvokeMessage, ReplicaData, ResultsMessage, ToWorker } from './protocol.js'
import { workerResourceLimits } from './resource-limits.js'
import { assignSpare, type SparePool } from './spares.js'
import { readCalls, readResults, type WireCalls, writeCall } from './wire.js'

export type ReplicaState = 'starting' | 'ready' | 'draining' | 'stopped'
export type ExitReason = 'oom' | 'crash' | 'timeout' | 'exit' | 'stopped' | 'start-failed'

export type InvokeRequest = Omit<InvokeMessage, 'id'>

export interface InvokeResult {
  status: number
  headers: [string, string][]
  body: Uint8Array
  /** The body as the handler gave it, when that was text: the gateway sends it without making bytes first. */
  text?: string
}

const encoder = new TextEncoder()

/**
 * A call that is the only one in flight in the whole process, to a replica whose calls take
 * at most LIGHT_CALL_MS on average, is waited for by polling for up to LONE_POLL_MS before
 * the thread sleeps as usual: nothing else is waiting for the main thread, and the wake-up it
 * saves is a large part of a light call's latency. A short window: on a busy or oversubscribed
 * machine a longer poll takes CPU from the replica it waits for (0.25 ms measured worse tails).
 */
const LIGHT_CALL_MS = 0.25
const LONE_POLL_MS = 0.1
/** Loads of the shared count between two reads of the clock while polling (a few µs). */
const POLL_SPINS = 256
/** Calls in flight over all replicas. */
let inflightAll = 0

/**
 * A result whose body came as text: its bytes are made only if something reads `body` (an
 * async call's callback). A class, not an object literal with a getter: V8 defines a literal's
 * accessor at run time and makes the object a dictionary, on every sync call.
 */
class TextResult implements InvokeResult {
  private bytes: Uint8Array | undefined

  constructor(
    readonly status: number,
    readonly headers: [string, string][],
    readonly text: string,
  ) {}

  get body(): Uint8Array {
    this.bytes ??= encoder.encode(this.text)
    return this.bytes
  }
}

export interface ReplicaOptions {
  name: string
  /** The bundled module (handler + replica entry) this replica runs. */
  bundle: string
  spec: FunctionSpec
  /** Called with every line the handler writes to stdout or stderr. */
  onOutput?: (replica: string, stream: 'stdout' | 'stderr', line: string) => void
  /** How long a replica whose call timed out may take to answer a ping before it is replaced. @default 1000 */
  unresponsiveMs?: number
  /** A heap limit for a function without `limits.memory` (an `oom` fault's replica). */
  heapLimitMb?: number
  /** Response size limit in bytes (502 above it). @default no limit */
  maxResponse?: number
  /** Where a warmed-up worker is taken from, when one of the right heap size is ready. */
  spares?: SparePool
}

/** The heap limit of a replica's worker in MiB, or undefined for V8's default. */
export function heapLimitMb(spec: FunctionSpec, override?: number): number | undefined {
  if (spec.memoryLimitBytes) return Math.max(4, Math.ceil(spec.memoryLimitBytes / 1024 ** 2))
  return override
}

interface Pending {
  resolve: (r: InvokeResult) => void
  reject: (e: FaasError) => void
  /** performance.now() when the call was handed to the replica (it times out `execTimeoutMs` later). */
  sentAt: number
}

/**
 * One worker thread running one version of a function. Many calls are in flight at once
 * over the worker's message port; the replica only counts them, the deployment decides
 * who gets a call.
 */
export class Replica extends EventEmitter {
  readonly name: string
  readonly bundle: string
  /** The version of the function this replica runs. */
  readonly spec: FunctionSpec
  readonly startedAt = performance.now()
  state: ReplicaState = 'starting'
  inflight = 0
  /** Calls started on this replica since it started. */
  started = 0
  /** Event-loop utilisation reported by the last pong, 0…1. */
  utilisation = 0
  /**
   * Time a call takes in the replica (its handler, CPU and awaits), in ms, as a moving average
   * (each answer weighs a tenth); Infinity until the first answer, so calls whose weight is
   * unknown are spread. Measured in the replica, not from sending to answer: on a loaded
   * machine the hop's queueing made light calls look heavy (5–10 ms for a trivial handler).
   */
  meanCallMs = Infinity
  readyAt: number | undefined
  readonly ready: Promise<void>

  private readonly worker: Worker
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private pingSeq = 0
  private readonly pings = new Map<number, () => void>()
  private exitReason: ExitReason | undefined
  private exited: Promise<void>
  private closing: Promise<void> | undefined
  private readonly execTimeoutMs: number
  private readonly unresponsiveMs: number
  /** Calls waiting for the end of this event-loop turn to go to the worker together. */
  private outbox: WireCalls = []
  /** How many calls `outbox` holds. */
  private outboxCalls = 0
  private readonly outboxTransfer = new Set<ArrayBuffer>()
  private timeoutTimer: NodeJS.Timeout | undefined
  /** The replica's results arrive here; `answered` counts the worker's sends, `answersSeen` those handled. */
  private readonly answers: MessagePort
  private readonly answered = new Int32Array(new SharedArrayBuffer(4))
  private answersSeen = 0

  constructor(private readonly options: ReplicaOptions) {
    super()
    this.name = options.name
    this.bundle = options.bundle
    const { spec } = options
    this.spec = spec
    this.execTimeoutMs = spec.watchdog.execTimeoutMs
    this.unresponsiveMs = options.unresponsiveMs ?? 1000
    const channel = new MessageChannel()
    this.answers = channel.port1
    const workerData: ReplicaData = {
      functionName: spec.name,
      replicaName: options.name,
      style: spec.style,
      lang: spec.lang,
      secrets: spec.secrets,
      ...(options.maxResponse ? { maxResponse: options.maxResponse } : {}),
      answers: channel.port2,
      answered: this.answered.buffer as SharedArrayBuffer,
    }
    const env: Record<string, string> = {}
    for (const [k, v] of Object.entries({ ...process.env, ...spec.environment, OPENFAAS_NAME: spec.name, OPENFAAS_NAMESPACE: 'openfaas-fn' })) if (v !== undefined) env[k] = v
    const url = pathToFileURL(options.bundle).href
    const heapMb = heapLimitMb(spec, options.heapLimitMb)
    const spare = options.spares?.take(heapMb ?? 0)
    if (spare) {
      this.worker = spare
      assignSpare(spare, { data: workerData, env, url })
    } else {
      // Source maps must be on before the bundle is parsed, so a two-line bootstrap loads it.
      const bootstrap = `process.setSourceMapsEnabled(true); import(${JSON.stringify(url)}).catch((err) => { throw err })`
      this.worker = new Worker(bootstrap, {
        eval: true,
        workerData,
        transferList: [channel.port2],
        env,
        stdout: true,
        stderr: true,
        name: options.name,
        resourceLimits: workerResourceLimits(heapMb),
      })
    }
    this.pipe('stdout')
    this.pipe('stderr')

    let markReady: () => void = () => undefined
    let failStart: (e: Error) => void = () => undefined
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve
      failStart = reject
    })
    // A start failure is reported through `ready`; nobody may be listening yet.
    this.ready.catch(() => undefined)

    let lastError: Error | undefined
    this.answers.on('message', this.answer)
    // The worker keeps the process alive while it runs; its result port need not.
    this.answers.unref()
    this.worker.on('message', (msg: FromWorker) => {
      switch (msg.t) {
        case 'pong':
          this.utilisation = msg.elu
          this.pings.get(msg.seq)?.()
          this.pings.delete(msg.seq)
          break
        case 'ready':
          if (this.state === 'starting') this.state = 'ready'
          this.readyAt = performance.now()
          markReady()
          this.emit('ready', this)
          break
      }
    })
    this.worker.on('error', (err) => {
      lastError = err
    })
    this.exited = new Promise<void>((resolve) => {
      this.worker.once('exit', (code) => {
        // Stopped first, so that no call is sent here while the results below free its slots.
        this.state = 'stopped'
        // Results sent before the worker stopped still count (its own port is drained by Node; this one is not).
        this.takeAnswers()
        this.answers.close()
        const wasStarting = this.readyAt === undefined
        const reason: ExitReason =
          this.exitReason ??
          (wasStarting ? 'start-failed' : (lastError as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'oom' : lastError ? 'crash' : 'exit')
        this.exitReason = reason
        if (this.timeoutTimer) clearTimeout(this.timeoutTimer)
        this.timeoutTimer = undefined
        const detail = lastError ? `: ${lastError.message}` : code ? ` with code ${code}` : ''
        const message = reason === 'start-failed' ? `replica ${this.name} failed to start${detail}` : `replica ${this.name} stopped (${reason})${detail}`
        failStart(new FaasError('ERR_REPLICA_START_FAILED', message, { internal: 'of-watchdog', cause: lastError }))
        for (const [id, p] of this.pending) {
          this.settle(id)
          p.reject(new FaasError('ERR_REPLICA_CRASHED', `${message}\n`, { internal: 'of-watchdog' }))
        }
        for (const done of this.pings.values()) done()
        this.pings.clear()
        this.emit('exit', { reason, error: lastError, message })
        resolve()
      })
    })
  }

  get accepting(): boolean {
    return this.state === 'ready'
  }

  /** Calls waiting for the end of this event-loop turn to be sent together. */
  get waiting(): number {
    return this.outboxCalls
  }

  /** Sends one call; rejects with a coded error on timeout or crash. */
  invoke(request: InvokeRequest): Promise<InvokeResult> {
    if (this.state === 'stopped') return Promise.reject(new FaasError('ERR_REPLICA_CRASHED', `replica ${this.name} is stopped\n`, { internal: 'of-watchdog' }))
    const id = this.nextId++
    this.inflight++
    inflightAll++
    this.started++
    return new Promise<InvokeResult>((resolve, reject) => {
      const pending: Pending = { resolve, reject, sentAt: performance.now() }
      this.pending.set(id, pending)
      if (this.execTimeoutMs > 0) this.timeoutTimer ??= setTimeout(this.sweep, this.execTimeoutMs)
      if (request.body && request.body.byteLength > 0) this.outboxTransfer.add(request.body.buffer as ArrayBuffer)
      // Under load many calls arrive in one turn of the event loop; each postMessage would
      // wake the worker (a syscall and a context switch on a busy machine), so they go together.
      writeCall(this.outbox, id, request)
      if (++this.outboxCalls === 1) setImmediate(this.flush)
    })
  }

  private readonly flush = (): void => {
    const calls = this.outbox
    const count = this.outboxCalls
    // The set is kept from flush to flush (most calls have no body to hand over).
    const transfer = this.outboxTransfer.size > 0 ? [...this.outboxTransfer] : undefined
    this.outbox = []
    this.outboxCalls = 0
    this.outboxTransfer.clear()
    // A replica that stopped meanwhile has already failed these calls with 502.
    if (this.state === 'stopped' || count === 0) return
    const message: ToWorker = { t: 'calls', calls }
    try {
      this.worker.postMessage(message, transfer)
    } catch (err) {
      // A body that cannot be sent (a buffer already transferred elsewhere) fails its calls,
      // never the process: this runs from setImmediate, where a throw is uncaught.
      readCalls(calls, ({ id }) => {
        const p = this.pending.get(id)
        if (!p) return
        this.settle(id)
        p.reject(new FaasError('ERR_INTERNAL', `could not hand the call to replica ${this.name}: ${(err as Error).message}\n`, { internal: 'of-watchdog' }))
      })
    }
    if (inflightAll === 1 && this.meanCallMs <= LIGHT_CALL_MS) this.pollLone()
  }

  private readonly answer = (msg: ResultsMessage): void => {
    this.answersSeen++
    readResults(msg.results, this.result)
  }

  /**
   * Waits for the lone call's result by polling the worker's count of results sent, for at most
   * LONE_POLL_MS. The clock is read once every POLL_SPINS loads, not on each: `performance.now()`
   * allocates (an hrtime pair and a number), and read on every spin it made half of the main
   * thread's garbage per sync call, so a scavenge every few dozen calls at one connection.
   */
  private pollLone(): void {
    const until = performance.now() + LONE_POLL_MS
    const answered = this.answered
    const seen = this.answersSeen
    for (let spins = 1; Atomics.load(answered, 0) === seen; spins++) if (spins % POLL_SPINS === 0 && performance.now() >= until) return
    this.takeAnswers()
  }

  /** Handles, now, the results already on the result port. */
  private takeAnswers(): void {
    for (let m = receiveMessageOnPort(this.answers); m; m = receiveMessageOnPort(this.answers)) this.answer(m.message as ResultsMessage)
  }

  private readonly result = (id: number, ms: number, msg: CallOutput): void => {
    const p = this.pending.get(id)
    if (!p) return
    this.settle(id)
    this.meanCallMs = this.meanCallMs === Infinity ? ms : this.meanCallMs + (ms - this.meanCallMs) * 0.1
    if (msg.tooLarge) p.reject(new FaasError('ERR_RESPONSE_TOO_LARGE', `the response of ${this.options.spec.name} is larger than the limit of ${this.options.maxResponse} bytes (--max-response)\n`, { internal: 'of-watchdog' }))
    else p.resolve(typeof msg.body === 'string' ? new TextResult(msg.status, msg.headers, msg.body) : { status: msg.status, headers: msg.headers, body: msg.body })
  }

  private settle(id: number): void {
    this.pending.delete(id)
    this.inflight--
    inflightAll--
    this.emit('idle-slot', this)
  }

  /**
   * Times out the calls past their deadline. One timer per replica, not one per call: every
   * call has the same limit, so the oldest pending call (the first in the map) is due first.
   */
  private readonly sweep = (): void => {
    this.timeoutTimer = undefined
    const now = performance.now()
    const due: number[] = []
    let next: number | undefined
    for (const [id, p] of this.pending) {
      const deadline = p.sentAt + this.execTimeoutMs
      if (deadline > now) {
        next = deadline
        break
      }
      due.push(id)
    }
    for (const id of due) this.timeout(id)
    if (next !== undefined && this.state !== 'stopped') this.timeoutTimer = setTimeout(this.sweep, Math.max(1, next - now))
  }

  private timeout(id: number): void {
    const p = this.pending.get(id)
    if (!p) return
    this.settle(id)
    p.reject(new FaasError('ERR_INVOKE_TIMEOUT', '', { internal: 'of-watchdog', emptyBody: true }))
    this.post({ t: 'abort', id })
    // A handler that ignores its AbortSignal is fine; one that blocks the event loop is not.
    void this.ping(this.unresponsiveMs).then((answered) => {
      if (!answered && this.state !== 'stopped') void this.kill('timeout')
    })
  }

  /** Resolves true when the replica's event loop answers within `withinMs`. */
  ping(withinMs: number): Promise<boolean> {
    if (this.state === 'stopped') return Promise.resolve(false)
    const seq = ++this.pingSeq
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.pings.delete(seq)
        resolve(false)
      }, withinMs)
      this.pings.set(seq, () => {
        clearTimeout(timer)
        resolve(this.state !== 'stopped')
      })
      this.post({ t: 'ping', seq })
    })
  }

  private post(message: ToWorker): void {
    if (this.state !== 'stopped') this.worker.postMessage(message)
  }

  /** Stops at once; calls in flight get 502. */
  kill(reason: ExitReason): Promise<void> {
    if (this.state !== 'stopped') {
      this.exitReason ??= reason
      void this.worker.terminate()
    }
    return this.exited
  }

  /** Takes no new calls, waits for those in flight (at most `timeoutMs`), then stops. Idempotent. */
  close(timeoutMs: number): Promise<void> {
    this.closing ??= (async () => {
      if (this.state === 'stopped') return
      this.state = 'draining'
      if (this.inflight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs)
          const check = (): void => {
            if (this.inflight > 0 && this.state !== 'stopped') return
            clearTimeout(timer)
            this.off('idle-slot', check)
            this.off('exit', check)
            resolve()
          }
          this.on('idle-slot', check)
          this.on('exit', check)
        })
      }
      await this.kill('stopped')
    })()
    return this.closing
  }

  private pipe(stream: 'stdout' | 'stderr'): void {
    const source = this.worker[stream]
    const lines = createInterface({ input: source, crlfDelay: Infinity })
    lines.on('line', (line) => {
      if (this.options.onOutput) this.options.onOutput(this.name, stream, line)
      else (stream === 'stdout' ? process.stdout : process.stderr).write(`${this.name} | ${line}\n`)
    })
  }
}
