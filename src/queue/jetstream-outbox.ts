/**
 * Everything faasdev publishes on its JetStream connection (submits, acks, pull requests,
 * status writes) goes through here, and goes out once per turn of the event loop.
 *
 * nats.js writes to its socket at the end of each microtask checkpoint that published
 * something. Under load every HTTP request, worker-thread message and callback outcome is an
 * event of its own, so each submit, each ack, each status write was a socket write of its own:
 * a system call and a wake-up of nats-server, the largest single cost of the gateway's thread
 * in the async end-to-end bench. Gathered until the turn's I/O events have run (an immediate),
 * they go out in one write. What one connection publishes reaches the server in the order it
 * was given here, so one call's status writes and its ack keep their order.
 *
 * Requests (a publish whose answer is awaited: a submit's `PubAck`, a final status's store
 * confirmation) carry a reply subject on one subscription of ours rather than going through
 * `nc.request`, which builds an error object (a stack trace) and a timer for every request.
 */
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node'

/** The answer to a request, or why there is none (timeout, connection closed, refused by the client). */
export type Answer = (msg: Msg | undefined, problem?: string) => void

interface Queued {
  subject: string
  data: Uint8Array | string
  headers: MsgHdrs | undefined
  reply: string | undefined
  /** Reply token of a request, 0 otherwise. */
  token: number
}

interface Waiting {
  done: Answer
  deadline: number
}

export class Outbox {
  private queued: Queued[] = []
  private scheduled: NodeJS.Immediate | undefined
  private readonly inbox = createInbox()
  private readonly replyPrefix = `${this.inbox}.`
  private answers: Subscription | undefined
  private readonly waiting = new Map<number, Waiting>()
  private nextToken = 0
  private sweeper: NodeJS.Timeout | undefined
  private closed = false

  constructor(private readonly nc: NatsConnection) {}

  start(): void {
    this.answers = this.nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err ? undefined : this.answered(msg)) })
    this.sweeper = setInterval(() => this.sweep(), 1000)
    this.sweeper.unref()
  }

  /** Published at the end of this turn, with what else is published in it. `reply`: a subject of the caller's own. */
  publish(subject: string, data: Uint8Array | string, headers?: MsgHdrs, reply?: string): void {
    this.queued.push({ subject, data, headers, reply, token: 0 })
    this.scheduled ??= setImmediate(() => this.flush())
  }

  /**
   * Published at the end of this turn with a reply subject; `done` gets the server's answer
   * (which may be an error status or an error body, for the caller to read), or a problem when
   * none came within `timeoutMs` or the publish could not be made.
   */
  request(subject: string, data: Uint8Array | string, headers: MsgHdrs | undefined, timeoutMs: number, done: Answer): void {
    if (this.closed) {
      done(undefined, 'the connection is closed')
      return
    }
    const token = ++this.nextToken
    this.waiting.set(token, { done, deadline: Date.now() + timeoutMs })
    this.queued.push({ subject, data, headers, reply: this.replyPrefix + token, token })
    this.scheduled ??= setImmediate(() => this.flush())
  }

  /** Hands what was queued to the connection now (before a drain, or at the end of a turn). */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled)
    this.scheduled = undefined
    const queued = this.queued
    if (queued.length === 0) return
    this.queued = []
    const nc = this.nc
    for (const q of queued) {
      try {
        nc.publish(q.subject, q.data, q.headers ? { headers: q.headers, reply: q.reply } : q.reply ? { reply: q.reply } : undefined)
      } catch (err) {
        // A closed connection, or a message over the server's max_payload: a request learns why, a plain publish is lost as it would have been.
        if (q.token !== 0) this.settle(q.token, undefined, (err as Error).message)
      }
    }
  }

  private answered(msg: Msg): void {
    this.settle(Number(msg.subject.slice(this.replyPrefix.length)), msg)
  }

  private settle(token: number, msg: Msg | undefined, problem?: string): void {
    const w = this.waiting.get(token)
    if (!w) return
    this.waiting.delete(token)
    w.done(msg, problem)
  }

  /** Gives up on requests unanswered past their time (lost in a reconnect, a server gone), so nothing waits on them for ever. */
  private sweep(): void {
    const now = Date.now()
    for (const [token, w] of this.waiting) if (w.deadline <= now) this.settle(token, undefined, 'timeout: no answer from the NATS server')
  }

  /** Publishes what is queued, then answers every request still waiting with a problem. Idempotent. */
  close(): void {
    if (this.closed) return
    this.flush()
    this.closed = true
    clearInterval(this.sweeper)
    this.answers?.unsubscribe()
    for (const token of [...this.waiting.keys()]) this.settle(token, undefined, 'the connection is closed')
  }
}
