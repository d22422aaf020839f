import { EventEmitter } from 'node:events'
import { availableParallelism } from 'node:os'
import type { FunctionSpec } from '../config/stack.js'
import { FaasError, saturated, shuttingDown } from '../errors.js'
import { freeSlots, pickReplica } from './balancer.js'
import { Replica, type ExitReason, type InvokeRequest, type InvokeResult } from './replica.js'
import type { BudgetMember, ReplicaBudget } from './budget.js'
import type { SparePool } from './spares.js'

export interface DeploymentOptions {
  spec: FunctionSpec
  bundle: string
  onOutput?: (replica: string, stream: 'stdout' | 'stderr', line: string) => void
  onReplicaExit?: (name: string, replica: string, reason: ExitReason, message: string) => void
  /** How long a call to a function at 0 replicas is held while one starts. @default 60000 */
  coldStartTimeoutMs?: number
  /** Response size limit in bytes, for every replica (502 above it). @default no limit */
  maxResponse?: number
  /** Warmed-up workers new replicas start from when one is ready. */
  spares?: SparePool
  /** Worker threads shared by all functions: replicas above the floor start only within it. */
  budget?: ReplicaBudget
}

export interface DeploymentStats {
  name: string
  desired: number
  replicas: number
  ready: number
  inflight: number
  /** Calls held while a replica starts. */
  waiting: number
  /** Calls started since the deployment was created. */
  started: number
  /** Mean event-loop utilisation of ready replicas, 0…1. */
  utilisation: number
  maxInflight: number
  /** Desired replicas not started because of the machine budget (`--max-replicas-total`). */
  heldBack?: number
  /** Replicas the load asks for that the autoscaler does not add, since they would not serve faster. */
  scaleHold?: { wanted: number; why: string }
  lastError?: string
}

/** Why a replica last died or failed to start: kept until a call started after it succeeds. */
export interface ReplicaError {
  message: string
  replica: string
  reason: ExitReason
  at: Date
}

const MAX_START_BACKOFF_MS = 30_000

/**
 * Calls of one event-loop turn that may go to the replica the turn's first call went to (see
 * pick()), and the mean call time below which a replica's calls count as light enough for it.
 */
const TURN_BATCH_MAX = 32
const LIGHT_CALL_MS = 5
/**
 * Replicas warming up at once. Threads that start together share the cores, so twenty at once
 * make the first of them ready much later than two at a time would, and slow the ones serving.
 */
const MAX_STARTING = Math.max(2, availableParallelism())

/**
 * All replicas of one function: routes each call to the least-loaded ready replica, holds
 * calls while the first replica starts, replaces replicas that die, and drains on scale-down.
 */
export class Deployment extends EventEmitter implements BudgetMember {
  readonly name: string
  spec: FunctionSpec
  bundle: string
  desired: number
  readonly createdAt = new Date()
  private replicas: Replica[] = []
  /** The replica the last call went to by the least-loaded choice (see pick()). */
  private turnReplica: Replica | undefined
  private counter = 0
  private rr = 0
  private startedTotal = 0
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = []
  private startFailures = 0
  private restartTimer: NodeJS.Timeout | undefined
  private closing: Promise<void> | undefined
  lastError: ReplicaError | undefined
  /** Why the latest edit of this function's code could not be built; the previous version keeps serving. */
  buildError: string | undefined
  /** Set by the autoscaler while it holds replicas back that would not serve this function faster. */
  scaleHold: { wanted: number; why: string } | undefined
  /** The first replica of a version being deployed: no call reaches it until it is ready. */
  private staging: Replica[] = []
  /**
   * Replicas of the version replaced by the last deploy, while the new one rolls out: they
   * take a call only when no replica of the current version has a free slot, and stop one by
   * one as new ones become ready (all of them once the new version runs at full count).
   */
  private previous: Replica[] = []
  /** Replicas started for one call each (see invokeOnFreshReplica): never routed to, never scaled. */
  private oneOff: Replica[] = []
  private nextVersion: { spec: FunctionSpec; bundle: string } | undefined
  private deploying: Promise<void> | undefined
  /** Desired replicas the machine budget keeps from starting. */
  private heldBack = 0

