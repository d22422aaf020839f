import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { locateStackFile } from './config/discover.js'
import { loadStack, type FunctionSpec, type StackConfig } from './config/stack.js'
import { createGateway } from './gateway/app.js'
import { DrainGate } from './gateway/drain.js'
import { basicAuth } from './gateway/auth.js'
import { reservePort, type PortReservation } from './gateway/port.js'
import { removeGatewayAddress, writeGatewayAddress } from './gateway/address-file.js'
import { pressurePlugin, type PressureOptions } from './gateway/pressure.js'
import { systemLogs } from './gateway/system-logs.js'
import { uiRoutes } from './gateway/ui-routes.js'
import { LogBuffer } from './logs/log-buffer.js'
import { createLogger, defaultLogFormat, lineLogger, type LogFormat } from './logs/logger.js'
import type { Logger } from 'pino'
import { terminalPrinter } from './logs/terminal.js'
import { Metrics } from './metrics/metrics.js'
import { installDependencies, missingDependencies } from './loader/bundle.js'
import { Reloader, type ReloadEvent } from './loader/reloader.js'
import { Deployment, type DeploymentStats } from './pool/deployment.js'
import { SparePool, type SpareStats } from './pool/spares.js'
import { heapLimitMb } from './pool/replica.js'
import { ReplicaBudget } from './pool/budget.js'
import { Router } from './router/router.js'
import { RollingStats } from './stats/rolling.js'
import { Autoscaler } from './autoscaler/autoscaler.js'
import { asyncRoutes } from './gateway/async-routes.js'
import { MemoryQueue } from './queue/memory.js'
import { JetStreamQueue } from './queue/jetstream.js'
import { jetStreamStores, type JetStreamStoreOptions } from './queue/jetstream-stores.js'
import type { QueueBackend } from './queue/types.js'
import type { CallbackOptions } from './queue-worker/callback.js'
import type { RetrySettings } from './queue-worker/retry.js'
import { QueueWorker, type FunctionQueueStats } from './queue-worker/worker.js'
import { Triggers } from './triggers/triggers.js'
import { triggerRoutes } from './triggers/routes.js'
import { CallbackSink, faultInterceptor, faultTargets } from './faults/inject.js'
import { faultRoutes } from './faults/routes.js'
import { describeFault } from './faults/spec.js'
import { FaultStore } from './faults/store.js'

