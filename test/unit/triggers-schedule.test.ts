import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { isPublishableTopic, readTriggers } from '../../src/triggers/annotations.js'
import { parseGoDuration, parseSchedule, type Schedule } from '../../src/triggers/schedule.js'

function parse(text: string): Schedule {
  const r = parseSchedule(text)
  if (!r.ok) throw new Error(r.error)
  return r.schedule
}

function error(text: string): string {
  const r = parseSchedule(text)
  if (r.ok) throw new Error(`${text} parsed`)
  return r.error
}

/** A local time, as cron reads it (schedules without CRON_TZ use the machine's zone). */
const local = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0): Date => new Date(y, mo - 1, d, h, mi, s)

describe('parseSchedule', () => {
  it('reads five-field cron expressions as robfig/cron does', () => {
    const from = local(2026, 3, 4, 10, 7, 30) // a Wednesday
    expect(parse('*/5 * * * *').next(from)).toEqual(local(2026, 3, 4, 10, 10))
    expect(parse('0 9 * * MON-FRI').next(from)).toEqual(local(2026, 3, 5, 9, 0))
    expect(parse('30 2 1 jan *').next(from)).toEqual(local(2027, 1, 1, 2, 30))
    expect(parse('0 0 ? * sun').next(from)).toEqual(local(2026, 3, 8))
    // robfig's "N/step" is "N-max/step".
    expect(parse('5/20 * * * *').next(from)).toEqual(local(2026, 3, 4, 10, 25))
    // Day of month and day of week both given: either matches, as in Vixie cron.
    expect(parse('0 0 13 * fri').next(from)).toEqual(local(2026, 3, 6))
  })

  it('reads the descriptors the cron-connector accepts', () => {
    const from = local(2026, 3, 4, 10, 7, 30)
    expect(parse('@hourly').next(from)).toEqual(local(2026, 3, 4, 11))
    expect(parse('@daily').next(from)).toEqual(local(2026, 3, 5))
    expect(parse('@midnight').next(from)).toEqual(local(2026, 3, 5))
    expect(parse('@weekly').next(from)).toEqual(local(2026, 3, 8))
    expect(parse('@monthly').next(from)).toEqual(local(2026, 4, 1))
    expect(parse('@yearly').next(from)).toEqual(local(2027, 1, 1))
    expect(parse('@annually').next(from)).toEqual(local(2027, 1, 1))
  })

  it('reads @every as an interval of whole seconds, at least one', () => {
    const from = new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 400))
    expect(parse('@every 30s').next(from)!.getTime() - Date.UTC(2026, 0, 1)).toBe(30_000)
    expect(parse('@every 1h30m').next(from)!.getTime() - Date.UTC(2026, 0, 1)).toBe(5_400_000)
    expect(parse('@every 1.5s').next(from)!.getTime() - Date.UTC(2026, 0, 1)).toBe(1000)
    expect(parse('@every 200ms').next(from)!.getTime() - Date.UTC(2026, 0, 1)).toBe(1000)
    // On multiples of the interval, whenever counting starts: instances plan the same runs.
    expect(parse('@every 30s').next(new Date(Date.UTC(2026, 0, 1, 0, 0, 17, 200)))).toEqual(new Date(Date.UTC(2026, 0, 1, 0, 0, 30)))
    expect(parse('@every 30s').next(new Date(Date.UTC(2026, 0, 1, 0, 0, 30)))).toEqual(new Date(Date.UTC(2026, 0, 1, 0, 1, 0)))
  })

  it('honours a CRON_TZ prefix', () => {
    const s = parse('CRON_TZ=Asia/Tokyo 0 6 * * *')
    // 06:00 in Tokyo is 21:00 UTC the day before.
    expect(s.next(new Date(Date.UTC(2026, 5, 1, 12)))).toEqual(new Date(Date.UTC(2026, 5, 1, 21)))
    expect(error('TZ=Mars/Olympus 0 6 * * *')).toMatch(/unknown time zone "Mars\/Olympus"/)
  })

  it('refuses what the cron-connector refuses, saying why', () => {
    expect(error('')).toMatch(/empty schedule/)
    expect(error('* * * *')).toMatch(/expected 5 fields .* got 4/)
    expect(error('0 * * * * *')).toMatch(/expected 5 fields .* got 6/)
    expect(error('61 * * * *')).toMatch(/minute/)
    expect(error('0 25 * * *')).toMatch(/hour/)
    expect(error('0 0 L * *')).toMatch(/day of month field "L"/)
    expect(error('0 0 * * FRI#2')).toMatch(/day of week field "FRI#2"/)
    expect(error('0 0 * foo *')).toMatch(/month field "foo"/)
    expect(error('@fortnightly')).toMatch(/unknown descriptor "@fortnightly"/)
    expect(error('@every')).toMatch(/Go duration/)
    expect(error('@every 30')).toMatch(/Go duration .* got "30"/)
    expect(error('@every5s')).toMatch(/Go duration/)
    expect(error('@every 0s')).toMatch(/above zero/)
    expect(error('0 0 31 2 *')).toMatch(/matches no date/)
  })

  it('never throws, and a schedule it accepts always has a later run', () => {
    const token = fc.oneof(fc.constantFrom('*', '?', '*/5', '1-5', 'mon', 'jan', 'L', '#', '/', '-', ',', '7', '60', ''), fc.nat(70).map(String))
    fc.assert(
      fc.property(fc.array(fc.array(token, { minLength: 1, maxLength: 3 }).map((t) => t.join(',')), { minLength: 1, maxLength: 7 }), fc.date({ min: new Date(2000, 0, 1), max: new Date(2090, 0, 1), noInvalidDate: true }), (fields, from) => {
        const r = parseSchedule(fields.join(' '))
        if (r.ok) expect(r.schedule.next(from)!.getTime()).toBeGreaterThan(from.getTime())
        else expect(r.error).not.toBe('')
      }),
    )
  })
})

