/**
 * The retry policy of the queue-worker as pure functions: which results are retried, and how
 * long to wait before the next attempt. Plain data in, plain data out; no timers here.
 */
import type { RetrySpec } from '../config/stack.js'

export interface RetrySettings {
  /** Attempts in total, the first included (`max_retry_attempts`). @default 10 */
  maxAttempts: number
  /** Wait before the first retry (`initial_retry_wait`). @default 1000 */
  initialWaitMs: number
  /** Cap on one computed wait (`max_retry_wait`). @default 30000 */
  maxWaitMs: number
  /** Statuses that are retried (`retry_http_codes`). @default [408, 429, 500, 502, 503, 504] */
  codes: number[]
}

export const RETRY_DEFAULTS: Readonly<RetrySettings> = Object.freeze({
  maxAttempts: 10,
  initialWaitMs: 1000,
  maxWaitMs: 30_000,
  codes: Object.freeze([408, 429, 500, 502, 503, 504]) as number[],
})

/** A function's annotations (`com.openfaas.retry.*`) override the global settings field by field. */
export function effectiveRetry(global: RetrySettings, spec: RetrySpec | undefined): RetrySettings {
  const minWait = spec?.minWaitMs ?? global.initialWaitMs
  return {
    maxAttempts: spec?.attempts ?? global.maxAttempts,
    initialWaitMs: minWait,
    // A min_wait above the global cap would otherwise be cut down to it.
    maxWaitMs: Math.max(minWait, spec?.maxWaitMs ?? global.maxWaitMs),
    codes: spec?.codes ?? global.codes,
  }
}

/** Retried: a status from the list, or any error the platform generated (`X-OpenFaaS-Internal`). */
export function isRetryable(status: number, internal: boolean, settings: RetrySettings): boolean {
  return internal || settings.codes.includes(status)
}

/** `Retry-After` as milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined
  const text = value.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000)
  const at = Date.parse(text)
  if (Number.isNaN(at)) return undefined
  return Math.max(0, at - now)
}

/** Longest wait a `Retry-After` may impose, so a bogus header cannot park a call for days. */
export const RETRY_AFTER_CEILING_MS = 60 * 60 * 1000

/**
 * Wait before retry number `retry` (1 = the first retry, after attempt 1 failed).
 * Exponential: `min(maxWait, initialWait × 2^(retry-1))`, with "equal jitter" (half fixed, half
 * random) so many calls failing together do not come back together, yet never wait less than
 * half the step. A `Retry-After` from the function replaces the computed wait, floored at the
 * initial wait and not capped by `maxWait` (the function asked for it explicitly).
 */
export function retryDelay(retry: number, settings: RetrySettings, retryAfterMs?: number, random: number = Math.random()): number {
  if (retryAfterMs !== undefined) return Math.min(RETRY_AFTER_CEILING_MS, Math.max(settings.initialWaitMs, retryAfterMs))
  const step = Math.min(settings.maxWaitMs, settings.initialWaitMs * 2 ** Math.max(0, retry - 1))
  return Math.round(step / 2 + (step / 2) * Math.min(1, Math.max(0, random)))
}

/** Parses `retry_http_codes` / `--retry-http-codes` ("429,502 503"); undefined when not a list of statuses. */
export function parseCodes(text: string): number[] | undefined {
  const list = text.split(/[\s,]+/).filter(Boolean).map(Number)
  if (list.length === 0 || list.some((c) => !Number.isInteger(c) || c < 100 || c > 599)) return undefined
  return list
}
