/**
 * The `schedule` annotation, read as OpenFaaS's cron-connector reads it (robfig/cron with
 * five fields and descriptors): `*\/5 * * * *`, `@hourly`, `@daily`/`@midnight`, `@weekly`,
 * `@monthly`, `@yearly`/`@annually`, `@every 1m30s`, optionally prefixed with `CRON_TZ=Zone`
 * or `TZ=Zone`. Cron expressions are evaluated by croner; `@every` is an interval. Pure: no
 * timers here, the scheduler asks for the next run.
 */
import { Cron } from 'croner'
import { parseDuration } from '../config/units.js'

export interface Schedule {
  /** The annotation as written. */
  readonly text: string
  /** The first run strictly after `after`, or undefined when there is none. */
  next(after: Date): Date | undefined
}

export type ScheduleResult = { ok: true; schedule: Schedule } | { ok: false; error: string }

/**
 * Go's `time.ParseDuration` (what `@every` takes) in milliseconds: every number needs a unit
 * (`90s`, `1h30m`, `1.5h`), `0` alone is allowed; undefined when it is not one.
 */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0
  // The watchdog's reading also takes a bare number of seconds; Go's does not.
  if (text.trim() !== text || /^[\d.]*$/.test(text)) return undefined
  return parseDuration(text)
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']
const FIELD_NAMES = ['minute', 'hour', 'day of month', 'month', 'day of week']

/**
 * croner understands more than robfig/cron (`L`, `W`, `#`, seconds and years): a schedule
 * written with those would run here and be refused by the cron-connector, so only robfig's
 * grammar passes (numbers, `*`, `?`, ranges, steps, lists, month and day names).
 */
function robfigGrammar(fields: string[]): string | undefined {
  for (const [i, field] of fields.entries()) {
    const names = i === 3 ? MONTHS : i === 4 ? DAYS : []
    for (const token of field.split(/[,/-]/)) {
      if (token === '*' || token === '?' || /^\d+$/.test(token) || names.includes(token.toLowerCase())) continue
      return `${FIELD_NAMES[i]} field ${JSON.stringify(field)}: ${token === '' ? 'empty part' : `${JSON.stringify(token)} is not a number${names.length ? ', a name' : ''} or *`}`
    }
  }
  return undefined
}

function validZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return true
  } catch {
    return false
  }
}

const EXAMPLES = 'e.g. "*/5 * * * *", "@hourly", "@every 30s"'

/** Parses a `schedule` annotation; the error says what is wrong with it. */
export function parseSchedule(text: string): ScheduleResult {
  let rest = text.trim()
  let timezone: string | undefined
  const tz = /^(?:CRON_TZ|TZ)=(\S+)\s+/.exec(rest)
  if (tz) {
    timezone = tz[1] as string
    if (!validZone(timezone)) return { ok: false, error: `unknown time zone ${JSON.stringify(timezone)} (an IANA name such as Europe/Paris)` }
    rest = rest.slice(tz[0].length)
  }
  if (rest === '') return { ok: false, error: `empty schedule (${EXAMPLES})` }

  if (rest.startsWith('@every')) {
    const arg = rest.slice('@every'.length).trim()
    const ms = arg === '' || rest[6] !== ' ' ? undefined : parseGoDuration(arg)
    if (ms === undefined) return { ok: false, error: `"@every" takes a Go duration such as 30s, 5m or 1h30m, got ${JSON.stringify(arg)}` }
    if (ms <= 0) return { ok: false, error: `"@every ${arg}": the interval must be above zero` }
    // robfig/cron: an interval below one second runs every second, and is kept to whole seconds.
    const delay = Math.max(1000, Math.floor(ms / 1000) * 1000)
    // On multiples of the interval since the epoch (robfig counts from when it starts): every
    // instance sharing a queue then plans the same runs, and submits each once.
    return { ok: true, schedule: { text, next: (after) => new Date((Math.floor(after.getTime() / delay) + 1) * delay) } }
  }

  if (!rest.startsWith('@')) {
    const fields = rest.split(/\s+/)
    if (fields.length !== 5) return { ok: false, error: `expected 5 fields (minute hour day-of-month month day-of-week) or a descriptor, got ${fields.length} (${EXAMPLES})` }
    const problem = robfigGrammar(fields)
    if (problem) return { ok: false, error: problem }
  }
  let cron: Cron
  try {
    cron = new Cron(rest, { mode: '5-part', sloppyRanges: true, ...(timezone ? { timezone } : {}) })
  } catch (err) {
    const detail = (err as Error).message.replace(/^CronPattern: /, '')
    return { ok: false, error: rest.startsWith('@') ? `unknown descriptor ${JSON.stringify(rest)} (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every DURATION)` : detail }
  }
  if (!cron.nextRun()) return { ok: false, error: `${JSON.stringify(rest)} matches no date` }
  return { ok: true, schedule: { text, next: (after) => cron.nextRun(after) ?? undefined } }
}
