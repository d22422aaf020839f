import { describe, expect, it } from 'vitest'
import { effectiveRetry, isRetryable, parseCodes, parseRetryAfter, RETRY_DEFAULTS, retryDelay, type RetrySettings } from '../../src/queue-worker/retry.js'

const S: RetrySettings = { maxAttempts: 10, initialWaitMs: 1000, maxWaitMs: 30_000, codes: [408, 429, 500, 502, 503, 504] }

describe('retry policy', () => {
  it('has the OpenFaaS Pro defaults', () => {
    expect(RETRY_DEFAULTS).toEqual(S)
  })

  it('doubles the wait from the initial wait up to the cap, with equal jitter between half and the whole step', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => retryDelay(n, S, undefined, 1))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000])
    expect([1, 2, 3, 6].map((n) => retryDelay(n, S, undefined, 0))).toEqual([500, 1000, 2000, 15_000])
    expect(retryDelay(3, S, undefined, 0.5)).toBe(3000)
    // Out-of-range randomness is clamped, huge retry numbers do not overflow.
    expect(retryDelay(2, S, undefined, 7)).toBe(2000)
    expect(retryDelay(5000, S, undefined, 1)).toBe(30_000)
  })

  it('lets Retry-After replace the computed wait, floored at the initial wait and bounded by an hour', () => {
    expect(retryDelay(1, S, 5000, 0)).toBe(5000)
    expect(retryDelay(6, S, 120_000, 0)).toBe(120_000)
    expect(retryDelay(1, S, 10, 0)).toBe(1000)
    expect(retryDelay(1, S, 10 * 24 * 3600 * 1000, 0)).toBe(3600 * 1000)
  })

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(parseRetryAfter('3', now)).toBe(3000)
    expect(parseRetryAfter(' 0.5 ', now)).toBe(500)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:07 GMT', now)).toBe(7000)
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0)
    expect(parseRetryAfter('soon', now)).toBeUndefined()
    expect(parseRetryAfter(undefined, now)).toBeUndefined()
  })

  it('retries listed statuses and any platform error, nothing else', () => {
    expect(isRetryable(503, false, S)).toBe(true)
    expect(isRetryable(429, false, S)).toBe(true)
    expect(isRetryable(404, false, S)).toBe(false)
    expect(isRetryable(200, false, S)).toBe(false)
    expect(isRetryable(404, true, S)).toBe(true)
  })

  it('takes per-function annotations over the global settings, field by field', () => {
    expect(effectiveRetry(S, {})).toEqual(S)
    expect(effectiveRetry(S, undefined)).toEqual(S)
    expect(effectiveRetry(S, { attempts: 3, codes: [500], minWaitMs: 50, maxWaitMs: 200 })).toEqual({ maxAttempts: 3, initialWaitMs: 50, maxWaitMs: 200, codes: [500] })
    expect(effectiveRetry(S, { minWaitMs: 60_000 })).toMatchObject({ initialWaitMs: 60_000, maxWaitMs: 60_000 })
  })

  it('parses a list of retry codes', () => {
    expect(parseCodes('429, 502 503')).toEqual([429, 502, 503])
    expect(parseCodes('')).toBeUndefined()
    expect(parseCodes('429,abc')).toBeUndefined()
    expect(parseCodes('99')).toBeUndefined()
  })
})
