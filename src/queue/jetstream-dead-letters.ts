/**
 * Dead letters in a JetStream stream, `OF_<queue>_dead`, shared by every instance on the
 * cluster and kept across restarts. One message per letter on `<queue>_dead.FUNCTION.CALL`
 * (one per subject: dead-lettering a call again replaces its letter):
 *
 *     data:          the request body, byte for byte
 *     Faasdev-Call:  the call, as on the work queue (`jetstream-codec.ts`)
 *     Faasdev-Dead:  {"v":1,"a":attempts,"s":lastStatus,"h":[[name,value]…],"b":"<base64 of the last body's first 16 KiB>","t":deadLetteredAt}
 *
 * The last result sits in a header so that listing reads headers only (a headers-only ordered
 * consumer), never the request bodies. Limits-based retention, bounded by count and bytes;
 * the stream discards new messages when full and faasdev drops the oldest letter itself, so
 * that each one dropped is logged with its call id.
 */
import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream'
import type { MsgHdrs } from '@nats-io/transport-node'
import { FaasError } from '../errors.js'
import type { DeadLetter } from '../queue-worker/calls.js'
import type { DeadLetterStore } from '../queue-worker/dead-letters.js'
import { CALL_HEADER, callFromHeader, encodeCall, fnToken, tokenFn } from './jetstream-codec.js'
import type { JetStreamQueue } from './jetstream.js'
import { idToken, reconcileStream } from './jetstream-streams.js'

export const DEAD_HEADER = 'Faasdev-Dead'
/** How much of the last response body a letter keeps. */
export const DEAD_BODY_KEPT = 16 * 1024

export interface JetStreamDeadLettersOptions {
  /** The started queue whose connection and name are used: stream `OF_<name>_dead`. */
  queue: JetStreamQueue
  /** Letters kept; beyond it the oldest is dropped and logged. @default 10000 */
  maxMessages?: number
  /** Their bytes (request bodies included). @default 256 MiB */
  maxBytes?: number
  log?: (line: string) => void
}

interface DeadEnvelope {
  v: 1
  a: number
  s: number
  h: [string, string][]
  b: string
  t: number
}

export class JetStreamDeadLetters implements DeadLetterStore {
  readonly stream: string
  private readonly prefix: string
  private readonly maxMessages: number
  private readonly maxBytes: number
  private readonly log: (line: string) => void
  private cached = new Map<string, number>()
  private countedAt = 0
  private counting: Promise<void> | undefined

