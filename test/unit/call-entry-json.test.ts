import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CallEntry, type CallStatus } from '../../src/queue-worker/calls.js'

const statuses: CallStatus[] = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'dead-lettered']
const time = fc.integer({ min: 0, max: 4102444800000 })
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined })

/** A transition as the queue-worker makes them: any of the record's fields, any value it can hold. */
const transition = fc.record({
  status: fc.constantFrom(...statuses),
  attempts: fc.nat(20),
  maxAttempts: maybe(fc.integer({ min: 1, max: 20 })),
  lastStatus: maybe(fc.integer({ min: 100, max: 599 })),
  startedAt: maybe(time),
  finishedAt: maybe(time),
  nextAttemptAt: maybe(time),
  callback: maybe(fc.record({ status: maybe(fc.integer({ min: 100, max: 599 })), error: maybe(fc.string()), attempts: fc.nat(5) }, { requiredKeys: ['attempts'] })),
  updatedAt: time,
})

describe('CallEntry.storedJson', () => {
  it('is the stored record JSON.stringify would make, through every transition of a call', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        time,
        maybe(fc.oneof(fc.webUrl(), fc.constant('http://ci:s3cr@t@hooks.example.com/done?x="y"'), fc.string())),
        fc.array(transition, { minLength: 1, maxLength: 5 }),
        (id, fn, submittedAt, callbackUrl, transitions) => {
          const entry = new CallEntry(id, fn, submittedAt, callbackUrl)
          for (const t of transitions) {
            Object.assign(entry, t)
            const text = entry.storedJson()
            expect(text).toBe(JSON.stringify({ ...entry.toJSON(), updatedAt: entry.updatedAt }))
            expect(JSON.parse(text)).toEqual({ ...entry.toJSON(), updatedAt: entry.updatedAt })
          }
        },
      ),
      { numRuns: 500 },
    )
  })
})
