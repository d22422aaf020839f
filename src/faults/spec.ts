/**
 * What a fault is, and the one validation of a fault request (HTTP, CLI and `rt.faults` alike):
 * a bad field is a 400 that names it.
 */
import { FaasError } from '../errors.js'

export const FAULT_KINDS = ['error', 'latency', 'timeout', 'crash', 'oom', 'cold', 'callback'] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

/** A fault to inject: the function's next `count` calls (sync or async) meet it. */
export interface FaultSpec {
  /** The function's name (`NAME` or `NAME.openfaas-fn`). */
  function: string
  kind: FaultKind
  /** Calls that meet the fault before it is spent. @default 1 */
  count?: number
  /** `latency` only, and required there: milliseconds added before the handler runs. */
  ms?: number
  /** `error` only: the status the platform answers. @default 500 */
  status?: number
  /** Chance, 0…1, that a call meets the fault (spent only by calls that do). @default 1 */
  probability?: number
}

/** An injected fault, as `GET /system/faults` lists it. */
export interface Fault {
  id: string
  function: string
  kind: FaultKind
  count: number
  /** Calls still to meet it. */
  remaining: number
  probability: number
  ms?: number
  status?: number
  createdAt: string
}

/** What validation needs to know of a function. */
export interface FaultTarget {
  name: string
  /** 0: no exec_timeout. */
  execTimeoutMs: number
}

const FIELDS = ['function', 'kind', 'count', 'ms', 'status', 'probability']

function bad(field: string, detail: string): FaasError {
  return new FaasError('ERR_BAD_REQUEST', `${field}: ${detail}\n`, { internal: 'gateway' })
}

const isWhole = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v)

/** Validates a fault request; `lookup` resolves a function name, undefined when there is none. */
export function parseFaultSpec(input: unknown, lookup: (name: string) => FaultTarget | undefined): { spec: Required<Pick<FaultSpec, 'kind' | 'count' | 'probability'>> & FaultSpec; target: FaultTarget } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new FaasError('ERR_BAD_REQUEST', 'body must be a JSON object {"function", "kind", "count"?, "ms"?, "status"?, "probability"?}\n', { internal: 'gateway' })
  }
  const o = input as Record<string, unknown>
  for (const key of Object.keys(o)) if (!FIELDS.includes(key)) throw bad(key, `unknown field (known: ${FIELDS.join(', ')})`)
  if (typeof o.function !== 'string' || o.function === '') throw bad('function', 'a function name is required')
  const target = lookup(o.function)
  if (!target) throw bad('function', `no function named ${JSON.stringify(o.function)} is running`)
  if (typeof o.kind !== 'string' || !(FAULT_KINDS as readonly string[]).includes(o.kind)) throw bad('kind', `${JSON.stringify(o.kind)} is not one of ${FAULT_KINDS.join(', ')}`)
  const kind = o.kind as FaultKind
  const count = o.count ?? 1
  if (!isWhole(count) || count < 1) throw bad('count', `must be a whole number ≥ 1, got ${JSON.stringify(o.count)}`)
  const probability = o.probability ?? 1
  if (typeof probability !== 'number' || !(probability >= 0 && probability <= 1)) throw bad('probability', `must be a number from 0 to 1, got ${JSON.stringify(o.probability)}`)
  if (o.ms !== undefined && kind !== 'latency') throw bad('ms', `only a latency fault takes ms (this one is ${kind})`)
  if (o.status !== undefined && kind !== 'error') throw bad('status', `only an error fault takes status (this one is ${kind})`)
  const spec: Required<Pick<FaultSpec, 'kind' | 'count' | 'probability'>> & FaultSpec = { function: target.name, kind, count, probability }
  if (kind === 'latency') {
    if (!isWhole(o.ms) || o.ms < 0) throw bad('ms', `a latency fault needs ms, a whole number ≥ 0, got ${JSON.stringify(o.ms)}`)
    spec.ms = o.ms
  }
  if (kind === 'error') {
    const status = o.status ?? 500
    if (!isWhole(status) || status < 400 || status > 599) throw bad('status', `must be an HTTP error status (400-599), got ${JSON.stringify(o.status)}`)
    spec.status = status
  }
  // A hang ends only at exec_timeout: without one the call would never end.
  if (kind === 'timeout' && target.execTimeoutMs <= 0) throw bad('kind', `a timeout fault needs an exec_timeout on ${target.name}, which has none`)
  return { spec, target }
}

/** A fault in a few words, for the dashboard and `faasdev describe`: `latency 200 ms (2 of 3 left)`. */
export function describeFault(f: Fault): string {
  const what = f.kind === 'latency' ? `latency ${f.ms ?? 0} ms` : f.kind === 'error' ? `error ${f.status ?? 500}` : f.kind
  const chance = f.probability < 1 ? `, p=${f.probability}` : ''
  return `${what} (${f.remaining} of ${f.count} left${chance})`
}
