/**
 * One function's pull loop on its durable JetStream consumer: keeps one pull request open
 * for up to `window` messages and buffers what arrives, so `take()` answers at once from
 * memory (a `next()` per take waits at least a second when nothing is there). The window is
 * small on purpose: a buffered message is leased to this instance, so a large window would
 * starve the other instances sharing the consumer.
 *
 * Raw pull requests (`$JS.API.CONSUMER.MSG.NEXT`) rather than `consumer.consume()`: consume
 * re-pulls on what it receives, not on what we take, and we need to know exactly which
 * messages we hold to keep their leases alive and hand them back on close.
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node'
import type { Outbox } from './jetstream-outbox.js'

/**
 * How long one pull request waits on the server before it expires and is re-issued. Short,
 * because a request can go unanswered (a consumer deleted while the request waited, a
 * reconnect): the next one then finds out within seconds, at the cost of one small request
 * per function every few seconds.
 */
const PULL_EXPIRES_MS = 5_000

export interface PullerOptions {
  nc: NatsConnection
  /** Where pull requests and give-backs are published, in turn with the queue's acks. */
  outbox: Outbox
  stream: string
  consumer: string
  window: number
  /** A message arrived in the buffer. */
  onMessage: () => void
  /** The server ended a pull with an error status (e.g. consumer deleted after inactivity). */
  onTrouble: (code: number, description: string) => void
}

export class Puller {
  readonly buffer: Msg[] = []
  private sub: Subscription | undefined
  private readonly inbox = createInbox()
  private requestSeq = 0
  private open = false
  private remaining = 0
  private watchdog: NodeJS.Timeout | undefined
  private retryTimer: NodeJS.Timeout | undefined
  private stopped = false

  constructor(private readonly options: PullerOptions) {}

  start(): void {
    this.sub = this.options.nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err ? undefined : this.receive(msg)) })
    this.pull()
  }

  /** Issues a pull request for the free part of the window unless one is open. */
  pull(): void {
    if (this.stopped || this.open || this.retryTimer) return
    const want = this.options.window - this.buffer.length
    if (want <= 0) return
    this.open = true
    this.remaining = want
    const seq = ++this.requestSeq
    const { outbox, stream, consumer } = this.options
    // A request lost to a closed or draining connection: the watchdog below tries again.
    outbox.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify({ batch: want, expires: PULL_EXPIRES_MS * 1e6 }), undefined, `${this.inbox}.${seq}`)
    clearTimeout(this.watchdog)
    // A request lost in a reconnect gets no answer at all: re-issue it after its expiry.
    this.watchdog = setTimeout(() => {
      if (seq === this.requestSeq) {
        this.open = false
        this.pull()
      }
    }, PULL_EXPIRES_MS + 2_000)
  }

  private receive(msg: Msg): void {
    if (this.stopped) {
      // Arrived after stop: give it straight back.
      if (msg.reply && !msg.headers?.hasError) this.options.outbox.publish(msg.reply, '-NAK')
      return
    }
    const code = msg.headers?.code ?? 0
    if (code > 0 || (msg.data.length === 0 && msg.headers?.hasError)) {
      // A status ends a pull request; only the current request's status counts.
      if (msg.subject !== `${this.inbox}.${this.requestSeq}`) return
      this.open = false
      if (code === 404 || code === 408) {
        this.pull()
      } else if (code !== 100) {
        this.options.onTrouble(code, msg.headers?.description ?? '')
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined
          this.pull()
        }, 1000)
      }
      return
    }
    this.buffer.push(msg)
    if (--this.remaining <= 0) {
      this.open = false
      this.pull()
    }
    this.options.onMessage()
  }

  /** The oldest buffered message, and a pull to refill the window. */
  shift(): Msg | undefined {
    const msg = this.buffer.shift()
    if (msg) this.pull()
    return msg
  }

  /** Stops pulling; returns what was buffered and not taken (the caller gives it back). */
  stop(): Msg[] {
    this.stopped = true
    clearTimeout(this.watchdog)
    clearTimeout(this.retryTimer)
    this.sub?.unsubscribe()
    return this.buffer.splice(0)
  }
}