  constructor(private readonly options: DeploymentOptions) {
    super()
    this.setMaxListeners(0)
    this.spec = options.spec
    this.name = options.spec.name
    this.bundle = options.bundle
    this.desired = options.spec.scale.min
    options.budget?.join(this)
  }

  /** The machine budget of worker threads this deployment shares, if any. */
  get replicaBudget(): number | undefined {
    return this.options.budget?.total
  }

  /** Replicas of the current version starting or ready: what the machine budget counts. */
  threads(): number {
    let n = 0
    for (const r of this.replicas) if (r.state === 'starting' || r.state === 'ready') n++
    return n
  }

  /** Replicas the labels guarantee, whatever the machine budget. */
  floor(): number {
    return Math.max(1, this.spec.scale.min)
  }

  /** Starts the replicas the budget held back, if it now allows them. */
  rebalance(): void {
    this.reconcile()
  }

  /** Starts the initial replicas and waits until they are ready (or the first fails). */
  async start(): Promise<void> {
    this.reconcile()
    await Promise.all(this.replicas.map((r) => r.ready))
  }

  get closed(): boolean {
    return this.closing !== undefined
  }

  /** Sends one call to the least-loaded ready replica: 429 when all are full, held at 0 replicas. */
  invoke(request: InvokeRequest): Promise<InvokeResult> {
    // The common case without an async frame: a ready replica has a free slot.
    const replica = this.closing ? undefined : this.pick()
    if (replica) return this.send(replica, request)
    return this.invokeWhenReady(request)
  }

  private send(replica: Replica, request: InvokeRequest): Promise<InvokeResult> {
    this.startedTotal++
    const error = this.lastError
    if (!error) return replica.invoke(request)
    // The error stays visible until a call made after it is answered; a newer error replaces it.
    return replica.invoke(request).then((result) => {
      if (this.lastError === error && result.status < 500) this.lastError = undefined
      return result
    })
  }

  private async invokeWhenReady(request: InvokeRequest): Promise<InvokeResult> {
    for (;;) {
      if (this.closing) throw shuttingDown(this.name)
      const replica = this.pick()
      if (replica) return this.send(replica, request)
      if (this.replicas.some((r) => r.accepting) || this.previous.some((r) => r.accepting)) throw saturated(this.spec.watchdog.maxInflight)
      if (this.desired === 0) this.scale(Math.max(1, this.spec.scale.min))
      await this.waitForReady()
    }
  }

  /**
   * Starts a one-off replica with a heap of `heapLimitMb`, sends `request` to it, then stops it.
   * How an `oom` fault reaches a function without `limits.memory` quickly: filling a default
   * heap takes gigabytes and seconds. It stays out of `replicas`, so scaling never sees it: in
   * the list, its 'ready' made reconcile() stop one replica too many, possibly itself before
   * its call (a 502 "stopped", no OOM), or a serving one.
   */
  async invokeOnFreshReplica(request: InvokeRequest, heapLimitMb: number): Promise<InvokeResult> {
    if (this.closing) throw shuttingDown(this.name)
    const replica = new Replica({
      name: `${this.name}-${++this.counter}`,
      ...(this.options.maxResponse ? { maxResponse: this.options.maxResponse } : {}),
      bundle: this.bundle,
      spec: this.spec,
      // Never from a spare: a spare of this heap size would stay idle for nothing.
      heapLimitMb,
      ...(this.options.onOutput ? { onOutput: this.options.onOutput } : {}),
    })
    this.oneOff.push(replica)
    replica.once('exit', ({ reason, message }: { reason: ExitReason; message: string }) => {
      this.oneOff = this.oneOff.filter((r) => r !== replica)
      this.retireIfUnused(replica.bundle)
      if (reason === 'stopped') return
      this.lastError = { message, replica: replica.name, reason, at: new Date() }
      this.options.onReplicaExit?.(this.name, replica.name, reason, message)
    })
    try {
      await replica.ready
      if (this.closing) throw shuttingDown(this.name)
      this.startedTotal++
      return await replica.invoke(request)
    } finally {
      void replica.close(0)
    }
  }

