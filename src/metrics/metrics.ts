import type { FastifyInstance } from 'fastify'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Deployment } from '../pool/deployment.js'
import type { SpareStats } from '../pool/spares.js'
import { DEFAULT_NAMESPACE, type CallObserver } from '../router/router.js'

/** One queue's numbers for one function, read at scrape time. */
export interface QueueFunctionStats {
  queue: string
  function: string
  pending: number
  inflight: number
}

export interface MetricsSource {
  /** The deployments whose replica counts and targets are exported. */
  deployments: () => Iterable<Deployment>
  /** Pending and in-flight async messages per queue and function, when a queue runs. */
  queueStats?: () => Iterable<QueueFunctionStats>
  /** The pool of warmed-up workers, when there is one. */
  spares?: () => SpareStats
}

/** One function's calls with one status: the count, and the duration histogram's numbers. */
interface CodeTally {
  labels: { function_name: string; code: string }
  count: number
  /** Calls per duration bucket (not cumulative), in the order of {@link SECONDS_BUCKETS}; the last is +Inf. */
  buckets: number[]
  sum: number
}

interface FunctionTally {
  labels: { function_name: string }
  started: number
  inflight: number
  byCode: Map<number, CodeTally>
}

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** A value as prom-client's registry formats it (`labels` first, then the series' own). */
interface ExportedValue {
  labels: Record<string, string | number>
  sharedLabels: Record<string, string>
  value: number
  metricName: string
}

/**
 * `gateway_functions_seconds`, a Prometheus histogram whose numbers are kept in plain counts
 * per function and status (a call adds to an array) and handed to the registry at scrape
 * time in the shape prom-client's own Histogram gives it, so the exposition is the same
 * byte for byte. prom-client's `observe` hashes the labels object on every call, and its
 * Histogram has no way to be handed counts kept elsewhere.
 */
class TalliedHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly series: () => Iterable<CodeTally>,
  ) {}

  getForPromString(): Promise<{ name: string; help: string; type: string; values: ExportedValue[]; aggregator: string }> {
    const values: ExportedValue[] = []
    const bucket = `${this.name}_bucket`
    for (const s of this.series()) {
      let acc = 0
      SECONDS_BUCKETS.forEach((le, i) => {
        acc += s.buckets[i] ?? 0
        values.push({ labels: { le }, sharedLabels: s.labels, value: acc, metricName: bucket })
      })
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket })
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` })
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` })
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator })
  }

  /** For `getMetricsAsJSON()`: each value's labels whole, as prom-client's Histogram gives them. */
  async get(): Promise<{ name: string; help: string; type: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[]; aggregator: string }> {
    const data = await this.getForPromString()
    return { ...data, values: data.values.map(({ labels, sharedLabels, value, metricName }) => ({ labels: { ...labels, ...sharedLabels }, value, metricName })) }
  }

  /** `registry.resetMetrics()`: the counts belong to the tallies, which a reset does not clear. */
  reset(): void {}
}

export type RestartReason = 'oom' | 'crash' | 'timeout' | 'exit'

/** OpenFaaS labels functions `NAME.NAMESPACE` (faas-cli and Grafana dashboards expect it). */
export const functionLabel = (name: string): string => `${name}.${DEFAULT_NAMESPACE}`

/**
 * Every Prometheus metric faasdev exports, under OpenFaaS's names, in one registry per
 * runtime (so several runtimes in one test process do not share counters). The only module
 * that imports prom-client.
 */
export class Metrics {
  readonly registry = new Registry()
  /** Per function: calls started, in flight, and completed by status. */
  private readonly tallies = new Map<string, FunctionTally>()
  /** Every function-and-status tally, in the order of its first call (the order prom-client exports series in). */
  private readonly codeTallies: CodeTally[] = []
  /** Per queue: async messages processed. */
  private readonly processed = new Map<string, number>()
  private readonly retries: Counter<'function_name'>
  private readonly deadLetters: Counter<'function_name'>
  private readonly restarts: Counter<'function_name' | 'reason'>
  private readonly buildErrors: Counter<'function_name'>
  private readonly triggersFired: Counter<'function_name' | 'topic'>
  private readonly reloads: Histogram<'function_name'>
  private readonly faults: Counter<'function_name' | 'kind'>