  constructor(private readonly options: JetStreamDeadLettersOptions) {
    this.stream = `${options.queue.stream}_dead`
    this.prefix = `${options.queue.subjectPrefix}_dead`
    this.maxMessages = options.maxMessages ?? 10_000
    this.maxBytes = options.maxBytes ?? 256 * 1024 * 1024
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`))
  }

  private get jsm(): JetStreamManager {
    return this.options.queue.client.jsm
  }

  private get js(): JetStreamClient {
    return this.options.queue.client.js
  }

  async start(): Promise<void> {
    await reconcileStream(
      this.jsm,
      {
        name: this.stream,
        subjects: [`${this.prefix}.>`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        max_msgs: this.maxMessages,
        max_bytes: this.maxBytes,
        max_msgs_per_subject: 1,
        discard: DiscardPolicy.New,
      },
      'dead letters',
      this.log,
    )
    await this.recount()
  }

  async add(letter: DeadLetter): Promise<void> {
    const { call } = letter
    const subject = `${this.prefix}.${fnToken(call.function)}.${idToken(call.id)}`
    const { data, headers } = encodeCall(call)
    headers.set(DEAD_HEADER, deadHeader(letter, true))
    let trimmed = false
    for (let evicted = 0; ; ) {
      try {
        await this.js.publish(subject, data, { headers })
        break
      } catch (err) {
        const message = (err as Error).message ?? ''
        if (/maximum (messages|bytes) exceeded|resource limits exceeded/i.test(message) && evicted < 1000) {
          if (!(await this.dropOldest())) throw new FaasError('ERR_QUEUE_FULL', `the letter does not fit in ${this.stream} (${this.maxBytes} bytes) even when empty`, { cause: err })
          evicted++
        } else if (/max(imum)?[ _]payload/i.test(message) && !trimmed) {
          // A request body near --max-body with large response headers: keep the request, drop the last response's headers and body.
          headers.set(DEAD_HEADER, deadHeader(letter, false))
          trimmed = true
        } else {
          throw err
        }
      }
    }
    this.cached.set(call.function, (this.cached.get(call.function) ?? 0) + 1)
    void this.recount()
  }

  /** Drops the stream's oldest letter, logging it; false when the stream is empty. */
  private async dropOldest(): Promise<boolean> {
    const info = await this.jsm.streams.info(this.stream)
    if (info.state.messages === 0) return false
    const m = await this.jsm.streams.getMessage(this.stream, { seq: info.state.first_seq }).catch(() => null)
    // Gone already: another instance dropped or replayed it; the publish is tried again.
    if (!m) return true
    const letter = this.decode(m.subject, m.header, null)
    if (await this.jsm.streams.deleteMessage(this.stream, m.seq, false).catch(() => false)) {
      this.log(`queue-worker: dead letter ${letter?.call.id ?? m.subject} (${letter?.call.function ?? '?'}) dropped: ${this.stream} keeps at most ${this.maxMessages} letters and ${this.maxBytes} bytes`)
    }
    return true
  }

  async take(id: string): Promise<DeadLetter | undefined> {
    const info = await this.jsm.streams.info(this.stream, { subjects_filter: `${this.prefix}.*.${idToken(id)}` })
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const m: StoredMsg | null = await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject }).catch(() => null)
      if (!m) continue
      // Whoever deletes it replays it: another instance replaying the same call at once finds it gone.
      if (!(await this.jsm.streams.deleteMessage(this.stream, m.seq, false).catch(() => false))) continue
      const letter = this.decode(m.subject, m.header, new Uint8Array(m.data))
      if (!letter) continue
      const n = (this.cached.get(letter.call.function) ?? 1) - 1
      if (n <= 0) this.cached.delete(letter.call.function)
      else this.cached.set(letter.call.function, n)
      return letter
    }
    return undefined
  }

  async list(fn?: string): Promise<DeadLetter[]> {
    const filter = fn ? `${this.prefix}.${fnToken(fn)}.*` : `${this.prefix}.>`
    const info = await this.jsm.streams.info(this.stream, { subjects_filter: filter })
    const subjects = info.state.subjects ?? {}
    if (!fn) this.setCounts(subjects)
    if (Object.keys(subjects).length === 0) return []
    const consumer = await this.js.consumers.get(this.stream, { filter_subjects: filter, headers_only: true })
    const messages = await consumer.consume({ max_messages: 256 })
    // Letters replayed between the count and the read never arrive: stop waiting for them.
    const timer = setTimeout(() => void messages.close(), 5000)
    const out: DeadLetter[] = []
    try {
      for await (const m of messages) {
        const letter = this.decode(m.subject, m.headers, null)
        if (letter) out.push(letter)
        if (m.info.pending === 0) break
      }
    } finally {
      clearTimeout(timer)
      await messages.close()
    }
    return out
  }

  counts(): ReadonlyMap<string, number> {
    // Read often (stats, metrics scrapes, the dashboard): answered from the last count, recounted at most once a second.
    if (Date.now() - this.countedAt > 1000) void this.recount()
    return this.cached
  }

  private recount(): Promise<void> {
    this.counting ??= (async () => {
      try {
        const info = await this.jsm.streams.info(this.stream, { subjects_filter: `${this.prefix}.>` })
        this.setCounts(info.state.subjects ?? {})
      } catch {
        // Disconnected: keep the last counts.
      } finally {
        this.countedAt = Date.now()
        this.counting = undefined
      }
    })()
    return this.counting
  }

  private setCounts(subjects: Record<string, number>): void {
    const counts = new Map<string, number>()
    for (const subject of Object.keys(subjects)) {
      const fn = tokenFn(subject.split('.')[1] ?? '')
      counts.set(fn, (counts.get(fn) ?? 0) + 1)
    }
    this.cached = counts
    this.countedAt = Date.now()
  }

  async close(): Promise<void> {
    await this.counting
  }

  private decode(subject: string, headers: MsgHdrs | undefined, body: Uint8Array | null): DeadLetter | undefined {
    const call = headers?.get(CALL_HEADER)
    const dead = headers?.get(DEAD_HEADER)
    if (!call || !dead) return undefined
    try {
      const d = JSON.parse(dead) as DeadEnvelope
      return {
        call: callFromHeader(call, body, tokenFn(subject.split('.')[1] ?? '')),
        attempts: d.a,
        lastStatus: d.s,
        lastHeaders: d.h,
        lastBody: new Uint8Array(Buffer.from(d.b, 'base64')),
        deadLetteredAt: d.t,
      }
    } catch {
      return undefined
    }
  }
}

function deadHeader(letter: DeadLetter, withResponse: boolean): string {
  const env: DeadEnvelope = {
    v: 1,
    a: letter.attempts,
    s: letter.lastStatus,
    h: withResponse ? letter.lastHeaders : [],
    b: withResponse ? Buffer.from(letter.lastBody.buffer, letter.lastBody.byteOffset, Math.min(letter.lastBody.byteLength, DEAD_BODY_KEPT)).toString('base64') : '',
    t: letter.deadLetteredAt,
  }
  return JSON.stringify(env)
}
