import { readFile } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Router } from '../router/router.js'
import type { CallSeries, RollingStats } from '../stats/rolling.js'

/** Async-queue figures of one function, as the dashboard shows them. */
export interface QueueFigures {
  /** Accepted calls waiting for a free slot. */
  pending: number
  /** Async calls running now. */
  inflight: number
  /** Calls waiting for their retry delay. */
  retrying: number
  deadLetters: number
}

/** What a queue-worker reports per function (its `stats()`); missing numbers count as 0. */
export interface QueueWorkerFigures {
  name: string
  pending?: number
  inflight?: number
  retrying?: number
  deadLettered?: number
}

export type FunctionStatusName = 'ready' | 'scaling' | 'building' | 'build error' | 'skipped'

export interface UiFunction {
  name: string
  status: FunctionStatusName
  lang: string
  /** Has replicas (or can get them): it can be invoked. */
  deployed: boolean
  /** Why a function is skipped or failed to build, or the last replica error. */
  reason?: string
  desired: number
  ready: number
  inflight: number
  maxInflight?: number
  /** Desired replicas the machine budget (`--max-replicas-total`) keeps from starting. */
  heldBack?: number
  /** Replicas the load asks for that the autoscaler holds back, and why. */
  scaleHold?: { wanted: number; why: string }
  callsPerSec: number
  throttledPerSec: number
  errorRate: number
  p95Ms: number | null
  /** 429s over the whole history (the chart's span). */
  throttledTotal: number
  queue: QueueFigures
  series: CallSeries
  /** Active injected faults, e.g. `crash (2 left)`. */
  faults?: string[]
  /** Its topics and schedule, when it has a `topic` annotation. */
  triggers?: UiTriggers
}

export interface UiTriggers {
  topics: string[]
  schedule?: string
  /** ISO time of the next scheduled call. */
  nextRun?: string
}

export interface UiSnapshot {
  time: string
  /** Seconds the rates (calls/s, error rate, p95) are computed over. */
  windowSeconds: number
  functions: UiFunction[]
}

export interface UiOptions {
  router: Router
  stats: RollingStats
  /** Per-function queue figures; without it they are 0. */
  queue?: () => Iterable<QueueWorkerFigures>
  /** A function being rebuilt, or whose last rebuild failed (the old version keeps serving). */
  build?: (name: string) => { building: boolean; error?: string } | undefined
  /** A function's triggers (topics, schedule, next run). */
  triggers?: (name: string) => UiTriggers | undefined
  /** Active injected faults of a function, described for people. */
  faults?: (name: string) => string[]
  /** Seconds between two snapshots on the stream. @default 1 */
  intervalSeconds?: number
  /** @default 10 */
  windowSeconds?: number
  /** Seconds per chart point. @default 2 */
  chartStep?: number
}

const STATIC_DIR = new URL('../ui/static/', import.meta.url)
const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'favicon.ico': 'image/x-icon',
}