export interface RuntimeOptions {
  /** Path of the stack file. @default `stack.yaml`, then `stack.yml`, in the working directory */
  stack?: string
  /** @default 8080; 0 picks a free port */
  port?: number
  /** @default '127.0.0.1' */
  host?: string
  /** @default 'memory' */
  queue?: 'memory' | 'jetstream'
  /** Watch handlers and the stack file and reload on change. @default true */
  watch?: boolean
  /** Request body limit in bytes. @default 10 MiB */
  maxBody?: number
  /** Response body limit in bytes: a larger response (a handler's stream is cut off at it) answers 502. @default 64 MiB */
  maxResponse?: number
  /** Where builds (and JetStream's store) live. @default `.faasdev/` beside the stack file */
  dataDir?: string
  /** How long `close()` lets in-flight and queued work finish. @default 30000 */
  graceMs?: number
  /** Environment used for `${VAR}` substitution in the stack file. @default process.env */
  env?: NodeJS.ProcessEnv
  /** Where faasdev's own messages go. @default stderr */
  log?: (line: string) => void
  /** Where handler output goes, one line at a time. @default stdout, prefixed with the replica name */
  onOutput?: (replica: string, stream: 'stdout' | 'stderr', line: string) => void
  /** faasdev's own log lines when `log` is not given: pino JSON, pino-pretty, or plain lines. @default $FAASDEV_LOG_FORMAT, else pretty on a terminal, plain otherwise */
  logFormat?: LogFormat
  /** Lines of handler output kept per function for `/system/logs`. @default 1000 */
  logLines?: number
  /** Gateway self-protection thresholds (503 + `Retry-After` above them). @default see PressureOptions */
  pressure?: PressureOptions
  /** Basic auth (user `admin`) on `/system/*` and `/ui/`; off when undefined. */
  auth?: { user?: string; password: string }
  /** Memory queue bound on accepted, unfinished async calls (`--queue-max-messages`). @default 100000 */
  queueMaxMessages?: number
  /** Memory queue bound on their bytes (`--queue-max-bytes`). @default 256 MiB */
  queueMaxBytes?: number
  /** With `queue: 'jetstream'`: the NATS server or cluster (`nats://[user:pass@]host:4222`, comma-separated); when absent a `nats-server` child is started with its store in `dataDir`. */
  natsUrl?: string
  /** With `queue: 'jetstream'`: a NATS `.creds` file for `natsUrl`. */
  natsCreds?: string
  /** With `queue: 'jetstream'`: stream `OF_<name>`, subjects `<name>.FUNCTION`. @default 'faas-request' */
  queueName?: string
  /** With `queue: 'jetstream'`: redelivery after this long without ack; running calls keep their lease. @default 30000 */
  ackWaitMs?: number
  /** With `queue: 'jetstream'`: bounds of the dead-letter stream `OF_<name>_dead` (the oldest letter is dropped and logged beyond them). @default 10000 letters, 256 MiB */
  deadLetters?: JetStreamStoreOptions['deadLetters']
  /** With `queue: 'jetstream'`: how long a call's status stays in the bucket `OF_<name>_calls` after its last change, and the bucket's bytes. @default 24 h, 256 MiB */
  callStatus?: JetStreamStoreOptions['callStatus']
  /** Async retry settings (`max_retry_attempts`, `initial_retry_wait`, `max_retry_wait`, `retry_http_codes`); annotations override them per function. @default 10 attempts, 1 s, 30 s, 408,429,500,502,503,504 */
  retry?: Partial<RetrySettings>
  /** How callbacks are retried when the receiver fails. @default 3 tries, 500 ms doubling, 10 s each */
  callback?: Partial<CallbackOptions>
  /** Time between two autoscaler ticks (`--autoscale-interval`); 0 turns autoscaling off. @default 1000 */
  autoscaleIntervalMs?: number
  /** Warmed-up worker threads kept ready for new replicas, per heap size in use (`--spare-replicas`); 0 turns them off. @default 1 */
  spareReplicas?: number
  /** Worker threads for all functions together (`--max-replicas-total`): replicas above a function's `max(1, min)` start only within it. @default the functions' floors plus 8 per core (at most one per 128 MiB of half the memory, at least 2) */
  maxReplicasTotal?: number
  /**
   * Scale a function without `max_inflight` to what its labels ask even when more threads
   * would not serve it faster (`--scale-always`). By default the autoscaler adds such replicas
   * only while the ones running keep their event loops busy and this process leaves a core idle.
   * @default false
   */
  scaleAlways?: boolean
}

export interface FunctionSummary {
  name: string
  status: 'ready' | 'skipped' | 'failed'
  url?: string
  lang: string
  replicas?: number
  maxInflight?: number
  execTimeoutMs?: number
  memory?: string
  buildMs?: number
  reason?: string
}

export interface RuntimeStats {
  functions: Record<string, DeploymentStats>
  /** Async work per function: pending, in flight, retrying, dead-lettered. */
  queue: FunctionQueueStats[]
  /** Warmed-up workers waiting for a function. */
  spares: SpareStats
  /** The machine budget of worker threads and how many of them function replicas use. */
  replicaBudget: { total: number; used: number }
}

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
export const VERSION = pkg.version

/** Removes build folders left by faasdev processes that no longer run (e.g. after kill -9). */
function sweepStaleBuilds(dataDir: string): void {
  let entries: string[] = []
  try {
    entries = readdirSync(dataDir)
  } catch {
    return
  }
  for (const entry of entries) {
    const match = /^build-(\d+)-/.exec(entry)
    if (!match) continue
    const pid = Number(match[1])
    let alive = true
    try {
      process.kill(pid, 0)
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM'
    }
    if (!alive) rmSync(join(dataDir, entry), { recursive: true, force: true })
  }
}

/**
 * The composition root: builds every component from the stack file, starts them in order
 * and closes them in reverse.
 */
