import type { ScaleType } from '../config/stack.js'
import type { Deployment } from '../pool/deployment.js'
import type { Router } from '../router/router.js'
import { headroom, ProcessCpu } from './headroom.js'
import { currentLoad, decide, describeLoad, initialState, type PolicyState } from './policy.js'

export interface AutoscalerOptions {
  router: Router
  /** Time between two ticks; 0 turns the autoscaler off. @default 1000 */
  intervalMs?: number
  /** The window the rps type averages started calls over. @default 5000 */
  rpsWindowMs?: number
  /**
   * A call that finds its function without a free slot brings the next tick forward, but
   * ticks stay at least this far apart. @default 250 (or the interval, when shorter)
   */
  minGapMs?: number
  /**
   * Async messages for a function that wait for a free slot (not yet dispatched). They count
   * as load (`capacity`, `queue`) and wake a function at zero replicas.
   */
  queueDemand?: (name: string) => number
  /** Where scaling decisions and cold starts are logged. @default stderr */
  log?: (line: string) => void
  /**
   * Scale to what the labels ask even when more threads would not serve a function faster
   * (see `headroom()`): OpenFaaS's behaviour on a cluster, where each replica has its own CPU.
   * @default false
   */
  scaleAlways?: boolean
}

/** One function's autoscaling numbers, read by `/metrics` and the UI. */
export interface ScaleSnapshot {
  name: string
  type: ScaleType
  /** Target load per replica (`com.openfaas.scale.target`). */
  target: number
  targetProportion: number
  min: number
  max: number
  /** The load measured at the last tick, in the type's unit. */
  load: number
  /** What the load alone asks for. */
  recommendation: number
  desired: number
  ready: number
  /** The last scaling decision, as logged. */
  lastDecision?: string
  /** The last cold start: from the first held call (or wake-up) to the first ready replica. */
  lastColdStartMs?: number
}

interface Tracked {
  state: PolicyState
  started: number
  seenStarted: number
  rates: { at: number; started: number }[]
  snapshot: ScaleSnapshot
  coldSince?: number
}

/**
 * The loop: every tick it reads a plain stats snapshot of each deployment, asks the policy
 * for a replica count and calls `scale()`. Ticks never overlap (the next is armed after the
 * previous finishes), so a slow cpu sample only delays the loop.
 */
export class Autoscaler {
  private readonly tracked = new Map<string, Tracked>()
  private readonly intervalMs: number
  private readonly rpsWindowMs: number
  private readonly log: (line: string) => void
  private readonly minGapMs: number
  private timer: NodeJS.Timeout | undefined
  private dueAt = Infinity
  private lastTickAt = -Infinity
  private running: Promise<void> | undefined
  private soonAfterRun = false
  private closed = false
  private closing: Promise<void> | undefined
  private readonly cpu = new ProcessCpu()
  /** Idle cores not yet promised to a function during the current tick. */
  private idleCores = 0
  /** Replaceable after construction: the queue-worker may be built after the autoscaler. */
  queueDemand: ((name: string) => number) | undefined

