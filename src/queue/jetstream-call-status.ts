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
 */
import { DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
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

export class JetStreamCallStatus implements CallStatusStore {
  readonly bucket: string
  private readonly ttlMs: number
  private readonly maxBytes: number
  private readonly flushMs: number
  private readonly log: (line: string) => void
  private kv: KV | undefined
  private readonly dirty = new Map<string, Dirty>()
  /** Per call: its last write still on the wire. */
  private readonly writing = new Map<string, Promise<void>>()
  private timer: NodeJS.Timeout | undefined
  private lastError = 0
  private closing: Promise<void> | undefined

  constructor(private readonly options: JetStreamCallStatusOptions) {
    this.bucket = `${options.queue.stream}_calls`
    this.ttlMs = options.ttlMs ?? 24 * 3600_000
    this.maxBytes = options.maxBytes ?? 256 * 1024 * 1024
    this.flushMs = options.flushMs ?? 50
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`))
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
      this.send(d)
    }
    return this.writing.get(id) ?? Promise.resolve()
  }

  async read(id: string): Promise<StoredCallRecord | undefined> {
    const e = await this.kv?.get(idToken(id))
    if (!e || e.operation !== 'PUT') return undefined
    return e.json<StoredCallRecord>()
  }

  private flush(): void {
    this.timer = undefined
    const batch = [...this.dirty.values()]
    this.dirty.clear()
    for (const d of batch) this.send(d)
  }

  private send({ entry, ifAbsent }: Dirty): void {
    const kv = this.kv
    if (!kv) return
    const id = entry.callId
    const value = JSON.stringify({ ...entry.toJSON(), updatedAt: entry.updatedAt })
    const key = idToken(id)
    // Writes of one call go out in order on one connection, so the server stores them in order.
    const p = (ifAbsent ? kv.create(key, value) : kv.put(key, value)).then(
      () => undefined,
      (err: unknown) => {
        // A guarded write finding a status already stored is the guard working.
        if (ifAbsent && /wrong last sequence|exists/i.test((err as Error).message)) return
        if (Date.now() - this.lastError > 10_000) {
          this.lastError = Date.now()
          this.log(`jetstream: cannot store the status of ${id} in ${this.bucket}: ${(err as Error).message}`)
        }
      },
    )
    const tracked = p.finally(() => {
      if (this.writing.get(id) === tracked) this.writing.delete(id)
    })
    this.writing.set(id, tracked)
  }

  /** Writes what is dirty and waits for every write on the wire. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.timer)
      this.flush()
      await Promise.all(this.writing.values())
    })()
    return this.closing
  }
}
