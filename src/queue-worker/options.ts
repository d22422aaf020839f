/**
 * The async settings of `faasdev up`, read once at the edge: CLI flags first, then the
 * OpenFaaS Pro queue-worker environment variables (`max_retry_attempts`, `initial_retry_wait`,
 * `max_retry_wait`, `retry_http_codes`), then the defaults.
 */
import { parseDuration, parseMemory, parseWhole } from '../config/units.js'
import { parseCodes, type RetrySettings } from './retry.js'

/** parseArgs option definitions to spread into the `up` command's options. */
export const ASYNC_FLAGS = {
  'queue-max-messages': { type: 'string' },
  'queue-max-bytes': { type: 'string' },
  'max-retry-attempts': { type: 'string' },
  'initial-retry-wait': { type: 'string' },
  'max-retry-wait': { type: 'string' },
  'retry-http-codes': { type: 'string' },
} as const

export const ASYNC_USAGE = '[--queue-max-messages 100000] [--queue-max-bytes 256Mi] [--max-retry-attempts 10] [--initial-retry-wait 1s] [--max-retry-wait 30s] [--retry-http-codes 408,429,500,502,503,504]'

export interface AsyncSettings {
  queueMaxMessages?: number
  queueMaxBytes?: number
  retry?: Partial<RetrySettings>
}

/** Throws an Error whose message names the flag or variable and the bad value. */
export function asyncSettings(flags: Partial<Record<keyof typeof ASYNC_FLAGS, string | undefined>>, env: NodeJS.ProcessEnv = process.env): AsyncSettings {
  const pick = (flag: keyof typeof ASYNC_FLAGS, envName?: string): [string, string] | undefined => {
    const v = flags[flag]
    if (v !== undefined) return [`--${flag}`, v]
    const e = envName ? env[envName] : undefined
    return e !== undefined && e !== '' ? [envName as string, e] : undefined
  }
  const bad = (where: string, value: string, what: string): never => {
    throw new Error(`${where}: ${JSON.stringify(value)} is not ${what}`)
  }
  const whole = (p: [string, string] | undefined, min: number): number | undefined => {
    if (!p) return undefined
    return parseWhole(p[1], min) ?? bad(p[0], p[1], `a whole number ≥ ${min}`)
  }
  const duration = (p: [string, string] | undefined): number | undefined => (p ? (parseDuration(p[1]) ?? bad(p[0], p[1], 'a duration (e.g. 500ms, 1s, 2m)')) : undefined)

  const out: AsyncSettings = {}
  const maxMessages = whole(pick('queue-max-messages'), 1)
  if (maxMessages !== undefined) out.queueMaxMessages = maxMessages
  const bytes = pick('queue-max-bytes')
  if (bytes) out.queueMaxBytes = parseMemory(bytes[1]) ?? bad(bytes[0], bytes[1], 'a size (e.g. 268435456, 256Mi, 1G)')

  const retry: Partial<RetrySettings> = {}
  const attempts = whole(pick('max-retry-attempts', 'max_retry_attempts'), 1)
  if (attempts !== undefined) retry.maxAttempts = attempts
  const initial = duration(pick('initial-retry-wait', 'initial_retry_wait'))
  if (initial !== undefined) retry.initialWaitMs = initial
  const max = duration(pick('max-retry-wait', 'max_retry_wait'))
  if (max !== undefined) retry.maxWaitMs = max
  const codes = pick('retry-http-codes', 'retry_http_codes')
  if (codes) retry.codes = parseCodes(codes[1]) ?? bad(codes[0], codes[1], 'a list of HTTP status codes (e.g. 429,502,503)')
  if (Object.keys(retry).length > 0) out.retry = retry
  return out
}