  constructor(source: MetricsSource) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    // The per-call counts are kept in plain numbers (below) and handed to prom-client at scrape
    // time: thousands of calls a second would otherwise each hash their labels five times.
    const tallies = this.tallies
    new Counter({
      name: 'gateway_function_invocation_total',
      help: 'Function calls completed, sync and async, by status code',
      labelNames: ['function_name', 'code'],
      registers,
      collect() {
        this.reset()
        for (const t of tallies.values()) for (const c of t.byCode.values()) this.inc(c.labels, c.count)
      },
    })
    this.registry.registerMetric(
      // A metric prom-client's registry formats like its own (see TalliedHistogram).
      new TalliedHistogram('gateway_functions_seconds', 'Function call duration in seconds', () => this.codeTallies) as unknown as Histogram,
    )
    new Counter({
      name: 'gateway_function_invocation_started',
      help: 'Function calls started',
      labelNames: ['function_name'],
      registers,
      collect() {
        this.reset()
        for (const t of tallies.values()) this.inc(t.labels, t.started)
      },
    })
    new Gauge({
      name: 'gateway_function_invocation_inflight',
      help: 'Function calls in flight (including those held for a cold start)',
      labelNames: ['function_name'],
      registers,
      collect() {
        this.reset()
        for (const t of tallies.values()) this.set(t.labels, t.inflight)
      },
    })

    // Replica numbers are read from the deployments at scrape time: nothing to keep in sync.
    new Gauge({
      name: 'gateway_service_count',
      help: 'Desired replicas per function',
      labelNames: ['function_name'],
      registers,
      collect() {
        this.reset()
        for (const d of source.deployments()) this.set({ function_name: functionLabel(d.name) }, d.stats().desired)
      },
    })
    new Gauge({
      name: 'gateway_service_ready_count',
      help: 'Ready replicas per function',
      labelNames: ['function_name'],
      registers,
      collect() {
        this.reset()
        for (const d of source.deployments()) this.set({ function_name: functionLabel(d.name) }, d.stats().ready)
      },
    })
    new Gauge({
      name: 'gateway_service_target_load',
      help: 'Target load per replica (com.openfaas.scale.target) for the function’s scaling type',
      labelNames: ['function_name', 'scaling_type'],
      registers,
      collect() {
        this.reset()
        for (const d of source.deployments()) this.set({ function_name: functionLabel(d.name), scaling_type: d.spec.scale.type }, d.spec.scale.target)
      },
    })
    new Gauge({
      name: 'faasdev_spare_replicas',
      help: 'Warmed-up worker threads waiting for a function, by state (ready, starting)',
      labelNames: ['state'],
      registers,
      collect() {
        const s = source.spares?.()
        this.reset()
        if (!s) return
        this.set({ state: 'ready' }, s.ready)
        this.set({ state: 'starting' }, s.starting)
      },
    })
    new Counter({
      name: 'faasdev_spare_replicas_taken_total',
      help: 'Replicas that started from a warmed-up spare worker',
      registers,
      collect() {
        this.reset()
        this.inc(source.spares?.().taken ?? 0)
      },
    })
    new Gauge({
      name: 'queue_worker_pending_messages',
      help: 'Async messages waiting to be processed',
      labelNames: ['queue_name', 'function_name'],
      registers,
      collect() {
        this.reset()
        for (const q of source.queueStats?.() ?? []) this.set({ queue_name: q.queue, function_name: functionLabel(q.function) }, q.pending)
      },
    })
    new Gauge({
      name: 'queue_worker_function_invocation_inflight',
      help: 'Async messages being processed',
      labelNames: ['queue_name', 'function_name'],
      registers,
      collect() {
        this.reset()
        for (const q of source.queueStats?.() ?? []) this.set({ queue_name: q.queue, function_name: functionLabel(q.function) }, q.inflight)
      },
    })
    const processed = this.processed
    new Counter({
      name: 'queue_worker_messages_processed_total',
      help: 'Async messages processed (succeeded, failed or dead-lettered)',
      labelNames: ['queue_name'],
      registers,
      collect() {
        this.reset()
        for (const [queue_name, n] of processed) this.inc({ queue_name }, n)
      },
    })
    this.retries = new Counter({ name: 'faasdev_retries_total', help: 'Async call attempts retried', labelNames: ['function_name'], registers })
    this.deadLetters = new Counter({ name: 'faasdev_dead_letters_total', help: 'Async calls dead-lettered after their last attempt', labelNames: ['function_name'], registers })
    this.restarts = new Counter({ name: 'faasdev_replica_restarts_total', help: 'Replicas replaced after dying, by reason', labelNames: ['function_name', 'reason'], registers })
    this.buildErrors = new Counter({ name: 'faasdev_build_errors_total', help: 'Function builds that failed', labelNames: ['function_name'], registers })
    this.triggersFired = new Counter({ name: 'faasdev_trigger_fired_total', help: 'Calls submitted by a schedule or a published message, by topic', labelNames: ['function_name', 'topic'], registers })
    this.faults = new Counter({ name: 'faasdev_faults_injected_total', help: 'Calls that met an injected fault, by kind', labelNames: ['function_name', 'kind'], registers })
    this.reloads = new Histogram({
      name: 'faasdev_reload_duration_seconds',
      help: 'Time from a change on disk to the new version serving',
      labelNames: ['function_name'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    })
  }