export class Runtime {
  /** The stack as last loaded without error (hot reload replaces it). */
  config: StackConfig
  /** Incremental builds, watching and hot reload; emits `'reload'` events. */
  readonly reloader: Reloader
  readonly router = new Router()
  readonly metrics: Metrics
  readonly autoscaler: Autoscaler
  readonly logs: LogBuffer
  readonly queue: QueueBackend
  readonly queueWorker: QueueWorker
  /** Schedules and topics (`topic`/`schedule` annotations), as the OpenFaaS connectors run them. */
  readonly triggers: Triggers
  /** Injected faults (`/system/faults`): off until one is injected. */
  readonly faults: FaultStore
  /** Pre-started workers that new replicas (cold starts, scale-ups, reloads) start from. */
  readonly spares: SparePool
  /** Worker threads shared by all functions (`--max-replicas-total`). */
  readonly replicaBudget: ReplicaBudget
  private readonly callbackSink = new CallbackSink()
  /** Async call ids left unfinished when the last `close()` ran out of grace. */
  unfinishedCalls: string[] = []
  /** Per-second call counts and latencies of the last minutes, for the dashboard. */
  readonly callStats = new RollingStats()
  readonly dataDir: string
  private app: FastifyInstance | undefined
  private buildDir: string | undefined
  private address: string | undefined
  /** Tells `faasdev new` where this gateway listens (see gateway/address-file.ts). */
  private addressFile: string | undefined
  private startPromise: Promise<void> | undefined
  private closing: Promise<void> | undefined
  private accepting = false
  /** Keeps the gateway answering (503 to new calls) while the calls taken finish. */
  private readonly drainGate = new DrainGate()
  readonly summary: FunctionSummary[] = []
  private readonly log: (line: string) => void
  /** The structured logger (also Fastify's) unless the log format is plain. */
  readonly logger: Logger | undefined