describe('parseGoDuration', () => {
  it('reads Go durations and nothing else', () => {
    expect(parseGoDuration('90s')).toBe(90_000)
    expect(parseGoDuration('1h30m')).toBe(5_400_000)
    expect(parseGoDuration('1.5h')).toBe(5_400_000)
    expect(parseGoDuration('250ms')).toBe(250)
    expect(parseGoDuration('0')).toBe(0)
    for (const bad of ['', '30', 's', '1d', '1h 30m', '-1s']) expect(parseGoDuration(bad)).toBeUndefined()
  })
})

describe('readTriggers', () => {
  it('reads a topic list, trimmed and without duplicates', () => {
    const r = readTriggers({ topic: 'orders.created, invoices.paid,orders.created' })
    expect(r).toEqual({ ok: true, triggers: { topics: ['orders.created', 'invoices.paid'] } })
  })

  it('schedules a cron-function, also alongside other topics', () => {
    const r = readTriggers({ topic: 'cron-function,orders.created', schedule: '@every 10s' })
    expect(r.ok && r.triggers.schedule?.text).toBe('@every 10s')
    expect(r.ok && r.triggers.topics).toEqual(['cron-function', 'orders.created'])
  })

  it('names the annotation that is wrong', () => {
    expect(readTriggers({ topic: 'cron-function' })).toMatchObject({ ok: false, problem: { key: 'topic', detail: expect.stringMatching(/needs a schedule/) } })
    expect(readTriggers({ topic: 'cron-function', schedule: '*/5 * *' })).toMatchObject({ ok: false, problem: { key: 'schedule', detail: expect.stringMatching(/^"\*\/5 \* \*" is not a schedule: expected 5 fields/) } })
    expect(readTriggers({ topic: 'orders.*' })).toMatchObject({ ok: false, problem: { key: 'topic' } })
    expect(readTriggers({ schedule: '@hourly' })).toMatchObject({ ok: true, triggers: { topics: [] }, warning: { key: 'schedule' } })
  })

  it('knows a publishable topic', () => {
    for (const ok of ['a', 'orders.created', 'cron-function', 'a_b.c-d']) expect(isPublishableTopic(ok)).toBe(true)
    for (const bad of ['', 'a..b', '.a', 'a.', 'a.*', 'a.>', 'a b', '$JS.API.INFO', 'x'.repeat(300)]) expect(isPublishableTopic(bad)).toBe(false)
  })
})