  private tally(name: string): FunctionTally {
    let t = this.tallies.get(name)
    if (!t) {
      t = { labels: { function_name: functionLabel(name) }, started: 0, inflight: 0, byCode: new Map() }
      this.tallies.set(name, t)
    }
    return t
  }

  /** The router hooks: every call, sync or async, passes here exactly once. */
  readonly observer: CallObserver = {
    started: (name) => {
      const t = this.tally(name)
      t.started++
      t.inflight++
    },
    finished: (name, status, seconds) => {
      const t = this.tally(name)
      t.inflight--
      let c = t.byCode.get(status)
      if (!c) {
        c = { labels: { function_name: t.labels.function_name, code: String(status) }, count: 0, buckets: new Array<number>(SECONDS_BUCKETS.length + 1).fill(0), sum: 0 }
        t.byCode.set(status, c)
        this.codeTallies.push(c)
      }
      c.count++
      c.sum += seconds
      let i = 0
      while (i < SECONDS_BUCKETS.length && seconds > (SECONDS_BUCKETS[i] as number)) i++
      c.buckets[i] = (c.buckets[i] ?? 0) + 1
    },
  }

  /** Completed calls of one function, any status: OpenFaaS's `invocationCount`. */
  invocationCount(name: string): number {
    let n = 0
    for (const c of this.tallies.get(name)?.byCode.values() ?? []) n += c.count
    return n
  }

  queueProcessed(queueName: string): void {
    this.processed.set(queueName, (this.processed.get(queueName) ?? 0) + 1)
  }

  retry(name: string): void {
    this.retries.inc({ function_name: functionLabel(name) })
  }

  deadLetter(name: string): void {
    this.deadLetters.inc({ function_name: functionLabel(name) })
  }

  replicaRestart(name: string, reason: RestartReason): void {
    this.restarts.inc({ function_name: functionLabel(name), reason })
  }

  buildError(name: string): void {
    this.buildErrors.inc({ function_name: functionLabel(name) })
  }

  triggerFired(name: string, topic: string): void {
    this.triggersFired.inc({ function_name: functionLabel(name), topic })
  }

  faultInjected(name: string, kind: string): void {
    this.faults.inc({ function_name: functionLabel(name), kind })
  }

  reloadDuration(name: string, seconds: number): void {
    this.reloads.observe({ function_name: functionLabel(name) }, seconds)
  }

  /** The Prometheus text exposition. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }

  /** Registers `GET /metrics` on the gateway. */
  readonly plugin = (app: FastifyInstance): void => {
    app.get('/metrics', async (_req, reply) => {
      const { contentType, body } = await this.exposition()
      return reply.type(contentType).send(body)
    })
  }
}
