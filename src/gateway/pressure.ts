import { totalmem } from 'node:os'
import { getHeapStatistics } from 'node:v8'
import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import { parseDuration, parseMemory } from '../config/units.js'
import { FaasError } from '../errors.js'

export interface PressureOptions {
  /** Mean event-loop delay over a sample above which the gateway sheds load, in ms; 0 turns the check off. @default 1000 */
  maxEventLoopDelayMs?: number
  /** Main-thread heap used above which the gateway sheds load, in bytes; 0 = off. @default 90% of the V8 heap limit */
  maxHeapBytes?: number
  /** Process RSS (replicas included: they are threads of this process) above which the gateway sheds load; 0 = off. @default 80% of the machine's memory */
  maxRssBytes?: number
  /** How often the numbers are sampled, in ms. @default 1000 */
  sampleIntervalMs?: number
  /** `Retry-After` seconds on a 503. @default 5 */
  retryAfterSeconds?: number
}

export function pressureDefaults(): Required<PressureOptions> {
  return {
    maxEventLoopDelayMs: 1000,
    maxHeapBytes: Math.floor(getHeapStatistics().heap_size_limit * 0.9),
    maxRssBytes: Math.floor(totalmem() * 0.8),
    sampleIntervalMs: 1000,
    retryAfterSeconds: 5,
  }
}

// Liveness and scraping must keep answering while the gateway sheds load: a restart loop
// or a gap in the graphs is the last thing an overloaded process needs.
const EXEMPT = new Set(['/healthz', '/metrics'])

const WHAT: Record<string, [string, string, (v: number) => string]> = {
  eventLoopDelay: ['event-loop delay', '--max-event-loop-delay', (v) => `${Math.round(v)} ms`],
  heapUsedBytes: ['heap used', '--max-heap', (v) => `${Math.round(v / 2 ** 20)} MiB`],
  rssBytes: ['RSS', '--max-rss', (v) => `${Math.round(v / 2 ** 20)} MiB`],
}

/**
 * The gateway's own circuit breaker (@fastify/under-pressure): above a threshold every
 * route but `/healthz` and `/metrics` answers 503 with `Retry-After`, `/readyz` included, so
 * a load balancer or a test harness backs off instead of piling more work on.
 */
export function pressurePlugin(options: PressureOptions = {}) {
  const o = { ...pressureDefaults(), ...options }
  const limits: Record<string, number> = { eventLoopDelay: o.maxEventLoopDelayMs, heapUsedBytes: o.maxHeapBytes, rssBytes: o.maxRssBytes }
  return async (app: FastifyInstance): Promise<void> => {
    // Sampling only (no thresholds given): with a threshold, under-pressure adds a hook of its
    // own that runs on every request (and builds `request.routeOptions` there) only to call
    // a handler that lets the request through; the hook below decides on the same samples.
    await app.register(underPressure, { sampleInterval: o.sampleIntervalMs })
    const over = (usage: { eventLoopDelay: number; heapUsed: number; rssBytes: number }): boolean =>
      (o.maxEventLoopDelayMs > 0 && usage.eventLoopDelay > o.maxEventLoopDelayMs) || (o.maxHeapBytes > 0 && usage.heapUsed > o.maxHeapBytes) || (o.maxRssBytes > 0 && usage.rssBytes > o.maxRssBytes)
    // A callback hook, not an async one: it runs on every request, and almost always passes.
    app.addHook('onRequest', (request, _reply, done) => {
      const usage = app.memoryUsage()
      if (!over(usage)) return done()
      const q = request.url.indexOf('?')
      if (EXEMPT.has(q < 0 ? request.url : request.url.slice(0, q))) return done()
      const values: Record<string, number> = { eventLoopDelay: usage.eventLoopDelay, heapUsedBytes: usage.heapUsed, rssBytes: usage.rssBytes }
      // Every limit passed is named: a slow loop during a heap alarm (GC, a loaded machine)
      // must not hide the heap, which is what the operator has to act on.
      const passed = Object.keys(WHAT).filter((k) => (limits[k] ?? 0) > 0 && (values[k] ?? 0) > (limits[k] ?? 0))
      const reasons = (passed.length > 0 ? passed : ['eventLoopDelay']).map((key) => {
        const [what, flag, formatValue] = WHAT[key] ?? ['load', '', String]
        // under-pressure reports Infinity when the loop was blocked through a whole sample.
        const format = (v: number): string => (Number.isFinite(v) ? formatValue(v) : `at least ${formatValue(o.sampleIntervalMs)}`)
        return `${what} ${format(values[key] ?? 0)} > ${format(limits[key] ?? 0)} (${flag})`
      })
      done(
        new FaasError('ERR_OVERLOADED', `gateway overloaded: ${reasons.join(', ')}; retry later\n`, {
          internal: 'gateway',
          headers: { 'Retry-After': String(o.retryAfterSeconds) },
        }),
      )
    })
  }
}

/** `faasdev up` flags for the thresholds (parseArgs options). */
export const PRESSURE_FLAGS = {
  'max-event-loop-delay': { type: 'string' },
  'max-heap': { type: 'string' },
  'max-rss': { type: 'string' },
} as const

/** Reads the threshold flags (`1s`, `250ms`; `1.5Gi`, `800Mi`; `0` turns a check off); throws with the flag's name. */
export function pressureSettings(values: { 'max-event-loop-delay'?: string | undefined; 'max-heap'?: string | undefined; 'max-rss'?: string | undefined }): { pressure?: PressureOptions } {
  const pressure: PressureOptions = {}
  const delay = values['max-event-loop-delay']
  if (delay !== undefined) {
    const ms = delay === '0' ? 0 : parseDuration(delay)
    if (ms === undefined) throw new Error(`--max-event-loop-delay: ${JSON.stringify(delay)} is not a duration (e.g. 1s, 250ms; 0 turns the check off)`)
    pressure.maxEventLoopDelayMs = ms
  }
  for (const [flag, key] of [['max-heap', 'maxHeapBytes'], ['max-rss', 'maxRssBytes']] as const) {
    const raw = values[flag]
    if (raw === undefined) continue
    const bytes = raw === '0' ? 0 : parseMemory(raw)
    if (bytes === undefined) throw new Error(`--${flag}: ${JSON.stringify(raw)} is not a memory quantity (e.g. 1.5Gi, 800Mi; 0 turns the check off)`)
    pressure[key] = bytes
  }
  return Object.keys(pressure).length > 0 ? { pressure } : {}
}