  /** Picks a replica for a call now, or undefined; the queue-worker uses this to take work only when a slot is free. */
  pick(): Replica | undefined {
    const maxInflight = this.spec.watchdog.maxInflight
    // Without max_inflight, the calls that arrive in one event-loop turn go together to the
    // replica the turn's first call went to, while its calls are light: one message and one
    // thread wake-up for all of them, where spreading them would send a smaller batch to each
    // replica. Calls of different turns (a caller's next call, say) still rotate over the
    // replicas, and calls that take a replica's time (CPU, or I/O) are spread one by one.
    const turn = this.turnReplica
    if (maxInflight === 0 && turn !== undefined && turn.waiting > 0 && turn.waiting < TURN_BATCH_MAX && turn.accepting && turn.meanCallMs < LIGHT_CALL_MS) return turn
    const i = pickReplica(this.replicas, maxInflight, this.rr++)
    if (this.rr > 1e9) this.rr = 0
    if (i >= 0) return (this.turnReplica = this.replicas[i])
    if (this.previous.length === 0) return undefined
    const j = pickReplica(this.previous, maxInflight, this.rr)
    return j < 0 ? undefined : (this.turnReplica = this.previous[j])
  }

  /** Free call slots right now (Infinity without `max_inflight`). */
  freeSlots(): number {
    const free = freeSlots(this.replicas, this.spec.watchdog.maxInflight)
    return this.previous.length === 0 ? free : free + freeSlots(this.previous, this.spec.watchdog.maxInflight)
  }

  /**
   * Sets the desired replica count; extra replicas drain (bounded by `write_timeout`) before they
   * stop. At 0 the old version's replicas of a rollout drain too: with no new replica to become
   * ready, nothing else would drain them, and pick() would keep routing calls to them.
   */
  scale(replicas: number): void {
    if (this.closing) return
    this.desired = Math.max(0, Math.floor(replicas))
    this.reconcile()
    if (this.desired === 0) for (const r of this.previous) if (r.accepting) void r.close(r.spec.watchdog.writeTimeoutMs)
  }

  /**
   * Rolling: starts one replica of the new version (from a spare when one is ready); once it
   * is ready, new calls go to the new version, the old replicas take calls only when every new
   * one is full, and the rest of the new replicas start (as many as ran before). Each new
   * replica that becomes ready drains one old one (bounded by its `write_timeout`); the last
   * old ones drain when the new version runs at full count. How long a save takes to serve so
   * does not grow with the replica count. Deploys are serialised and the latest wins: a
   * version superseded while another starts is never started, and the replicas of a version
   * two deploys old drain at once. Resolves when the latest version serves; rejects, with the
   * previous version still serving, when it cannot start. Emits `'retired'` with a bundle
   * file once no replica runs it any more.
   */
  deploy(spec: FunctionSpec, bundle: string): Promise<void> {
    if (this.closing) return Promise.reject(shuttingDown(this.name))
    const superseded = this.nextVersion?.bundle
    this.nextVersion = { spec, bundle }
    if (superseded !== undefined) this.retireIfUnused(superseded)
    this.deploying ??= this.runDeploys()
    return this.deploying
  }

  private async runDeploys(): Promise<void> {
    try {
      // No await between the loop's exit and clearing `deploying`: a deploy() arriving then starts a new loop.
      for (let next = this.nextVersion; next && !this.closing; next = this.nextVersion) {
        this.nextVersion = undefined
        try {
          await this.swap(next.spec, next.bundle)
        } catch (err) {
          if (!this.nextVersion) throw err
        }
      }
    } finally {
      this.deploying = undefined
    }
  }

