/**
 * The JetStream queue backend: accepted calls survive a crash of faasdev, and several
 * faasdev instances pointed at one NATS server (or cluster) share the work.
 *
 * Layout, after OpenFaaS Pro's "function mode": one stream `OF_<queue>` (work-queue
 * retention, file storage, discard-new limits so a full stream answers 429 at submit), one
 * subject per function (`<queue>.NAME`), and one durable pull consumer per function, created
 * on demand and deleted by the server after `inactiveThresholdMs` without pulls. Explicit
 * ack, `max_deliver: -1`: the queue-worker owns retries, done with `nak(delay)`, so the
 * attempt count is JetStream's delivery count. Delivery is at-least-once: a message that
 * was delivered but not acknowledged (crash, lost lease) comes back with its count raised.
 *
 * Messages held here (buffered or taken) get `working()` every third of the ack wait, so a
 * call running longer than the ack wait is never redelivered while it runs.
 */
import { readFileSync } from 'node:fs'
import { AckPolicy, DeliverPolicy, DiscardPolicy, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { connect, credsAuthenticator, type Msg, type NatsConnection } from '@nats-io/transport-node'
import { FaasError } from '../errors.js'
import { redactUrl } from '../logs/redact.js'
import { CALL_HEADER, decodeCall, deliveryCount, encodeCall, fnToken, tokenFn } from './jetstream-codec.js'
import { Outbox } from './jetstream-outbox.js'
import { Puller } from './jetstream-puller.js'
import { reconcileStream } from './jetstream-streams.js'
import { NatsServer } from './nats-server.js'
import type { QueueBackend, QueuedCall, QueueMessage, QueueStats } from './types.js'

export interface JetStreamQueueOptions {
  /** `nats://[user:pass@]host:4222[,nats://…]`; when absent a `nats-server` child is started and owned. */
  url?: string
  /** A NATS `.creds` file (JWT + nkey seed) for the external server. */
  credsFile?: string
  /** Where the owned server keeps its store (`DATA_DIR/nats/`). Required without `url`. */
  dataDir?: string
  /** Largest request body that must fit in one message. @default 10 MiB */
  maxBody?: number
  /** Queue name: stream `OF_<name>`, subjects `<name>.FUNCTION`. @default 'faas-request' */
  queueName?: string
  /** Stream limit on messages not yet acknowledged (all functions). @default 100000 */
  maxMessages?: number
  /** Stream limit on their bytes. @default 1 GiB */
  maxBytes?: number
  /** How long a delivered message may go without ack or `working()` before it is redelivered. @default 30000 */
  ackWaitMs?: number
  /** The server deletes a function's consumer after this long without pulls. @default 300000 */
  inactiveThresholdMs?: number
  /** Messages each function's pull loop keeps ready per instance. @default 8 */
  prefetch?: number
  /** How often the per-function counts are read back from the server. @default 500 */
  refreshMs?: number
  /** faasdev's log (the owned server's output goes here, prefixed `nats |`). */
  log?: (line: string) => void
  env?: NodeJS.ProcessEnv
}

export const JETSTREAM_DEFAULTS = {
  queueName: 'faas-request',
  maxMessages: 100_000,
  maxBytes: 1024 * 1024 * 1024,
  ackWaitMs: 30_000,
  inactiveThresholdMs: 300_000,
  prefetch: 8,
  refreshMs: 500,
  maxBody: 10 * 1024 * 1024,
} as const

/** Room for the `Faasdev-Call` header and NATS framing on top of the body. */
const HEADER_ROOM = 64 * 1024

/** How long a submit waits for JetStream's acknowledgement (the JetStream client's default). */
const PUBLISH_TIMEOUT_MS = 5_000

interface FunctionState {
  puller?: Puller
  starting?: Promise<void>
  /** Messages in the stream for this function (server count, adjusted by our own submits and acks). */
  count: number
  inflight: Set<Msg>
  delayed: number
  /** Bumped by local events so a server count read before them is not applied over them. */
  epoch: number
}

export class JetStreamQueue implements QueueBackend {
  readonly kind = 'jetstream' as const
  readonly stream: string
  readonly subjectPrefix: string
  private readonly o: Required<Omit<JetStreamQueueOptions, 'url' | 'credsFile' | 'dataDir' | 'env'>> & Pick<JetStreamQueueOptions, 'url' | 'credsFile' | 'dataDir' | 'env'>
  private server: NatsServer | undefined
  private nc: NatsConnection | undefined
  private outbox: Outbox | undefined
  private jsm: JetStreamManager | undefined
  private js: JetStreamClient | undefined
  private readonly fns = new Map<string, FunctionState>()
  private readonly listeners: ((fn: string) => void)[] = []
  private readonly timers = new Set<NodeJS.Timeout>()
  private leaseTimer: NodeJS.Timeout | undefined
  private refreshTimer: NodeJS.Timeout | undefined
  private refreshing = false
  private lastSweep = 0
  private startPromise: Promise<void> | undefined
  private closing: Promise<void> | undefined

  constructor(options: JetStreamQueueOptions = {}) {
    this.o = {
      ...JETSTREAM_DEFAULTS,
      log: (line) => process.stderr.write(`${line}\n`),
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    }
    this.stream = `OF_${this.o.queueName}`
    this.subjectPrefix = this.o.queueName
  }

  /** The server URL in use (the owned server's after `start()`). */
  get url(): string | undefined {
    return this.server ? this.server.url : this.o.url
  }

  /** The NATS connection (after `start()`), shared with the NATS topic subscriptions. */
  get connection(): NatsConnection | undefined {
    return this.nc
  }

  /** How long a delivered message may go without ack before it is redelivered. */
  get ackWaitMs(): number {
    return this.o.ackWaitMs
  }

  /** The owned nats-server child, if any. */
  get ownedServer(): NatsServer | undefined {
    return this.server
  }

  start(): Promise<void> {
    this.startPromise ??= this.doStart()
    return this.startPromise
  }

  private async doStart(): Promise<void> {
    let url = this.o.url
    if (!url) {
      if (!this.o.dataDir) throw new FaasError('ERR_CONFIG', 'JetStreamQueue: dataDir is required when no url is given')
      this.server = new NatsServer({
        dataDir: this.o.dataDir,
        maxPayload: this.o.maxBody + HEADER_ROOM,
        log: (line) => this.o.log(`nats | ${line}`),
        ...(this.o.env ? { env: this.o.env } : {}),
      })
      await this.server.start()
      url = this.server.url
    }
    try {
      this.nc = await connect({
        servers: url.split(','),
        name: `faasdev-${process.pid}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        // Otherwise every request builds an Error for its stack trace in case it fails. The
        // per-call ones (submits, final statuses) go through the outbox; the rest (status
        // reads, dead letters, stream info) are fewer but were the same cost each.
        noAsyncTraces: true,
        ...(this.o.credsFile ? { authenticator: credsAuthenticator(readFileSync(this.o.credsFile)) } : {}),
      })
    } catch (err) {
      await this.server?.close()
      throw new FaasError('ERR_QUEUE_UNAVAILABLE', `cannot connect to NATS at ${redactUrl(url)}: ${(err as Error).message}`, { cause: err })
    }
    const maxPayload = this.nc.info?.max_payload ?? 0
    if (maxPayload < this.o.maxBody + HEADER_ROOM) {
      await this.nc.close()
      await this.server?.close()
      throw new FaasError(
        'ERR_QUEUE_UNAVAILABLE',
        `the NATS server at ${redactUrl(url)} accepts messages up to ${maxPayload} bytes (max_payload), but --max-body ${this.o.maxBody} needs ${this.o.maxBody + HEADER_ROOM}: ` +
          `raise max_payload in the server's configuration or lower --max-body`,
      )
    }
    try {
      this.jsm = await jetstreamManager(this.nc)
      this.js = this.jsm.jetstream()
      await this.ensureStream()
    } catch (err) {
      await this.nc.close()
      await this.server?.close()
      if (err instanceof FaasError) throw err
      throw new FaasError('ERR_QUEUE_UNAVAILABLE', `JetStream at ${redactUrl(url)}: ${(err as Error).message}`, { cause: err })
    }
    this.outbox = new Outbox(this.nc)
    this.outbox.start()
    await this.refresh()
    this.refreshTimer = setInterval(() => void this.refresh(), this.o.refreshMs)
    this.leaseTimer = setInterval(() => this.keepLeases(), Math.max(100, Math.floor(this.o.ackWaitMs / 3)))
  }

  private async ensureStream(): Promise<void> {
    await reconcileStream(
      this.jsm as JetStreamManager,
      {
        name: this.stream,
        subjects: [`${this.subjectPrefix}.*`],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        max_msgs_per_subject: -1,
        max_msgs: this.o.maxMessages,
        max_bytes: this.o.maxBytes,
        discard: DiscardPolicy.New,
      },
      'the async work queue',
      this.o.log,
    )
  }

  /** The connection, its outbox and JetStream handles, for the dead-letter and call-status stores that share them (after `start()`). */
  get client(): { nc: NatsConnection; outbox: Outbox; jsm: JetStreamManager; js: JetStreamClient } {
    if (!this.nc || !this.outbox || !this.jsm || !this.js) throw new FaasError('ERR_QUEUE_UNAVAILABLE', 'JetStreamQueue: not started (start() first)')
    return { nc: this.nc, outbox: this.outbox, jsm: this.jsm, js: this.js }
  }

  /** Creates the function's durable consumer, or brings an existing one to our ack wait. */
  private async ensureConsumer(fn: string): Promise<string> {
    const jsm = this.jsm as JetStreamManager
    const name = `faas-workers-${fnToken(fn)}`
    const settings = { ack_wait: this.o.ackWaitMs * 1e6, inactive_threshold: this.o.inactiveThresholdMs * 1e6, max_ack_pending: -1 }
    try {
      await jsm.consumers.add(this.stream, {
        durable_name: name,
        filter_subject: `${this.subjectPrefix}.${fnToken(fn)}`,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        max_deliver: -1,
        ...settings,
      })
    } catch {
      // Exists with other settings (another instance, an older run): align what may change.
      await jsm.consumers.update(this.stream, name, settings)
    }
    return name
  }

  private state(fn: string): FunctionState {
    let s = this.fns.get(fn)
    if (!s) {
      s = { count: 0, inflight: new Set(), delayed: 0, epoch: 0 }
      this.fns.set(fn, s)
    }
    return s
  }

  async submit(call: QueuedCall): Promise<boolean> {
    if (this.closing) throw new FaasError('ERR_CLOSED', 'the queue is shutting down and takes no new calls\n', { internal: 'gateway', headers: { 'Retry-After': '5' } })
    await this.start()
    const { data, headers } = encodeCall(call)
    // JetStream drops a second message with the same id within its duplicate window.
    if (call.dedupeId) headers.set('Nats-Msg-Id', call.dedupeId)
    try {
      const answer = await new Promise<Msg>((resolve, reject) =>
        (this.outbox as Outbox).request(`${this.subjectPrefix}.${fnToken(call.function)}`, data, headers, PUBLISH_TIMEOUT_MS, (msg, problem) => (msg ? resolve(msg) : reject(new Error(problem)))),
      )
      // Another instance queued this one already: nothing new to count.
      if (pubAck(answer).duplicate) return false
    } catch (err) {
      throw toSubmitError(err, this.o)
    }
    const s = this.state(call.function)
    s.count++
    s.epoch++
    this.notify(call.function)
    return true
  }

  async take(fn: string): Promise<QueueMessage | undefined> {
    if (this.closing || !this.nc) return undefined
    const s = this.state(fn)
    if (!s.puller) {
      s.starting ??= this.startPuller(fn, s).finally(() => (s.starting = undefined))
      return undefined
    }
    for (;;) {
      const msg = s.puller.shift()
      if (!msg) return undefined
      let call: QueuedCall
      try {
        call = decodeCall(msg, fn)
      } catch (err) {
        // Not a faasdev call (something else published on our subject): dropped for good.
        // Anything else unreadable is left for a later delivery rather than lost.
        const foreign = !msg.headers?.has(CALL_HEADER)
        this.o.log(`jetstream: ${foreign ? 'dropping' : 'returning'} an unreadable message for ${fn}: ${(err as Error).message}`)
        if (msg.reply) this.outbox?.publish(msg.reply, foreign ? '+TERM' : `-NAK ${JSON.stringify({ delay: 5e9 })}`)
        continue
      }
      return this.wrap(fn, s, msg, call)
    }
  }

  private async startPuller(fn: string, s: FunctionState): Promise<void> {
    try {
      const consumer = await this.ensureConsumer(fn)
      if (this.closing) return
      s.puller = new Puller({
        nc: this.nc as NatsConnection,
        outbox: this.outbox as Outbox,
        stream: this.stream,
        consumer,
        window: this.o.prefetch,
        onMessage: () => this.notify(fn),
        onTrouble: (code, description) => {
          // 409 "Consumer Deleted" after inactivity: create it again (the next pull uses it).
          this.o.log(`jetstream: pull for ${fn} ended with ${code} ${description}`)
          if (code === 503 || /deleted|not found/i.test(description)) void this.ensureConsumer(fn).catch(() => undefined)
        },
      })
      s.puller.start()
    } catch (err) {
      this.o.log(`jetstream: cannot create the consumer for ${fn}: ${(err as Error).message}`)
      const t = setTimeout(() => {
        this.timers.delete(t)
        this.notify(fn)
      }, 1000)
      this.timers.add(t)
    }
  }

  private wrap(fn: string, s: FunctionState, msg: Msg, call: QueuedCall): QueueMessage {
    const outbox = this.outbox as Outbox
    s.inflight.add(msg)
    const reply = msg.reply as string
    let settled = false
    const settle = (): boolean => {
      if (settled) return false
      settled = true
      s.inflight.delete(msg)
      s.epoch++
      return true
    }
    return {
      call,
      attempt: deliveryCount(reply),
      ack: async () => {
        if (!settle()) return
        outbox.publish(reply, '+ACK')
        s.count = Math.max(0, s.count - 1)
      },
      retry: async (delayMs: number) => {
        if (!settle()) return
        const delay = Math.max(0, Math.round(delayMs))
        outbox.publish(reply, delay > 0 ? `-NAK ${JSON.stringify({ delay: delay * 1e6 })}` : '-NAK')
        if (delay <= 0) return
        s.delayed++
        const t = setTimeout(() => {
          this.timers.delete(t)
          s.delayed = Math.max(0, s.delayed - 1)
          this.notify(fn)
        }, delay)
        this.timers.add(t)
      },
      working: () => {
        if (!settled) outbox.publish(reply, '+WPI')
      },
    }
  }

  /** Extends the lease of everything held here: taken (running) and buffered messages. */
  private keepLeases(): void {
    const outbox = this.outbox
    if (!outbox || this.nc?.isClosed() !== false) return
    for (const s of this.fns.values()) {
      for (const m of s.inflight) if (m.reply) outbox.publish(m.reply, '+WPI')
      for (const m of s.puller?.buffer ?? []) if (m.reply) outbox.publish(m.reply, '+WPI')
    }
  }

  /** Reads per-function message counts from the stream, and announces functions with work we did not know of. */
  private async refresh(): Promise<void> {
    if (this.refreshing || !this.jsm || this.closing) return
    this.refreshing = true
    try {
      const epochs = new Map([...this.fns].map(([fn, s]) => [fn, s.epoch]))
      const info = await this.jsm.streams.info(this.stream, { subjects_filter: `${this.subjectPrefix}.*` })
      const counts = info.state.subjects ?? {}
      const seen = new Set<string>()
      for (const [subject, n] of Object.entries(counts)) {
        const fn = tokenFn(subject.slice(this.subjectPrefix.length + 1))
        seen.add(fn)
        const s = this.state(fn)
        if (epochs.get(fn) !== undefined && epochs.get(fn) !== s.epoch) continue
        const fresh = !s.puller && s.count === 0
        s.count = n
        if (fresh && n > 0) this.notify(fn)
      }
      for (const [fn, s] of this.fns) {
        if (!seen.has(fn) && epochs.get(fn) === s.epoch) s.count = 0
      }
      if (Date.now() - this.lastSweep > 5000) {
        this.lastSweep = Date.now()
        for (const [fn, s] of this.fns) if (s.count > 0 && s.puller && s.inflight.size === 0 && s.delayed === 0 && s.puller.buffer.length === 0) await this.sweep(fn)
      }
    } catch {
      // Disconnected: keep the last counts.
    } finally {
      this.refreshing = false
    }
  }

  /**
   * nats-server 2.9 can keep work-queue messages its consumer already counts as acknowledged
   * when it is stopped right after the acks (as after a kill -9 of faasdev, when the next
   * start stops the orphaned server): they are never delivered again, but they fill the
   * stream and its counts. When the consumer has nothing undelivered and nothing pending, every
   * message up to its last delivered sequence is such a leftover, and is purged.
   */
  private async sweep(fn: string): Promise<void> {
    const jsm = this.jsm as JetStreamManager
    try {
      const ci = await jsm.consumers.info(this.stream, `faas-workers-${fnToken(fn)}`)
      if (ci.num_pending !== 0 || ci.num_ack_pending !== 0) return
      const r = await jsm.streams.purge(this.stream, { filter: `${this.subjectPrefix}.${fnToken(fn)}`, seq: ci.delivered.stream_seq + 1 })
      if (r.purged > 0) this.o.log(`jetstream: removed ${r.purged} message(s) of ${fn} the server kept after they were acknowledged`)
    } catch {
      // Next time.
    }
  }

  onReady(listener: (fn: string) => void): void {
    this.listeners.push(listener)
  }

  functions(): string[] {
    return [...this.fns].filter(([, s]) => s.count > 0 || s.inflight.size > 0 || s.delayed > 0 || (s.puller?.buffer.length ?? 0) > 0).map(([fn]) => fn)
  }

  /**
   * Counts from this instance's view: `pending` is every message of the function in the
   * stream that this instance is not running, so other instances' in-flight calls count as
   * pending here; `delayed` and `inflight` are this instance's.
   */
  stats(fn: string): QueueStats {
    const s = this.fns.get(fn)
    if (!s) return { pending: 0, delayed: 0, inflight: 0 }
    return { pending: Math.max(s.count - s.inflight.size, s.delayed + (s.puller?.buffer.length ?? 0)), delayed: s.delayed, inflight: s.inflight.size }
  }

  /** Stops pulling, hands back buffered and unsettled messages, flushes acks, closes the connection, then stops the owned server. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose()
    return this.closing
  }

  private async doClose(): Promise<void> {
    if (this.startPromise) await this.startPromise.catch(() => undefined)
    clearInterval(this.refreshTimer)
    clearInterval(this.leaseTimer)
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    const nc = this.nc
    for (const s of this.fns.values()) {
      await s.starting
      const back = [...(s.puller?.stop() ?? []), ...s.inflight]
      s.inflight.clear()
      // Given back at once so another instance (or the next start) gets them without waiting for the ack wait.
      if (nc && !nc.isClosed()) for (const m of back) if (m.reply) this.outbox?.publish(m.reply, '-NAK')
    }
    // Handed to the connection now, so that the drain below sends them.
    this.outbox?.flush()
    if (nc && !nc.isClosed()) {
      // drain() flushes the acks above; bounded, since a lost server never answers it.
      const drained = await Promise.race([nc.drain().then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), 5000).unref())])
      if (!drained) await nc.close().catch(() => undefined)
    }
    this.outbox?.close()
    await this.server?.close()
  }

  private notify(fn: string): void {
    for (const l of this.listeners) l(fn)
  }
}

/** A JetStream publish's answer: `{"stream":…,"seq":…,"duplicate"?:true}`, or why the message was not stored (thrown). */
function pubAck(msg: Msg): { duplicate: boolean } {
  // 503: no stream takes the subject (deleted under us), or JetStream is not enabled.
  if (msg.headers?.hasError) throw new Error(msg.headers.code === 503 ? 'no JetStream stream takes the subject (503 no responders)' : `${msg.headers.code} ${msg.headers.description}`)
  const answer = JSON.parse(msg.string()) as { stream?: string; duplicate?: boolean; error?: { description?: string } }
  if (answer.error) throw new Error(answer.error.description ?? 'JetStream refused the message')
  if (!answer.stream) throw new Error('invalid ack response')
  return { duplicate: answer.duplicate === true }
}

function toSubmitError(err: unknown, o: { maxMessages: number; maxBytes: number; maxBody: number }): FaasError {
  const message = (err as Error).message ?? String(err)
  if (/maximum (messages|bytes) exceeded|resource limits exceeded|insufficient resources/i.test(message)) {
    const which = /bytes/i.test(message) ? `${o.maxBytes} bytes (--queue-max-bytes)` : `${o.maxMessages} messages (--queue-max-messages)`
    return new FaasError('ERR_QUEUE_FULL', `the async queue is full: its limit is ${which}; retry later\n`, { internal: 'gateway', headers: { 'Retry-After': '1' }, cause: err })
  }
  if (/max(imum)?[ _]payload/i.test(message)) {
    return new FaasError('ERR_BODY_TOO_LARGE', `the request is larger than the NATS server accepts\n`, { cause: err })
  }
  return new FaasError('ERR_QUEUE_UNAVAILABLE', `the async queue is unavailable (NATS: ${message}); retry later\n`, { internal: 'gateway', headers: { 'Retry-After': '5' }, cause: err })
}