/** One plain-data picture of every function for the dashboard. */
export function uiSnapshot(options: UiOptions, nowMs = Date.now()): UiSnapshot {
  const { router, stats } = options
  const windowSeconds = options.windowSeconds ?? 10
  const queue = new Map<string, QueueWorkerFigures>()
  for (const q of options.queue?.() ?? []) queue.set(q.name, q)
  const functions: UiFunction[] = []
  const empty = (name: string): Omit<UiFunction, 'name' | 'status' | 'lang' | 'deployed'> => {
    const sum = stats.summary(name, nowMs, windowSeconds)
    const q = queue.get(name)
    return {
      desired: 0,
      ready: 0,
      inflight: 0,
      callsPerSec: sum.callsPerSec,
      throttledPerSec: sum.throttledPerSec,
      errorRate: sum.errorRate,
      p95Ms: sum.p95Ms ?? null,
      throttledTotal: stats.summary(name, nowMs, stats.seconds).throttled,
      queue: { pending: q?.pending ?? 0, inflight: q?.inflight ?? 0, retrying: q?.retrying ?? 0, deadLetters: q?.deadLettered ?? 0 },
      series: stats.series(name, nowMs, options.chartStep ?? 2),
    }
  }
  for (const d of router.deployments.values()) {
    const s = d.stats()
    const build = options.build?.(d.name)
    // Replicas held back by the machine budget are not coming: the function is not 'scaling' for them.
    const runs = s.desired - (s.heldBack ?? 0)
    const status: FunctionStatusName = build?.building ? 'building' : build?.error ? 'build error' : s.ready !== runs || s.replicas !== runs ? 'scaling' : 'ready'
    const reason = build?.error ?? s.lastError
    const triggers = options.triggers?.(d.name)
    const faults = options.faults?.(d.name) ?? []
    functions.push({
      name: d.name,
      status,
      lang: d.spec.lang,
      deployed: true,
      ...(reason ? { reason } : {}),
      ...(faults.length > 0 ? { faults } : {}),
      ...empty(d.name),
      desired: s.desired,
      ready: s.ready,
      inflight: s.inflight + s.waiting,
      ...(s.maxInflight ? { maxInflight: s.maxInflight } : {}),
      ...(s.heldBack ? { heldBack: s.heldBack } : {}),
      ...(s.scaleHold ? { scaleHold: s.scaleHold } : {}),
      ...(triggers ? { triggers } : {}),
    })
  }
  for (const [name, { spec, reason }] of router.failed) {
    if (!router.deployments.has(name)) functions.push({ name, status: 'build error', lang: spec.lang, deployed: false, reason, ...empty(name) })
  }
  for (const [name, s] of router.skipped) functions.push({ name, status: 'skipped', lang: s.lang, deployed: false, reason: s.reason, ...empty(name) })
  functions.sort((a, b) => Number(b.deployed) - Number(a.deployed) || a.name.localeCompare(b.name))
  return { time: new Date(nowMs).toISOString(), windowSeconds, functions }
}

/**
 * The dashboard: static files under `/ui/` (read from disk, no build step, no CDN), a JSON
 * snapshot and a Server-Sent Events stream of snapshots. Registered as a gateway plugin.
 */
export function uiRoutes(options: UiOptions) {
  return (app: FastifyInstance): void => {
    const streams = new Set<ServerResponse>()
    // An open stream would hold `app.close()` until the browser goes away.
    app.addHook('preClose', (done) => {
      for (const s of streams) s.end()
      streams.clear()
      done()
    })

    app.get('/', async (_req, reply) => reply.redirect('/ui/', 307))
    app.get('/ui', async (_req, reply) => reply.redirect('/ui/', 307))
    const asset = async (file: string, reply: FastifyReply) => {
      const type = ASSETS[file]
      if (!type) return reply.code(404).type('text/plain; charset=utf-8').send(`no dashboard file ${file}\n`)
      return reply.type(type).header('cache-control', 'no-cache').send(await readFile(new URL(file, STATIC_DIR)))
    }
    app.get('/ui/', async (_req, reply) => asset('index.html', reply))
    // Browsers ask the site root for it too, whatever the page says.
    app.get('/favicon.ico', async (_req, reply) => asset('favicon.ico', reply))
    app.get<{ Params: { file: string } }>('/ui/:file', async (request, reply) => asset(request.params.file, reply))

    app.get('/system/ui-snapshot', async () => uiSnapshot(options))

    app.get('/system/ui-stream', (_request, reply) => {
      reply.hijack()
      const res = reply.raw
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' })
      const send = (): void => {
        if (!res.writableEnded) res.write(`data: ${JSON.stringify(uiSnapshot(options))}\n\n`)
      }
      send()
      const timer = setInterval(send, (options.intervalSeconds ?? 1) * 1000)
      streams.add(res)
      res.once('close', () => {
        clearInterval(timer)
        streams.delete(res)
      })
    })
  }
}
