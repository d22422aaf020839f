import type { FastifyInstance } from 'fastify'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Deployment } from '../pool/deployment.js'
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
  private readonly completed = new Map<string, number>()
  private readonly invocations: Counter<'function_name' | 'code'>
  private readonly seconds: Histogram<'function_name' | 'code'>
  private readonly started: Counter<'function_name'>
  private readonly inflight: Gauge<'function_name'>
  private readonly processed: Counter<'queue_name'>
  private readonly retries: Counter<'function_name'>
  private readonly deadLetters: Counter<'function_name'>
  private readonly restarts: Counter<'function_name' | 'reason'>
  private readonly buildErrors: Counter<'function_name'>
  private readonly reloads: Histogram<'function_name'>

  constructor(source: MetricsSource) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    this.invocations = new Counter({ name: 'gateway_function_invocation_total', help: 'Function calls completed, sync and async, by status code', labelNames: ['function_name', 'code'], registers })
    this.seconds = new Histogram({
      name: 'gateway_functions_seconds',
      help: 'Function call duration in seconds',
      labelNames: ['function_name', 'code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    })
    this.started = new Counter({ name: 'gateway_function_invocation_started', help: 'Function calls started', labelNames: ['function_name'], registers })
    this.inflight = new Gauge({ name: 'gateway_function_invocation_inflight', help: 'Function calls in flight (including those held for a cold start)', labelNames: ['function_name'], registers })

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
    this.processed = new Counter({ name: 'queue_worker_messages_processed_total', help: 'Async messages processed (succeeded, failed or dead-lettered)', labelNames: ['queue_name'], registers })
    this.retries = new Counter({ name: 'faasdev_retries_total', help: 'Async call attempts retried', labelNames: ['function_name'], registers })
    this.deadLetters = new Counter({ name: 'faasdev_dead_letters_total', help: 'Async calls dead-lettered after their last attempt', labelNames: ['function_name'], registers })
    this.restarts = new Counter({ name: 'faasdev_replica_restarts_total', help: 'Replicas replaced after dying, by reason', labelNames: ['function_name', 'reason'], registers })
    this.buildErrors = new Counter({ name: 'faasdev_build_errors_total', help: 'Function builds that failed', labelNames: ['function_name'], registers })
    this.reloads = new Histogram({
      name: 'faasdev_reload_duration_seconds',
      help: 'Time from a change on disk to the new version serving',
      labelNames: ['function_name'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    })
  }

  /** Label sets per function and per function and status, made once: every call updates five metrics. */
  private readonly labelSets = new Map<string, { byName: { function_name: string }; byCode: Map<number, { function_name: string; code: string }> }>()

  private labelsOf(name: string): { byName: { function_name: string }; byCode: Map<number, { function_name: string; code: string }> } {
    let sets = this.labelSets.get(name)
    if (!sets) {
      sets = { byName: { function_name: functionLabel(name) }, byCode: new Map() }
      this.labelSets.set(name, sets)
    }
    return sets
  }

  /** The router hooks: every call, sync or async, passes here exactly once. */
  readonly observer: CallObserver = {
    started: (name) => {
      const labels = this.labelsOf(name).byName
      this.started.inc(labels)
      this.inflight.inc(labels)
    },
    finished: (name, status, seconds) => {
      const sets = this.labelsOf(name)
      let labels = sets.byCode.get(status)
      if (!labels) {
        labels = { function_name: sets.byName.function_name, code: String(status) }
        sets.byCode.set(status, labels)
      }
      this.inflight.dec(sets.byName)
      this.invocations.inc(labels)
      this.seconds.observe(labels, seconds)
      this.completed.set(name, (this.completed.get(name) ?? 0) + 1)
    },
  }

  /** Completed calls of one function, any status: OpenFaaS's `invocationCount`. */
  invocationCount(name: string): number {
    return this.completed.get(name) ?? 0
  }

  queueProcessed(queueName: string): void {
    this.processed.inc({ queue_name: queueName })
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
