/**
 * The nats-connector's half of the topics: a core NATS subscription per topic, in one queue
 * group, so a message any NATS client publishes on that subject triggers the functions once
 * however many faasdev instances share the server.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node'

export interface NatsTopicsOptions {
  connection: NatsConnection
  /** The JetStream queue's name: the queue group is `faasdev-NAME`, and its own subjects are never subscribed. */
  queueName: string
  onMessage: (topic: string, body: Uint8Array, contentType: string | undefined) => void
  log: (line: string) => void
}

export class NatsTopics {
  private readonly subs = new Map<string, Subscription>()
  private readonly warned = new Set<string>()
  private closed = false

  constructor(private readonly o: NatsTopicsOptions) {}

  /**
   * The queue's own subjects (`QUEUE.FN` calls, `QUEUE_dead.…` dead letters): subscribing to
   * one would turn every call a trigger submits into another message on the topic, for ever.
   */
  private reserved(topic: string): boolean {
    const first = topic.split('.')[0]
    return first === this.o.queueName || first === `${this.o.queueName}_dead`
  }

  /** Subscribes to the topics not yet subscribed and drops the others. */
  async set(topics: Set<string>): Promise<void> {
    if (this.closed || this.o.connection.isClosed()) return
    const gone: Promise<void>[] = []
    for (const [topic, sub] of this.subs) {
      if (topics.has(topic)) continue
      this.subs.delete(topic)
      gone.push(sub.drain().catch(() => undefined))
    }
    for (const topic of topics) {
      if (this.subs.has(topic)) continue
      if (this.reserved(topic)) {
        if (!this.warned.has(topic)) this.o.log(`warning: topic ${topic} is not subscribed on NATS: its subjects belong to the queue ${this.o.queueName} (--queue-name); /system/publish still delivers it`)
        this.warned.add(topic)
        continue
      }
      this.subs.set(
        topic,
        this.o.connection.subscribe(topic, {
          queue: `faasdev-${this.o.queueName}`,
          callback: (err, msg: Msg) => {
            if (err) return this.o.log(`error: NATS subscription to ${topic}: ${err.message}`)
            // A message without headers has no content type, as the nats-connector sends it.
            this.o.onMessage(msg.subject, msg.data, msg.headers?.get('Content-Type') || undefined)
          },
        }),
      )
    }
    await Promise.all(gone)
    // Resolves once the server has the new subscriptions, so a publish right after reaches them.
    await this.o.connection.flush()
  }

  /** Drains every subscription; the connection is the queue's to close. */
  async close(): Promise<void> {
    this.closed = true
    if (this.o.connection.isClosed()) return
    await Promise.all([...this.subs.values()].map((s) => s.drain().catch(() => undefined)))
    this.subs.clear()
  }
}
