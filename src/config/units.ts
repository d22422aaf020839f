/** Go durations (`1m30s`, `500ms`, `1.5h`) or a plain number of seconds, as the watchdog reads them. */
const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
}

/** Parses a duration into milliseconds; `undefined` when it is not one. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined
  if (typeof value !== 'string') return undefined
  const text = value.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000
  if (text === '0') return 0
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/y
  let total = 0
  let index = 0
  while (index < text.length) {
    part.lastIndex = index
    const match = part.exec(text)
    if (!match) return undefined
    total += Number(match[1]) * (DURATION_UNITS[match[2] as string] as number)
    index = part.lastIndex
  }
  return index > 0 ? total : undefined
}

const MEMORY_SUFFIXES: Record<string, number> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
}

/** Parses a Kubernetes memory quantity (`128Mi`, `1G`, `512000`) into bytes. */
/** A whole number of at least `min` written as text (flags, environment variables), or undefined. */
export function parseWhole(value: string, min: number): number | undefined {
  const n = Number(value)
  return value.trim() !== '' && Number.isInteger(n) && n >= min ? n : undefined
}

export function parseMemory(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? value : undefined
  if (typeof value !== 'string') return undefined
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$/.exec(value.trim())
  if (!match) return undefined
  const bytes = Number(match[1]) * (MEMORY_SUFFIXES[match[2] ?? ''] as number)
  return bytes > 0 ? bytes : undefined
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}
