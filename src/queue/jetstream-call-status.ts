/**
 * Call status in a JetStream KV bucket, `OF_<queue>_calls` (stream `KV_OF_<queue>_calls`):
 * one key per call id, history 1, entries older than the TTL removed by the server, the
 * bucket bounded in bytes with the oldest entries dropped (a status is never refused).
 *
 * Written behind the queue-worker's in-memory cache: a transition marks the call dirty and
 * returns; dirty calls are written together every `flushMs`, each as its state at that
 * moment, so a call that is queued, run and finished within one interval costs one write.
 * The submit path never waits for it. A finished call's status is written (and awaited)
 * before its message is acknowledged, so no crash leaves a finished call `running` here.
 *
 * The writes are plain publishes on the bucket's subjects (`$KV.<bucket>.<key>`), which the
 * server stores as the KV client's `put` would. A transition on the way (queued, running,
 * retrying, a callback's outcome) goes without a reply: the server stores it and answers
 * nothing. A write that must be stored before something else happens (a final status, before
 * the message's ack) carries a reply subject on one subscription of ours, and is settled by
 * the server's answer. Not the client's `request`: it makes an error object (a stack trace)
 * and a timer for every write, which cost the queue-worker's thread about a fifth of its time
 * at a few thousand calls a second.
 */
import { DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import { createInbox, headers, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node'
import type { CallStatusStore, StoredCallRecord } from '../queue-worker/call-status.js'
import type { CallEntry } from '../queue-worker/calls.js'
import type { JetStreamQueue } from './jetstream.js'
import { idToken, reconcileStream } from './jetstream-streams.js'

export interface JetStreamCallStatusOptions {
  /** The started queue whose connection and name are used: bucket `OF_<name>_calls`. */
  queue: JetStreamQueue
  /** How long a call's status is kept after its last transition. @default 24 h */
  ttlMs?: number
  /** The bucket's bytes; beyond them the oldest statuses go first. @default 256 MiB */
  maxBytes?: number
  /** How long transitions are gathered before they are written. @default 50 */
  flushMs?: number
  log?: (line: string) => void
}

interface Dirty {
  entry: CallEntry
  ifAbsent: boolean
}

interface Unanswered {
  id: string
  ifAbsent: boolean
  sentAt: number
  done: () => void
}

/** How long a write waits for the server's answer (lost in a reconnect, a server gone) before it is given up and logged. */
const ANSWER_TIMEOUT_MS = 10_000
/** JetStream's error code for a write whose expected last sequence did not match: a guarded write finding a status stored. */
const WRONG_LAST_SEQUENCE = 10071

export class JetStreamCallStatus implements CallStatusStore {
  readonly bucket: string
  private readonly ttlMs: number
  private readonly maxBytes: number
  private readonly flushMs: number
  private readonly log: (line: string) => void
  private kv: KV | undefined
  private nc: NatsConnection | undefined
  private answers: Subscription | undefined
  private readonly inbox = createInbox()
  /** Subject prefix of the bucket's keys. */
  private readonly keys: string
  /** `Nats-Expected-Last-Subject-Sequence: 0`: stored only when the key holds nothing yet. */
  private readonly ifAbsentHeaders: MsgHdrs
  private readonly dirty = new Map<string, Dirty>()
  /** Per call: its last write whose answer is awaited. */
  private readonly writing = new Map<string, Promise<void>>()
  /** Writes awaiting the server's answer, by reply token, oldest first. */
  private readonly unanswered = new Map<number, Unanswered>()
  private nextToken = 0
  private timer: NodeJS.Timeout | undefined
  /** Answered writes asked for in this turn of the event loop, published together at its end. */
  private readonly batch = new Map<string, { d: Dirty; resolve: () => void; stored: Promise<void> }>()
  private batchTimer: NodeJS.Immediate | undefined
  private expiry: NodeJS.Timeout | undefined
  private lastError = 0
  private closing: Promise<void> | undefined

  constructor(private readonly options: JetStreamCallStatusOptions) {
    this.bucket = `${options.queue.stream}_calls`
    this.ttlMs = options.ttlMs ?? 24 * 3600_000
    this.maxBytes = options.maxBytes ?? 256 * 1024 * 1024
    this.flushMs = options.flushMs ?? 50
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`))
    this.keys = `$KV.${this.bucket}.`
    this.ifAbsentHeaders = headers()
    this.ifAbsentHeaders.set('Nats-Expected-Last-Subject-Sequence', '0')
  }

  async start(): Promise<void> {
    const { jsm, js } = this.options.queue.client
    // The bucket's stream is made here rather than by Kvm.create, which adopts an existing
    // bucket as it is: a changed TTL or bound must be applied. Discard old (unlike a KV's
    // default), so a full bucket forgets the oldest statuses instead of refusing new ones.
    await reconcileStream(
      jsm,
      {
        name: `KV_${this.bucket}`,
        subjects: [`$KV.${this.bucket}.>`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        max_msgs_per_subject: 1,
        max_age: this.ttlMs * 1e6,
        max_bytes: this.maxBytes,
        discard: DiscardPolicy.Old,
        allow_rollup_hdrs: true,
        deny_delete: true,
        allow_direct: true,
      },
      'call status',
      this.log,
    )
    this.kv = await new Kvm(js).open(this.bucket, { allow_direct: true })
    const nc = this.options.queue.client.nc
    this.answers = nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err ? undefined : this.answered(msg)) })
    this.nc = nc
    this.expiry = setInterval(() => this.expire(), 1000)
    this.expiry.unref()
  }

  write(entry: CallEntry, ifAbsent = false): void {
    if (this.closing) return
    const prior = this.dirty.get(entry.callId)
    // A later transition of the same call is a plain write: the first one's guard no longer applies.
    this.dirty.set(entry.callId, { entry, ifAbsent: ifAbsent && (prior?.ifAbsent ?? true) })
    this.timer ??= setTimeout(() => this.flush(), this.flushMs)
  }

  pending(id: string): boolean {
    return this.dirty.has(id) || this.writing.has(id)
  }

  settled(id: string): Promise<void> {
    const d = this.dirty.get(id)
    if (d) {
      this.dirty.delete(id)
      return this.later(d)
    }
    return this.writing.get(id) ?? Promise.resolve()
  }

  /**
   * An answered write, published with the others asked for in the same turn of the event
   * loop: each finished call arrives in its own event (a worker thread's message), and
   * publishing in it would cost a socket write per call.
   */
  private later(d: Dirty): Promise<void> {
    const id = d.entry.callId
    const waiting = this.batch.get(id)
    if (waiting) {
      // Not published yet: it will carry this transition too (the entry is read when it goes out).
      waiting.d = { entry: d.entry, ifAbsent: waiting.d.ifAbsent && d.ifAbsent }
      return waiting.stored
    }
    let resolve: () => void = () => undefined
    const stored = new Promise<void>((r) => (resolve = r)).finally(() => {
      if (this.writing.get(id) === stored) this.writing.delete(id)
    })
    this.batch.set(id, { d, resolve, stored })
    this.batchTimer ??= setImmediate(() => this.sendBatch())
    this.writing.set(id, stored)
    return stored
  }

  private sendBatch(): void {
    this.batchTimer = undefined
    const batch = [...this.batch.values()]
    this.batch.clear()
    for (const { d, resolve } of batch) void this.send(d, true).then(resolve)
  }

  sendNow(id: string): void {
    const d = this.dirty.get(id)
    if (!d) return
    this.dirty.delete(id)
    // An answered write of the call not published yet carries this transition.
    const waiting = this.batch.get(id)
    if (waiting) waiting.d = { entry: d.entry, ifAbsent: waiting.d.ifAbsent && d.ifAbsent }
    else void this.send(d, false)
  }

  async read(id: string): Promise<StoredCallRecord | undefined> {
    const e = await this.kv?.get(idToken(id))
    if (!e || e.operation !== 'PUT') return undefined
    return e.json<StoredCallRecord>()
  }

  private flush(answered = false): void {
    this.timer = undefined
    const dirty = [...this.dirty.values()]
    this.dirty.clear()
    for (const d of dirty) void (answered ? this.later(d) : this.send(d, false))
  }

  /**
   * Publishes one call's status. `answered`: with a reply subject, resolving once the server
   * stored it (or refused it, logged); otherwise at once. Writes of one call go out
   * in order on one connection, and the server stores a stream's messages from one connection
   * in that order, so a later write of a call is never overwritten by an earlier one.
   */
  private send({ entry, ifAbsent }: Dirty, answered: boolean): Promise<void> {
    const nc = this.nc
    if (!nc) return Promise.resolve()
    const id = entry.callId
    const value = JSON.stringify({ ...entry.toJSON(), updatedAt: entry.updatedAt })
    const subject = this.keys + idToken(id)
    const opts = ifAbsent ? { headers: this.ifAbsentHeaders } : {}
    if (!answered) {
      try {
        nc.publish(subject, value, opts)
      } catch (err) {
        this.failed(id, (err as Error).message)
      }
      return Promise.resolve()
    }
    const token = ++this.nextToken
    const stored = new Promise<void>((done) => this.unanswered.set(token, { id, ifAbsent, sentAt: Date.now(), done }))
    try {
      nc.publish(subject, value, { ...opts, reply: `${this.inbox}.${token}` })
    } catch (err) {
      this.settle(token, (err as Error).message)
    }
    return stored
  }

  /** The server's answer to an answered write: `{"stream":…,"seq":…}`, or an error. */
  private answered(msg: Msg): void {
    const token = Number(msg.subject.slice(this.inbox.length + 1))
    let problem: string | undefined
    if (msg.headers?.hasError) {
      // 503: no stream takes the bucket's subjects (deleted under us).
      problem = `${msg.headers.code} ${msg.headers.description || 'no responders'}`
    } else {
      const text = msg.string()
      if (text.includes('"error"')) {
        const error = (JSON.parse(text) as { error?: { err_code?: number; description?: string } }).error
        // A guarded write finding a status already stored is the guard working.
        if (!(error?.err_code === WRONG_LAST_SEQUENCE && this.unanswered.get(token)?.ifAbsent)) problem = error?.description ?? text
      }
    }
    this.settle(token, problem)
  }

  private settle(token: number, problem?: string): void {
    const w = this.unanswered.get(token)
    if (!w) return
    this.unanswered.delete(token)
    if (problem !== undefined) this.failed(w.id, problem)
    w.done()
  }

  /** Gives up on writes unanswered for too long, so that no ack waits for ever on a lost answer. */
  private expire(): void {
    const before = Date.now() - ANSWER_TIMEOUT_MS
    for (const [token, w] of this.unanswered) {
      if (w.sentAt > before) break
      this.settle(token, `no answer from the server within ${ANSWER_TIMEOUT_MS / 1000}s`)
    }
  }

  private failed(id: string, problem: string): void {
    if (Date.now() - this.lastError > 10_000) {
      this.lastError = Date.now()
      this.log(`jetstream: cannot store the status of ${id} in ${this.bucket}: ${problem}`)
    }
  }

  /** Writes what is dirty and waits for every write on the wire to be answered. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.timer)
      this.flush(true)
      await Promise.all(this.writing.values())
      clearInterval(this.expiry)
      this.answers?.unsubscribe()
    })()
    return this.closing
  }
}