  constructor(private readonly options: AutoscalerOptions) {
    this.intervalMs = options.intervalMs ?? 1000
    this.rpsWindowMs = options.rpsWindowMs ?? 5000
    this.minGapMs = Math.min(options.minGapMs ?? 250, this.intervalMs)
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`))
    this.queueDemand = options.queueDemand
    options.router.observe({
      started: (name) => {
        if (this.closed) return
        const t = this.track(name)
        t.started++
        const d = options.router.deployments.get(name)
        // On every call: freeSlots() is the cheap check, allocation-free.
        if (!d || d.freeSlots() > 1) return
        // A call that finds no ready replica waits for one: the cold start begins now.
        if (d.stats().ready === 0) {
          if (t.coldSince === undefined) this.watchColdStart(d, t)
        }
        // This call takes the last free slot (observers run before it lands) or finds none:
        // waiting up to a whole interval would leave the demand behind it unanswered.
        else this.soon()
      },
    })
  }

  start(): void {
    if (this.closed || this.timer || this.intervalMs <= 0) return
    this.schedule(this.intervalMs)
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer)
    this.dueAt = performance.now() + delayMs
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.dueAt = Infinity
      this.running = this.tick().finally(() => {
        this.running = undefined
        this.lastTickAt = performance.now()
        if (this.closed) return
        const soon = this.soonAfterRun
        this.soonAfterRun = false
        this.schedule(soon ? this.minGapMs : this.intervalMs)
      })
    }, delayMs)
    this.timer.unref()
  }

  /** Brings the next tick forward, keeping ticks `minGapMs` apart. */
  private soon(): void {
    if (this.closed || (this.dueAt === Infinity && !this.running)) return // not started
    if (this.running) {
      this.soonAfterRun = true
      return
    }
    const at = Math.max(performance.now(), this.lastTickAt + this.minGapMs)
    if (at < this.dueAt) this.schedule(at - performance.now())
  }

  /** One pass over every function (exported for tests and benchmarks that step the loop). */
  async tick(now = performance.now()): Promise<void> {
    const { router } = this.options
    const deployments = [...router.deployments.values()].filter((d) => !d.closed)
    for (const name of this.tracked.keys()) if (!router.deployments.has(name)) this.tracked.delete(name)
    // Event-loop utilisation is measured inside each replica since its previous ping. cpu
    // scaling waits for it; whether more replicas of a function without max_inflight would help
    // is judged on what the replicas reported at the previous tick, so that a replica whose
    // handler blocks its event loop never holds up the loop (and every other function) here.
    if (!this.options.scaleAlways) for (const d of deployments) if (d.spec.scale.type !== 'cpu' && d.spec.watchdog.maxInflight === 0) void d.sample()
    await Promise.all(deployments.filter((d) => d.spec.scale.type === 'cpu').map((d) => d.sample()))
    this.idleCores = this.cpu.idle()
    for (const d of deployments) {
      if (this.closed) return
      this.step(d, now)
    }
  }

  private step(d: Deployment, now: number): void {
    const t = this.track(d.name)
    const scale = d.spec.scale
    const s = d.stats()
    const queued = this.queueDemand?.(d.name) ?? 0

    t.rates.push({ at: now, started: t.started })
    while (t.rates.length > 2 && now - (t.rates[1] as { at: number }).at >= this.rpsWindowMs) t.rates.shift()
    const oldest = t.rates[0] as { at: number; started: number }
    const rps = now > oldest.at ? ((t.started - oldest.started) * 1000) / (now - oldest.at) : 0

    const load = currentLoad(scale.type, { rps, inflight: s.inflight, waiting: s.waiting, queued, utilisation: s.utilisation, ready: s.ready })
    const startedSinceTick = t.started > t.seenStarted
    t.seenStarted = t.started
    const demand = s.waiting > 0 || queued > 0
    const useful = this.options.scaleAlways
      ? undefined
      : headroom({ maxInflight: s.maxInflight, ready: s.ready, starting: Math.max(0, s.replicas - s.ready), utilisation: s.utilisation, idleCores: this.idleCores })
    const decision = decide(d.name, scale, { now, current: d.desired, load, active: startedSinceTick || s.inflight > 0 || demand, demand, ...(useful ? { useful } : {}) }, t.state)
    t.state = decision.state
    // The cores a function grows into are not there for the next one in the same tick.
    if (decision.replicas > s.ready) this.idleCores = Math.max(0, this.idleCores - (decision.replicas - s.ready))
    const wasHeld = d.scaleHold !== undefined
    d.scaleHold = decision.held
    // Once per stretch of holding back, not every tick it lasts.
    if (decision.held && !wasHeld && decision.replicas === d.desired)
      this.log(`${d.name}: held at ${decision.replicas} of ${decision.held.wanted} replicas (${describeLoad(scale, load)}; ${decision.held.why})`)
    Object.assign(t.snapshot, {
      type: scale.type,
      target: scale.target,
      targetProportion: scale.targetProportion,
      min: scale.min,
      max: scale.max,
      load,
      recommendation: decision.recommendation,
      desired: decision.replicas,
      ready: s.ready,
    })
    if (decision.replicas === d.desired) return
    if (d.desired === 0 && t.coldSince === undefined) this.watchColdStart(d, t)
    t.snapshot.lastDecision = decision.reason
    this.log(decision.reason)
    d.scale(decision.replicas)
  }

  private watchColdStart(d: Deployment, t: Tracked): void {
    const since = performance.now()
    t.coldSince = since
    const onSlot = (): void => {
      if (d.stats().ready === 0) return
      d.off('slot', onSlot)
      t.coldSince = undefined
      const ms = performance.now() - since
      t.snapshot.lastColdStartMs = ms
      if (!this.closed) this.log(`${d.name}: cold start ${ms.toFixed(0)} ms`)
    }
    d.on('slot', onSlot)
  }

  private track(name: string): Tracked {
    let t = this.tracked.get(name)
    if (!t) {
      const d = this.options.router.deployments.get(name)
      const scale = d?.spec.scale
      t = {
        state: initialState(performance.now()),
        started: 0,
        seenStarted: 0,
        rates: [],
        snapshot: {
          name,
          type: scale?.type ?? 'rps',
          target: scale?.target ?? 0,
          targetProportion: scale?.targetProportion ?? 0,
          min: scale?.min ?? 0,
          max: scale?.max ?? 0,
          load: 0,
          recommendation: d?.desired ?? 0,
          desired: d?.desired ?? 0,
          ready: 0,
        },
      }
      this.tracked.set(name, t)
    }
    return t
  }

  /** Plain per-function numbers from the last tick (target load for `gateway_service_target_load`). */
  snapshot(): Record<string, ScaleSnapshot> {
    const out: Record<string, ScaleSnapshot> = {}
    for (const d of this.options.router.deployments.values()) out[d.name] = { ...this.track(d.name).snapshot }
    return out
  }

  /** Stops the loop (the deployments keep their replica counts); a second call returns the same promise. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true
      if (this.timer) clearTimeout(this.timer)
      await this.running
    })()
    return this.closing
  }
}
