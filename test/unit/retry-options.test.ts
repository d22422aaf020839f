import { describe, expect, it } from 'vitest'
import { asyncSettings } from '../../src/queue-worker/options.js'

describe('async settings from flags and environment', () => {
  it('reads the OpenFaaS Pro environment variable names, and flags win over them', () => {
    const env = { max_retry_attempts: '4', initial_retry_wait: '250ms', max_retry_wait: '5s', retry_http_codes: '429, 503' }
    expect(asyncSettings({}, env)).toEqual({ retry: { maxAttempts: 4, initialWaitMs: 250, maxWaitMs: 5000, codes: [429, 503] } })
    expect(asyncSettings({ 'max-retry-attempts': '2', 'retry-http-codes': '500', 'queue-max-messages': '50', 'queue-max-bytes': '1Mi' }, env)).toEqual({
      queueMaxMessages: 50,
      queueMaxBytes: 1024 * 1024,
      retry: { maxAttempts: 2, initialWaitMs: 250, maxWaitMs: 5000, codes: [500] },
    })
    expect(asyncSettings({}, {})).toEqual({})
  })

  it('names the flag or variable and the value it cannot read', () => {
    expect(() => asyncSettings({ 'max-retry-attempts': '0' }, {})).toThrow('--max-retry-attempts: "0" is not a whole number ≥ 1')
    expect(() => asyncSettings({}, { initial_retry_wait: 'soon' })).toThrow('initial_retry_wait: "soon" is not a duration')
    expect(() => asyncSettings({ 'retry-http-codes': '4xx' }, {})).toThrow('--retry-http-codes')
    expect(() => asyncSettings({ 'queue-max-bytes': 'lots' }, {})).toThrow('--queue-max-bytes')
  })
})