  /** `notes`: said once, first (e.g. which stack file was found). */
  constructor(readonly options: RuntimeOptions, config: StackConfig, notes: string[] = []) {
    this.config = config
    this.dataDir = resolve(config.dir, options.dataDir ?? '.faasdev')
    const format = options.log ? 'plain' : (options.logFormat ?? defaultLogFormat())
    if (format !== 'plain') this.logger = createLogger({ pretty: format === 'pretty' })
    this.log = options.log ?? (this.logger ? lineLogger(this.logger) : (line) => process.stderr.write(`${line}\n`))
    for (const note of notes) this.log(note)
    this.reloader = new Reloader({
      config,
      env: options.env ?? process.env,
      router: this.router,
      buildDir: () => this.buildDir as string,
      dataDir: this.dataDir,
      log: this.log,
      deployNew: (spec) => this.deploy(spec),
      onConfig: (next) => {
        this.config = next
        this.spares.retain(next.functions.map((f) => heapLimitMb(f) ?? 0))
        this.triggers.update(next.functions)
      },
    })
    this.logs = new LogBuffer(options.logLines)
    this.replicaBudget = new ReplicaBudget(options.maxReplicasTotal, this.log)
    this.spares = new SparePool({ ...(options.spareReplicas !== undefined ? { size: options.spareReplicas } : {}), log: this.log })
    this.printOutput = options.onOutput ?? terminalPrinter()
    this.metrics = new Metrics({
      deployments: () => this.router.deployments.values(),
      spares: () => this.spares.stats(),
      queueStats: () => this.queueWorker.stats().map((q) => ({ queue: this.queueName, function: q.name, pending: q.pending + q.retrying, inflight: q.inflight })),
    })
    this.router.observe(this.metrics.observer)
    // A failed rebuild and the time from a save to the new version serving, for /metrics.
    this.reloader.on('reload', (e: ReloadEvent) => {
      if (!e.ok) this.metrics.buildError(e.name)
      else if (e.detectedAt !== undefined && e.servingAt !== undefined) this.metrics.reloadDuration(e.name, (e.servingAt - e.detectedAt) / 1000)
    })
    this.router.observe({ finished: (name, status, seconds) => this.callStats.record(name, status, seconds, Date.now()) })
    this.faults = new FaultStore({
      lookup: faultTargets(this.router),
      onInjected: (fn, kind) => this.metrics.faultInjected(fn, kind),
    })
    this.router.intercept = faultInterceptor(this.faults)
    this.queue = this.createQueue()
    this.queueWorker = new QueueWorker({
      queue: this.queue,
      ...(this.queue instanceof JetStreamQueue ? jetStreamStores(this.queue, this.log, { ...(options.deadLetters ? { deadLetters: options.deadLetters } : {}), ...(options.callStatus ? { callStatus: options.callStatus } : {}) }) : {}),
      router: this.router,
      log: this.log,
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.callback ? { callback: options.callback } : {}),
      callbackFault: (fn) => this.callbackSink.target(this.faults, fn),
      events: {
        processed: () => this.metrics.queueProcessed(this.queueName),
        retried: (fn) => this.metrics.retry(fn),
        deadLettered: (fn) => this.metrics.deadLetter(fn),
      },
    })
    this.triggers = new Triggers({
      submit: (call) => this.queueWorker.submit(call),
      isRunning: (name) => this.router.deployments.has(name),
      fired: (name, topic) => this.metrics.triggerFired(name, topic),
      log: this.log,
      debug: this.logger ? (line) => this.logger?.debug(line) : (options.env ?? process.env).FAASDEV_LOG_LEVEL === 'debug' ? this.log : () => undefined,
    })
    this.triggers.update(config.functions)
    this.autoscaler = new Autoscaler({
      router: this.router,
      intervalMs: options.autoscaleIntervalMs ?? 1000,
      log: this.log,
      ...(options.scaleAlways ? { scaleAlways: true } : {}),
      // Async messages waiting for a slot are demand the replicas cannot show yet.
      queueDemand: (name) => {
        const s = this.queue.stats(name)
        return s.pending - s.delayed
      },
    })
  }

  /** The queue's name in metrics labels (OpenFaaS's default `faas-request`). */
  get queueName(): string {
    return this.options.queueName ?? 'faas-request'
  }

  private createQueue(): QueueBackend {
    if (this.options.queue === 'jetstream') {
      const o = this.options
      return new JetStreamQueue({
        dataDir: this.dataDir,
        maxBody: o.maxBody ?? 10 * 1024 * 1024,
        log: this.log,
        ...(o.natsUrl ? { url: o.natsUrl } : {}),
        ...(o.natsCreds ? { credsFile: o.natsCreds } : {}),
        ...(o.queueName ? { queueName: o.queueName } : {}),
        ...(o.ackWaitMs !== undefined ? { ackWaitMs: o.ackWaitMs } : {}),
        ...(o.queueMaxMessages !== undefined ? { maxMessages: o.queueMaxMessages } : {}),
        ...(o.queueMaxBytes !== undefined ? { maxBytes: o.queueMaxBytes } : {}),
        ...(o.env ? { env: o.env } : {}),
      })
    }
    return new MemoryQueue({
      ...(this.options.queueMaxMessages !== undefined ? { maxMessages: this.options.queueMaxMessages } : {}),
      ...(this.options.queueMaxBytes !== undefined ? { maxBytes: this.options.queueMaxBytes } : {}),
    })
  }

  /** The gateway's base URL, e.g. `http://127.0.0.1:8080` (after `start()`). */
  get url(): string {
    if (!this.address) throw new Error('runtime not started')
    return this.address
  }

  start(): Promise<void> {
    this.startPromise ??= this.doStart()
    return this.startPromise
  }

  private async doStart(): Promise<void> {
    const reservation = await reservePort(this.options.port ?? 8080, this.options.host ?? '127.0.0.1')
    try {
      await this.startInOrder(reservation)
    } finally {
      await reservation.release()
    }
  }

  private async startInOrder(reservation: PortReservation): Promise<void> {
    for (const w of this.config.warnings) this.log(`warning: ${w}`)
    for (const s of this.config.skipped) {
      this.router.skipped.set(s.name, s)
      this.log(`warning: skipping ${s.name}: ${s.reason}`)
      this.summary.push({ name: s.name, status: 'skipped', lang: s.lang, reason: s.reason })
    }
    await mkdir(this.dataDir, { recursive: true })
    sweepStaleBuilds(this.dataDir)
    this.buildDir = await mkdtemp(join(this.dataDir, `build-${process.pid}-`))
    await Promise.all(this.config.functions.map((spec) => this.deploy(spec)))
    // After the first replicas: spares warming up meanwhile would only slow them down.
    this.spares.start()
    if (this.router.deployments.size === 0) {
      throw new Error(`no function could start (${this.summary.map((s) => `${s.name}: ${s.reason ?? s.status}`).join('; ')})`)
    }

    await this.queue.start()
    await this.queueWorker.start()
    this.app = await createGateway({
      router: this.router,
      maxBody: this.options.maxBody ?? 10 * 1024 * 1024,
      version: VERSION,
      isReady: () => this.accepting,
      ...(this.logger ? { logger: this.logger } : {}),
      invocationCount: (name) => this.metrics.invocationCount(name),
      secretsDir: () => join(this.config.dir, '.secrets'),
      routeHooks: [this.drainGate.plugin],
      plugins: [
        ...(this.options.auth ? [basicAuth(this.options.auth)] : []),
        pressurePlugin(this.options.pressure),
        this.metrics.plugin,
        systemLogs(this.router, this.logs),
        uiRoutes({
          router: this.router,
          stats: this.callStats,
          queue: () => this.queueWorker.stats(),
          faults: (name) => this.faults.list(name).map(describeFault),
          build: (name) => {
            const error = this.router.deployments.get(name)?.buildError
            return error ? { building: false, error } : undefined
          },
          triggers: (name) => this.triggers.statusOf(name),
        }),
        faultRoutes(this.faults),
        asyncRoutes({ router: this.router, worker: this.queueWorker, maxBody: this.options.maxBody ?? 10 * 1024 * 1024, kind: this.queue.kind }),
        triggerRoutes(this.triggers, this.options.maxBody ?? 10 * 1024 * 1024),
      ],
    })
    const host = this.options.host ?? '127.0.0.1'
    await reservation.release()
    await this.app.listen({ port: this.options.port ?? 8080, host })
    const addr = this.app.server.address()
    const port = typeof addr === 'object' && addr ? addr.port : this.options.port
    // Listening on every interface: print a loopback URL a browser or curl can open.
    const wildcard = host === '0.0.0.0' || host === '::'
    const shownHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
    if (wildcard) {
      this.log(
        this.options.auth
          ? `warning: --host ${host}: function routes are reachable from other machines; /system and /ui ask for the password`
          : `warning: --host ${host}: the gateway and /system are reachable from other machines, without authentication`,
      )
    }
    this.address = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`
    for (const s of this.summary) if (s.status === 'ready') s.url = `${this.address}/function/${s.name}`
    this.accepting = true
    this.addressFile = await writeGatewayAddress(this.dataDir, { url: this.address, pid: process.pid, watch: this.options.watch !== false }).catch(() => undefined)
    const nc = this.queue instanceof JetStreamQueue ? this.queue.connection : undefined
    await this.triggers.start(nc ? { connection: nc, queueName: this.queueName } : undefined)
    this.autoscaler.start()
    if (this.options.watch !== false) await this.reloader.watch()
  }

  private async deploy(spec: FunctionSpec): Promise<void> {
    const summary: FunctionSummary = {
      name: spec.name,
      status: 'failed',
      lang: spec.lang,
      replicas: spec.scale.min,
      maxInflight: spec.watchdog.maxInflight,
      execTimeoutMs: spec.watchdog.execTimeoutMs,
      ...(spec.limits.memory ? { memory: spec.limits.memory } : {}),
    }
    this.summary.push(summary)
    let deployment: Deployment | undefined
    try {
      const missing = missingDependencies(spec.handlerDir)
      if (missing.length > 0) {
        this.log(`${spec.name}: installing dependencies (npm install in ${spec.handlerDir}; missing ${missing.join(', ')})`)
        await installDependencies(spec.handlerDir)
      }
      const bundle = await this.reloader.build(spec)
      summary.buildMs = Math.round(bundle.durationMs)
      deployment = new Deployment({
        maxResponse: this.options.maxResponse ?? 64 * 1024 * 1024,
        spec,
        bundle: bundle.file,
        spares: this.spares,
        budget: this.replicaBudget,
        onOutput: this.onOutput,
        onReplicaExit: (name, replica, reason, message) => {
          if (reason === 'oom' || reason === 'crash' || reason === 'timeout' || reason === 'exit') this.metrics.replicaRestart(name, reason)
          // The replica's message already says which replica and why ("replica hello-2 stopped (crash): …").
          this.log(message.startsWith(`replica ${replica} `) ? `${name}: ${message}` : `${name}: replica ${replica} ${reason === 'start-failed' ? 'failed to start' : `stopped (${reason})`}: ${message}`)
        },
      })
      await deployment.start()
      this.router.deployments.set(spec.name, deployment)
      summary.status = 'ready'
    } catch (err) {
      // A deployment whose replicas cannot start would keep retrying them in the background.
      await deployment?.close(0).catch(() => undefined)
      const reason = (err as Error).message
      summary.reason = reason
      this.router.failed.set(spec.name, { spec, reason })
      this.metrics.buildError(spec.name)
      this.log(`error: ${spec.name}: ${reason}`)
    }
  }

  /** Every line a handler writes: kept for `/system/logs`, then printed (or given to `options.onOutput`). */
  private readonly onOutput = (replica: string, stream: 'stdout' | 'stderr', line: string): void => {
    this.logs.push(replica, line)
    this.printOutput(replica, stream, line)
  }

  private readonly printOutput: (replica: string, stream: 'stdout' | 'stderr', line: string) => void

  stats(): RuntimeStats {
    const functions: Record<string, DeploymentStats> = {}
    for (const [name, d] of this.router.deployments) functions[name] = d.stats()
    const used = [...this.router.deployments.values()].reduce((n, d) => n + d.threads(), 0)
    return { functions, queue: this.queueWorker.stats(), spares: this.spares.stats(), replicaBudget: { total: this.replicaBudget.total, used } }
  }

  /** Resolves when nothing is in flight, no async call is queued and no callback is pending. */
  async idle(): Promise<void> {
    for (;;) {
      const busy = [...this.router.deployments.values()].some((d) => {
        const s = d.stats()
        return s.inflight > 0 || s.waiting > 0
      })
      if (!busy && this.queueWorker.isIdle()) return
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  /** Submits the call a function's schedule makes, now; resolves with its call ids. */
  trigger(name: string): Promise<string[]> {
    return this.triggers.trigger(name)
  }

  /** Re-reads the stack file and applies it as a save would (also with `watch: false`). */
  reload(): Promise<void> {
    return this.reloader.reloadStack()
  }

  /** Graceful: stop intake, drain in-flight calls, stop replicas. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose()
    return this.closing
  }

  /** Works the async queue until it is empty or the grace period ends; reports what is left. */
  private async drainQueue(deadline: number, graceMs: number): Promise<void> {
    const unfinished = await this.queueWorker.drain(Math.max(0, deadline - Date.now()))
    this.unfinishedCalls = unfinished
    if (unfinished.length > 0) this.log(`queue: ${unfinished.length} async call(s) not finished within the ${graceMs / 1000}s grace period: ${unfinished.join(' ')}`)
    await this.queueWorker.close()
    await this.queue.close()
  }

  /**
   * Called once the calls taken have finished (or the grace period is over). Closing the
   * server only drops keep-alive connections that are idle at that moment; one whose call was
   * in flight would hold the process open for its keep-alive timeout once the call ends, so
   * idle connections are dropped until the server has closed, and every connection at the
   * grace limit.
   */
  private async closeGateway(deadline: number): Promise<void> {
    const app = this.app
    if (!app) return
    const sweep = setInterval(() => app.server.closeIdleConnections(), 100)
    const force = setTimeout(() => app.server.closeAllConnections(), Math.max(0, deadline - Date.now()))
    try {
      await app.close()
    } finally {
      clearInterval(sweep)
      clearTimeout(force)
    }
  }

  private async doClose(): Promise<void> {
    this.accepting = false
    // New calls get 503 from here on, on a gateway that keeps listening until the work is done.
    this.drainGate.drain()
    const grace = this.options.graceMs ?? 30_000
    const deadline = Date.now() + grace
    if (this.startPromise) await this.startPromise.catch(() => undefined)
    // Before intake closes: a NATS topic message that reaches this instance while it stops
    // would be refused and lost (core NATS does not redeliver), where a drained subscription
    // lets the server hand it to another instance of the queue group.
    await this.triggers.close().catch((err: unknown) => this.log(`error while closing triggers: ${(err as Error).message}`))
    this.queueWorker.stopIntake()
    const steps: [string, () => Promise<unknown>][] = [
      ['address file', async () => (this.addressFile ? removeGatewayAddress(this.addressFile) : undefined)],
      // Stopped first so it does not start replicas that are about to be drained.
      ['autoscaler', async () => this.autoscaler.close()],
      ['spares', async () => this.spares.close()],
      // Before the replicas: a save during shutdown must not start new ones.
      ['watcher', async () => this.reloader.close()],
      // The sync calls taken finish and the queue keeps being worked, within the grace period.
      ['calls and queue', async () => Promise.all([this.drainGate.settled(deadline), this.drainQueue(deadline, grace)])],
      ['gateway', async () => this.closeGateway(deadline)],
      ['replicas', async () => Promise.all([...this.router.deployments.values()].map((d) => d.close(Math.min(Math.max(0, deadline - Date.now()), d.spec.watchdog.writeTimeoutMs))))],
      ['fault sink', async () => this.callbackSink.close()],
      ['build', async () => (this.buildDir ? rm(this.buildDir, { recursive: true, force: true }) : undefined)],
    ]
    for (const [name, step] of steps) {
      try {
        await step()
      } catch (err) {
        this.log(`error while closing ${name}: ${(err as Error).message}`)
      }
    }
  }
}

/** Reads and validates the stack file; throws a ConfigError naming file, line and field. */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const { file, note } = locateStackFile(options.stack)
  const config = loadStack(file, options.env ?? process.env)
  return new Runtime(options, config, note ? [note] : [])
}
