/**
 * Triggers: what the OpenFaaS connectors do for a cluster, for the functions of one stack.
 * Schedules (cron-connector) and topics (nats-connector, `/system/publish`) both end in an
 * async call on the queue, so a triggered call has the queue's retries, metrics, logs and
 * dead letters. A schedule that comes round while its previous call still runs adds one more
 * call to the queue: nothing is dropped, the function's `max_inflight` decides what runs.
 */
import { randomUUID } from 'node:crypto'
import { FaasError } from '../errors.js'
import type { QueuedCall } from '../queue/types.js'
import { CRON_TOPIC, readTriggers } from './annotations.js'
import { NatsTopics, type NatsTopicsOptions } from './nats-topics.js'
import type { Schedule } from './schedule.js'

export interface TriggersOptions {
  /** Accepts one async call (the queue-worker's `submit`): 429 when the queue is full, 503 when closing. */
  submit: (call: QueuedCall) => Promise<void>
  /** False for a function without a deployment (failed to build, or still starting after a reload). */
  isRunning: (name: string) => boolean
  /** Counts one fire: a call submitted for a function because of a topic. */
  fired?: (name: string, topic: string) => void
  /** Warnings and errors (`warning: …`, `error: …`). */
  log: (line: string) => void
  /** One line per fire. */
  debug: (line: string) => void
}

/** What the stack file says of a function, all the triggers need. */
export interface TriggerSource {
  name: string
  annotations: Record<string, string>
}

export interface TriggerStatus {
  name: string
  topics: string[]
  schedule?: string
  /** ISO time of the next scheduled call. */
  nextRun?: string
}

export interface PublishedCall {
  function: string
  callId: string
}

interface Entry {
  name: string
  topics: string[]
  schedule?: Schedule
  nextAt?: number
  timer?: NodeJS.Timeout
}