  private async swap(spec: FunctionSpec, bundle: string): Promise<void> {
    const running = this.replicas.some((r) => r.state === 'starting' || r.state === 'ready')
    const first = running || this.desired > 0 ? this.startReplica(spec, bundle, true) : undefined
    if (first) {
      const timeoutMs = this.options.coldStartTimeoutMs ?? 60_000
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          first.ready,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new FaasError('ERR_REPLICA_START_FAILED', `no replica of the new version of ${this.name} became ready within ${timeoutMs} ms`)), timeoutMs)
          }),
        ])
      } catch (err) {
        await first.kill('stopped')
        throw err
      } finally {
        clearTimeout(timer)
      }
      if (this.closing) {
        await first.kill('stopped')
        return
      }
    }
    const oldBundle = this.bundle
    this.staging = this.staging.filter((r) => r !== first)
    // Two versions old: drained now, whatever their number.
    for (const r of this.previous) void r.close(r.spec.watchdog.writeTimeoutMs)
    // Draining replicas stay listed (not accepting) so stats and idle() still count their calls.
    this.previous = [...this.previous, ...this.replicas]
    for (const r of this.replicas) if (r.state === 'starting') void r.close(0)
    this.replicas = first ? [first] : []
    this.spec = spec
    this.bundle = bundle
    this.startFailures = 0
    if (this.restartTimer) clearTimeout(this.restartTimer)
    this.restartTimer = undefined
    this.retireIfUnused(oldBundle)
    if (first) {
      for (const w of this.waiters.splice(0)) w.resolve()
      this.emit('slot', this)
    }
    this.reconcile()
    this.drainPrevious()
  }

  /**
   * One old replica stops taking calls per new one ready, the least busy first; all of them
   * once no new one is starting (the new version runs at full count, or cannot start more).
   */
  private drainPrevious(): void {
    const accepting = this.previous.filter((r) => r.accepting)
    if (accepting.length === 0) return
    const starting = this.replicas.some((r) => r.state === 'starting')
    const victims = starting ? [accepting.reduce((a, b) => (b.inflight < a.inflight ? b : a))] : accepting
    for (const r of victims) void r.close(r.spec.watchdog.writeTimeoutMs)
  }

  private retireIfUnused(bundle: string): void {
    const runs = (r: Replica): boolean => r.bundle === bundle && r.state !== 'stopped'
    if (bundle === this.bundle || bundle === this.nextVersion?.bundle || this.replicas.some(runs) || this.staging.some(runs) || this.previous.some(runs) || this.oneOff.some(runs)) return
    this.emit('retired', bundle)
  }

  stats(): DeploymentStats {
    let ready = 0
    let inflight = 0
    let elu = 0
    let live = 0
    for (const r of this.previous.length === 0 ? this.replicas : [...this.replicas, ...this.previous]) {
      if (r.state === 'stopped') continue
      inflight += r.inflight
      if (r.state !== 'draining') live++
      if (r.accepting) {
        ready++
        elu += r.utilisation
      }
    }
    const stats: DeploymentStats = {
      name: this.name,
      desired: this.desired,
      replicas: live,
      ready,
      inflight,
      waiting: this.waiters.length,
      started: this.startedTotal,
      utilisation: ready ? elu / ready : 0,
      maxInflight: this.spec.watchdog.maxInflight,
    }
    if (this.heldBack > 0) stats.heldBack = this.heldBack
    if (this.scaleHold) stats.scaleHold = this.scaleHold
    if (this.lastError) stats.lastError = this.lastError.message
    return stats
  }

  /** Asks every ready replica for its event-loop utilisation (for cpu scaling). */
  async sample(): Promise<void> {
    await Promise.all(this.replicas.filter((r) => r.accepting).map((r) => r.ping(1000)))
  }

  /** Drains and stops every replica; a second call returns the same promise. */
  close(timeoutMs = this.spec.watchdog.writeTimeoutMs): Promise<void> {
    this.closing ??= (async () => {
      this.options.budget?.leave(this)
      if (this.restartTimer) clearTimeout(this.restartTimer)
      const err = shuttingDown(this.name)
      for (const w of this.waiters.splice(0)) w.reject(err)
      await Promise.all([...this.replicas, ...this.previous, ...this.staging, ...this.oneOff].map((r) => r.close(timeoutMs)))
    })()
    return this.closing
  }

  private waitForReady(): Promise<void> {
    const timeoutMs = this.options.coldStartTimeoutMs ?? 60_000
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        reject(new FaasError('ERR_REPLICA_START_FAILED', `no replica of ${this.name} became ready within ${timeoutMs} ms\n`, { internal: 'gateway' }))
      }, timeoutMs)
      const waiter = {
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
        reject: (e: Error) => {
          clearTimeout(timer)
          reject(e)
        },
      }
      this.waiters.push(waiter)
    })
  }

  private reconcile(): void {
    if (this.closing) return
    const live = this.replicas.filter((r) => r.state === 'starting' || r.state === 'ready')
    const budget = this.options.budget
    const target = budget ? budget.allow(this, this.desired, this.floor()) : this.desired
    this.heldBack = this.desired - target
    if (live.length < target) {
      if (this.restartTimer) return // a crash-looping function starts again after its backoff
      // A new version is starting: more of the one it replaces would only be stopped again.
      if (this.staging.length > 0 && live.length > 0) return
      // The rest start as these become ready (see the 'ready' handler).
      const starting = live.filter((r) => r.state === 'starting').length
      const room = Math.max(0, MAX_STARTING - starting)
      for (let i = 0; i < Math.min(room, target - live.length); i++) this.startReplica()
    } else if (live.length > target) {
      // Remove the ones that are not ready yet first, then the least busy.
      const victims = [...live]
        .sort((a, b) => (a.state === b.state ? a.inflight - b.inflight : a.state === 'starting' ? -1 : 1))
        .slice(0, live.length - target)
      for (const r of victims) void r.close(this.spec.watchdog.writeTimeoutMs)
      // Draining replicas no longer count: a function held back may start its own now.
      budget?.freed()
    }
  }

  private startReplica(spec = this.spec, bundle = this.bundle, staged = false): Replica {
    const replica = new Replica({
      name: `${this.name}-${++this.counter}`,
      ...(this.options.maxResponse ? { maxResponse: this.options.maxResponse } : {}),
      bundle,
      spec,
      ...(this.options.spares ? { spares: this.options.spares } : {}),
      ...(this.options.onOutput ? { onOutput: this.options.onOutput } : {}),
    })
    if (staged) this.staging.push(replica)
    else this.replicas.push(replica)
    replica.on('ready', () => {
      if (this.staging.includes(replica)) return // swap() routes to it, and starts the rest of its version
      this.startFailures = 0
      for (const w of this.waiters.splice(0)) w.resolve()
      this.emit('slot', this)
      this.reconcile()
      if (this.previous.length > 0) this.drainPrevious()
    })
    replica.on('idle-slot', () => this.emit('slot', this))
    replica.on('exit', ({ reason, message }: { reason: ExitReason; message: string }) => {
      this.replicas = this.replicas.filter((r) => r !== replica)
      if (this.previous.length > 0) this.previous = this.previous.filter((r) => r !== replica)
      this.options.budget?.freed()
      const wasStaged = this.staging.includes(replica)
      if (wasStaged) this.staging = this.staging.filter((r) => r !== replica)
      this.retireIfUnused(replica.bundle)
      if (reason === 'stopped' || wasStaged) return // a staged version's failure is swap()'s to report
      this.lastError = { message, replica: replica.name, reason, at: new Date() }
      this.options.onReplicaExit?.(this.name, replica.name, reason, message)
      if (reason === 'start-failed') {
        this.startFailures++
        // Nothing can start: the calls held for it get the reason instead of waiting.
        if (!this.replicas.some((r) => r.accepting || r.state === 'starting')) {
          const err = new FaasError('ERR_REPLICA_START_FAILED', `${message}\n`, { internal: 'of-watchdog' })
          for (const w of this.waiters.splice(0)) w.reject(err)
        }
        const delay = Math.min(MAX_START_BACKOFF_MS, 500 * 2 ** (this.startFailures - 1))
        this.restartTimer = setTimeout(() => {
          this.restartTimer = undefined
          this.reconcile()
        }, delay)
        this.restartTimer.unref()
        return
      }
      this.reconcile()
    })
    return replica
  }
}
