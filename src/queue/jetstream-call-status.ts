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
 * server stores as the KV client's `put` would, sent through the queue's outbox (one socket
 * write per turn of the event loop for everything published in it). A transition on the way
 * (queued, running, retrying, a callback's outcome) goes without a reply: the server stores
 * it and answers nothing. A write that must be stored before something else happens (a final
 * status, before the callback and the message's ack) is settled by the server's answer, one
 * answer for the final statuses of one turn (see `later`).
 */
import { DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import { headers, type Msg, type MsgHdrs } from '@nats-io/transport-node'
import type { CallStatusStore, StoredCallRecord } from '../queue-worker/call-status.js'
import type { CallEntry } from '../queue-worker/calls.js'
import type { JetStreamQueue } from './jetstream.js'
import type { Outbox } from './jetstream-outbox.js'
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

/** The statuses a call ends in: their writes are answered (see flush()). */
const FINAL: ReadonlySet<string> = new Set(['succeeded', 'failed', 'dead-lettered'])

/** How long an answered write waits for the server's answer (lost in a reconnect, a server gone) before it is given up and logged. */
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
  private outbox: Outbox | undefined
  /** Subject prefix of the bucket's keys. */
  private readonly keys: string
  /** `Nats-Expected-Last-Subject-Sequence: 0`: stored only when the key holds nothing yet. */
  private readonly ifAbsentHeaders: MsgHdrs
  private readonly dirty = new Map<string, Dirty>()
  /** Per call: its last write whose answer is awaited. */
  private readonly writing = new Map<string, Promise<void>>()
  private timer: NodeJS.Timeout | undefined
  /** Answered writes asked for in this turn of the event loop, published together at its end. */
  private batch = new Map<string, Dirty>()
  /** Settled once the server has answered the batch's last write. */
  private batchStored: Promise<void> | undefined
  private batchDone: () => void = () => undefined
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
    this.outbox = this.options.queue.client.outbox
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
   * loop: each finished call arrives in its own event (a worker thread's message). One answer
   * settles the whole batch: the server stores one connection's messages to a stream in the
   * order they were sent, so its answer to the batch's last write says every write before it
   * was handled too (the writes of a batch go out in one socket write, so none is lost alone).
   */
  private later(d: Dirty): Promise<void> {
    const id = d.entry.callId
    const waiting = this.batch.get(id)
    if (waiting) {
      // Not published yet: it will carry this transition too (the entry is read when it goes out).
      this.batch.set(id, { entry: d.entry, ifAbsent: waiting.ifAbsent && d.ifAbsent })
      return this.batchStored as Promise<void>
    }
    if (!this.batchStored) {
      this.batchStored = new Promise<void>((r) => (this.batchDone = r))
      setImmediate(() => this.sendBatch())
    }
    this.batch.set(id, d)
    this.writing.set(id, this.batchStored)
    return this.batchStored
  }

  private sendBatch(): void {
    const { batch, batchStored, batchDone } = this
    this.batch = new Map()
    this.batchStored = undefined
    let last: Dirty | undefined
    for (const d of batch.values()) {
      if (last) void this.send(last, false)
      last = d
    }
    if (!last) return batchDone()
    void this.send(last, true).then(() => {
      for (const id of batch.keys()) if (this.writing.get(id) === batchStored) this.writing.delete(id)
      batchDone()
    })
  }

  sendNow(id: string): void {
    const d = this.dirty.get(id)
    if (!d) return
    this.dirty.delete(id)
    // An answered write of the call not published yet carries this transition.
    const waiting = this.batch.get(id)
    if (waiting) this.batch.set(id, { entry: d.entry, ifAbsent: waiting.ifAbsent && d.ifAbsent })
    else void (FINAL.has(d.entry.status) ? this.later(d) : this.send(d, false))
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
    // A final status always goes answered: the message's ack may be waiting on it (settled()),
    // and a plain write the gathering window sent first would leave nothing to wait for.
    for (const d of dirty) void (answered || FINAL.has(d.entry.status) ? this.later(d) : this.send(d, false))
  }

  /**
   * Publishes one call's status. `answered`: with a reply subject, resolving once the server
   * stored it (or refused it, logged); otherwise at once. Writes of one call go out
   * in order on one connection, and the server stores a stream's messages from one connection
   * in that order, so a later write of a call is never overwritten by an earlier one.
   */
  private send({ entry, ifAbsent }: Dirty, answered: boolean): Promise<void> {
    const outbox = this.outbox
    if (!outbox) return Promise.resolve()
    const id = entry.callId
    const value = entry.storedJson()
    const subject = this.keys + idToken(id)
    const h = ifAbsent ? this.ifAbsentHeaders : undefined
    if (!answered) {
      outbox.publish(subject, value, h)
      return Promise.resolve()
    }
    return new Promise<void>((done) =>
      outbox.request(subject, value, h, ANSWER_TIMEOUT_MS, (msg, problem) => {
        problem ??= this.refused(msg as Msg, ifAbsent)
        if (problem !== undefined) this.failed(id, problem)
        done()
      }),
    )
  }

  /** Why the server did not store a write, from its answer (`{"stream":…,"seq":…}` when it did). */
  private refused(msg: Msg, ifAbsent: boolean): string | undefined {
    // 503: no stream takes the bucket's subjects (deleted under us).
    if (msg.headers?.hasError) return `${msg.headers.code} ${msg.headers.description || 'no responders'}`
    const text = msg.string()
    if (!text.includes('"error"')) return undefined
    const error = (JSON.parse(text) as { error?: { err_code?: number; description?: string } }).error
    // A guarded write finding a status already stored is the guard working.
    if (error?.err_code === WRONG_LAST_SEQUENCE && ifAbsent) return undefined
    return error?.description ?? text
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
    })()
    return this.closing
  }
}