/** setTimeout's longest delay; a later run (`@yearly`) is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1

export class Triggers {
  private readonly entries = new Map<string, Entry>()
  private nats: NatsTopics | undefined
  private started = false
  private closing: Promise<void> | undefined

  constructor(private readonly o: TriggersOptions) {}

  /**
   * Takes the functions of a stack file (at start, and after each reload): schedules added or
   * changed start counting from now, unchanged ones keep their next run, removed ones stop.
   */
  update(functions: readonly TriggerSource[]): void {
    if (this.closing) return
    const seen = new Set<string>()
    for (const fn of functions) {
      const read = readTriggers(fn.annotations)
      // The stack file's validation already refused a bad annotation; a function without triggers has no entry.
      if (!read.ok || read.triggers.topics.length === 0) continue
      seen.add(fn.name)
      const { topics, schedule } = read.triggers
      const old = this.entries.get(fn.name)
      if (old && old.schedule?.text === schedule?.text) {
        if (old.topics.join() !== topics.join()) {
          old.topics = topics
          if (this.started) this.o.log(`${fn.name}: ${this.describe(old)}`)
        }
        continue
      }
      if (old) clearTimeout(old.timer)
      const entry: Entry = { name: fn.name, topics, ...(schedule ? { schedule } : {}) }
      this.entries.set(fn.name, entry)
      if (this.started) {
        this.arm(entry, Date.now())
        this.o.log(`${fn.name}: ${this.describe(entry)}`)
      }
    }
    for (const [name, entry] of this.entries) {
      if (seen.has(name)) continue
      clearTimeout(entry.timer)
      this.entries.delete(name)
      if (this.started) this.o.log(`${name}: no triggers any more`)
    }
    this.nats?.set(this.topics()).catch((err: unknown) => this.o.log(`error: NATS subscriptions: ${(err as Error).message}`))
  }

  /** Starts the schedules and, given a NATS connection, the subscriptions to every topic. */
  async start(nats?: Omit<NatsTopicsOptions, 'onMessage' | 'log'>): Promise<void> {
    if (this.started || this.closing) return
    this.started = true
    const now = Date.now()
    for (const entry of this.entries.values()) {
      this.arm(entry, now)
      this.o.log(`${entry.name}: ${this.describe(entry)}`)
    }
    if (nats) {
      this.nats = new NatsTopics({
        ...nats,
        log: this.o.log,
        onMessage: (topic, body, contentType) => {
          this.publish(topic, body, contentType).catch((err: unknown) => this.o.log(`error: NATS message on ${topic} not delivered: ${(err as Error).message.trim()}`))
        },
      })
      await this.nats.set(this.topics())
    }
  }

  /** `triggered by topics a.b, c.d and schedule "@every 30s" (next run 2026-…)`, for the log. */
  private describe(e: Entry): string {
    const topics = e.topics.filter((t) => t !== CRON_TOPIC || !e.schedule)
    const parts = topics.length > 0 ? [`topic${topics.length > 1 ? 's' : ''} ${topics.join(', ')}`] : []
    if (e.schedule) parts.push(`schedule "${e.schedule.text}"${e.nextAt !== undefined ? ` (next run ${new Date(e.nextAt).toISOString()})` : ''}`)
    return `triggered by ${parts.join(' and ')}`
  }

  /** Every topic some function listens to. */
  topics(): Set<string> {
    const all = new Set<string>()
    for (const e of this.entries.values()) for (const t of e.topics) all.add(t)
    return all
  }

  status(): TriggerStatus[] {
    return [...this.entries.keys()].sort().map((name) => this.statusOf(name) as TriggerStatus)
  }

  /** One function's triggers; undefined when it has none. */
  statusOf(name: string): TriggerStatus | undefined {
    const e = this.entries.get(name)
    if (!e) return undefined
    return {
      name: e.name,
      topics: e.topics,
      ...(e.schedule ? { schedule: e.schedule.text } : {}),
      ...(e.nextAt !== undefined ? { nextRun: new Date(e.nextAt).toISOString() } : {}),
    }
  }

  /** One message to every function subscribed to `topic`, as one async call each. */
  async publish(topic: string, body: Uint8Array | null, contentType?: string): Promise<PublishedCall[]> {
    this.refuseWhenClosed()
    const subscribed = [...this.entries.values()].filter((e) => e.topics.includes(topic)).map((e) => e.name)
    if (subscribed.length === 0) throw new FaasError('ERR_TOPIC_NOT_FOUND', `no function subscribes to topic ${JSON.stringify(topic)} (list it in a function's "topic" annotation)\n`, { internal: 'gateway' })
    const running = subscribed.filter((name) => this.o.isRunning(name))
    if (running.length === 0) throw new FaasError('ERR_FUNCTION_NOT_FOUND', `the functions subscribed to topic ${JSON.stringify(topic)} are not running: ${subscribed.join(', ')}\n`, { internal: 'gateway' })
    const calls: PublishedCall[] = []
    for (const name of running) calls.push({ function: name, callId: await this.fire(name, topic, body, contentType) })
    return calls
  }

  /** Runs a function's schedule now (for tests); its next scheduled run stays as it was. */
  async trigger(name: string): Promise<string[]> {
    this.refuseWhenClosed()
    if (!this.entries.get(name)?.schedule) throw new FaasError('ERR_NO_SCHEDULE', `function ${name} has no schedule (annotations topic: ${CRON_TOPIC} and schedule)\n`)
    return [await this.fire(name, CRON_TOPIC, null)]
  }

  private refuseWhenClosed(): void {
    if (this.closing) throw new FaasError('ERR_CLOSED', 'faasdev is shutting down and takes no new triggered calls\n', { internal: 'gateway', headers: { 'Retry-After': '5' } })
  }

  /** `plannedAt` (a scheduled run's time) names the call, so instances sharing a JetStream queue submit it once. */
  private async fire(name: string, topic: string, body: Uint8Array | null, contentType?: string, plannedAt?: number): Promise<string> {
    const id = plannedAt === undefined ? randomUUID() : `cron-${name}-${plannedAt}`
    // connector-sdk's invoker: a POST with the message as body and X-Topic naming the topic.
    const headers: Record<string, string> = { 'x-call-id': id, 'x-topic': topic }
    if (contentType) headers['content-type'] = contentType
    await this.o.submit({ id, function: name, method: 'POST', path: '/', headers, body: body && body.length > 0 ? body : null, submittedAt: Date.now(), ...(plannedAt !== undefined ? { dedupeId: id } : {}) })
    this.o.fired?.(name, topic)
    this.o.debug(`trigger: ${topic} → ${name} (call ${id})`)
    return id
  }

  private arm(entry: Entry, from: number): void {
    clearTimeout(entry.timer)
    entry.timer = undefined
    entry.nextAt = entry.schedule?.next(new Date(from))?.getTime()
    if (entry.nextAt !== undefined) this.wait(entry)
  }

  private wait(entry: Entry): void {
    const delay = Math.max(0, Math.min((entry.nextAt as number) - Date.now(), MAX_TIMER_MS))
    entry.timer = setTimeout(() => this.tick(entry), delay)
    // The gateway keeps the process alive; a schedule alone must not.
    entry.timer.unref()
  }

  private tick(entry: Entry): void {
    if (this.closing || this.entries.get(entry.name) !== entry || entry.nextAt === undefined || !entry.schedule) return
    const now = Date.now()
    if (now < entry.nextAt) return this.wait(entry)
    const planned = entry.nextAt
    if (this.o.isRunning(entry.name)) {
      this.fire(entry.name, CRON_TOPIC, null, undefined, planned).catch((err: unknown) => this.o.log(`error: ${entry.name}: the scheduled call was not accepted: ${(err as Error).message.trim()}`))
    } else {
      this.o.debug(`trigger: ${CRON_TOPIC} → ${entry.name} skipped: the function is not running`)
    }
    // Counting from the planned time keeps `@every` from drifting; runs missed by more than a
    // period (a sleeping laptop) are skipped, not caught up, as robfig/cron does.
    let next = entry.schedule.next(new Date(planned))?.getTime()
    if (next !== undefined && next <= now) next = entry.schedule.next(new Date(now))?.getTime()
    entry.nextAt = next
    if (next !== undefined) this.wait(entry)
  }

  /** Stops the schedules and the NATS subscriptions; later publishes answer 503. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const entry of this.entries.values()) clearTimeout(entry.timer)
      await this.nats?.close()
    })()
    return this.closing
  }
}
