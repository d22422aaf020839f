import { describeFault } from '../faults/spec.js'
import { activeFaults } from './fault.js'
import { ClientError, columns, expectOk, request, type ClientContext } from './http.js'
import { describeTriggers, triggersByName } from './triggers.js'

/** The fields of OpenFaaS's FunctionStatus the commands print (zero numbers are omitted by the API). */
interface FunctionStatus {
  name: string
  namespace?: string
  image?: string
  lang?: string
  envProcess?: string
  replicas?: number
  availableReplicas?: number
  invocationCount?: number
  inflight?: number
  maxInflight?: number
  labels?: Record<string, string>
  annotations?: Record<string, string>
  envVars?: Record<string, string>
  secrets?: string[]
  limits?: Record<string, string>
  createdAt?: string
  /** Why a replica last died or failed to start, until a call after it succeeds. */
  lastError?: { message: string; replica: string; reason: string; at: string }
  /** Why the latest edit could not be built (the previous version serves). */
  buildError?: string
  /** Desired replicas the machine budget keeps from starting, and that budget. */
  heldBack?: { replicas: number; replicaBudget: number }
  /** The load asks for `wanted` replicas; the autoscaler adds no more, for `why`. */
  scaleHold?: { wanted: number; why: string }
}

// Set by the gateway on functions it lists but does not run as written.
const STATUS_ANNOTATION = 'faasdev/status'
const REASON_ANNOTATION = 'faasdev/reason'

function status(f: FunctionStatus): string {
  const ready = (f.availableReplicas ?? 0) > 0
  switch (f.annotations?.[STATUS_ANNOTATION]) {
    case 'skipped':
      return 'Skipped (not run by faasdev)'
    case 'failed':
      return 'Failed to deploy'
    case 'build-error':
      return ready ? 'Ready, with a build error (the previous version serves)' : 'Not Ready, with a build error'
    default:
      return ready ? 'Ready' : 'Not Ready'
  }
}

/** ready/desired, or why there are none (`skipped`, `failed`: `describe` says more). */
function replicasOf(f: FunctionStatus): string {
  const status = f.annotations?.[STATUS_ANNOTATION]
  return status === 'skipped' || status === 'failed' ? status : `${f.availableReplicas ?? 0}/${f.replicas ?? 0}`
}

/** Continuation lines of a multi-line value (a build error's code frame) under its label. */
const indent = (text: string): string => text.trimEnd().replaceAll('\n', '\n  ')

const enc = encodeURIComponent

export async function list(ctx: ClientContext): Promise<void> {
  const res = await expectOk(await request(ctx, '/system/functions'), 'listing functions')
  const fns = (await res.json()) as FunctionStatus[]
  if (ctx.json) return ctx.out(`${JSON.stringify(fns, null, 2)}\n`)
  const triggers = await triggersByName(ctx)
  const rows = fns
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((f) => [f.name, f.lang ?? '', String(f.invocationCount ?? 0), replicasOf(f), String(f.inflight ?? 0), f.maxInflight ? String(f.maxInflight) : '∞', describeTriggers(triggers.get(f.name))])
  ctx.out(columns(['FUNCTION', 'LANG', 'INVOCATIONS', 'REPLICAS', 'INFLIGHT', 'MAX INFLIGHT', 'TRIGGERS'], rows))
}

export async function describe(ctx: ClientContext, name: string): Promise<void> {
  const res = await expectOk(await request(ctx, `/system/function/${enc(name)}`), `describing ${name}`)
  const f = (await res.json()) as FunctionStatus
  const faults = await activeFaults(ctx, f.name)
  if (ctx.json) return ctx.out(`${JSON.stringify(faults.length > 0 ? { ...f, faults } : f, null, 2)}\n`)
  const map = (m: Record<string, string> | undefined): string => {
    const entries = Object.entries(m ?? {}).filter(([k]) => k !== STATUS_ANNOTATION && k !== REASON_ANNOTATION)
    return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `\n  ${k}: ${v}`).join('')
  }
  const lines: [string, string][] = [
    ['Name', f.name],
    ['Status', status(f)],
    ['Replicas', String(f.replicas ?? 0)],
    ['Available Replicas', String(f.availableReplicas ?? 0)],
    ['Invocations', String(f.invocationCount ?? 0)],
    ['In flight', `${f.inflight ?? 0} (max ${f.maxInflight ? f.maxInflight : 'unlimited'})`],
    ['Lang', f.lang ?? f.envProcess ?? ''],
    ['Image', f.image ?? ''],
    ['Function URL', `${ctx.gateway}/function/${f.name}`],
    ['Async URL', `${ctx.gateway}/async-function/${f.name}`],
    ['Labels', map(f.labels)],
    ['Annotations', map(f.annotations)],
    ['Environment', map(f.envVars)],
    ['Secrets', f.secrets?.length ? f.secrets.join(', ') : '<none>'],
    ['Limits', map(f.limits)],
  ]
  const reason = f.annotations?.[REASON_ANNOTATION]
  if (reason && f.annotations?.[STATUS_ANNOTATION] !== 'build-error') lines.splice(2, 0, ['Reason', indent(reason)])
  const triggers = (await triggersByName(ctx)).get(f.name)
  lines.push(['Triggers', describeTriggers(triggers) || '<none>'])
  if (triggers?.nextRun) lines.push(['Next run', triggers.nextRun])
  if (f.createdAt) lines.push(['Created', f.createdAt])
  if (f.heldBack) lines.push(['Held back', `${f.heldBack.replicas} replica(s), by the machine budget of ${f.heldBack.replicaBudget} worker threads across all functions (--max-replicas-total)`])
  if (f.scaleHold) lines.push(['Scale held', `at ${f.replicas ?? 0} of the ${f.scaleHold.wanted} replicas the load asks for: ${f.scaleHold.why} (--scale-always scales anyway)`])
  if (f.buildError) lines.push(['Build error', indent(f.buildError)])
  if (f.lastError) lines.push(['Last error', indent(`${f.lastError.at}: ${f.lastError.message.includes(f.lastError.replica) ? '' : `${f.lastError.replica}: `}${f.lastError.message}`)])
  if (faults.length > 0) lines.push(['Faults', faults.map((x) => `\n  ${x.id}: ${describeFault(x)}`).join('')])
  const width = Math.max(...lines.map(([k]) => k.length)) + 1
  ctx.out(`${lines.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join('\n')}\n`)
}

export interface InvokeOptions {
  async: boolean
  callbackUrl?: string
  headers: string[]
  method: string
  query: string[]
  contentType: string
  body: Uint8Array
}

/** `-H 'K: V'` (faas-cli also takes the older `K=V`). */
function header(raw: string): [string, string] {
  const colon = raw.indexOf(':')
  const eq = raw.indexOf('=')
  const at = colon > 0 ? colon : eq
  if (at <= 0) throw new ClientError(`-H ${JSON.stringify(raw)}: expected 'Name: value'`, 2)
  return [raw.slice(0, at).trim(), raw.slice(at + 1).trim()]
}

function headersObject(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {}
  headers.forEach((v, k) => (out[k] = v))
  return out
}

export async function invoke(ctx: ClientContext, name: string, o: InvokeOptions): Promise<void> {
  const headers = new Headers({ 'content-type': o.contentType })
  for (const h of o.headers) headers.append(...header(h))
  if (o.callbackUrl) headers.set('x-callback-url', o.callbackUrl)
  const query = new URLSearchParams()
  for (const q of o.query) {
    const eq = q.indexOf('=')
    if (eq <= 0) throw new ClientError(`--query ${JSON.stringify(q)}: expected key=value`, 2)
    query.append(q.slice(0, eq), q.slice(eq + 1))
  }
  const qs = query.size > 0 ? `?${query.toString()}` : ''
  const method = o.async ? 'POST' : o.method.toUpperCase()
  const hasBody = method !== 'GET' && method !== 'HEAD'
  const res = await request(ctx, `/${o.async ? 'async-function' : 'function'}/${enc(name)}${qs}`, { method, headers, ...(hasBody ? { body: o.body as unknown as BodyInit } : {}) })
  const body = new Uint8Array(await res.arrayBuffer())
  const callId = res.headers.get('x-call-id') ?? ''
  if (ctx.json) {
    ctx.out(`${JSON.stringify({ status: res.status, callId, headers: headersObject(res.headers), body: new TextDecoder().decode(body) })}\n`)
  } else if (res.status === 202 && o.async) {
    ctx.out(`Function submitted asynchronously. Call id: ${callId}\n`)
  } else if (res.ok) {
    process.stdout.write(body)
  }
  if (!res.ok) {
    const text = new TextDecoder().decode(body).trim()
    throw new ClientError(`${name}: ${res.status}${text ? ` ${text}` : ''}`)
  }
}

export interface LogsOptions {
  follow: boolean
  tail?: number
  since?: string
}

export async function logs(ctx: ClientContext, name: string, o: LogsOptions): Promise<void> {
  const params = new URLSearchParams({ name })
  if (o.tail !== undefined) params.set('tail', String(o.tail))
  if (o.follow) params.set('follow', 'true')
  if (o.since) params.set('since', o.since)
  const res = await expectOk(await request(ctx, `/system/logs?${params.toString()}`), `logs of ${name}`)
  if (!res.body) return
  const decoder = new TextDecoder()
  let pending = ''
  const print = (raw: string): void => {
    if (!raw.trim()) return
    if (ctx.json) return ctx.out(`${raw}\n`)
    const m = JSON.parse(raw) as { instance: string; timestamp: string; text: string }
    ctx.out(`${m.timestamp} ${m.instance} | ${m.text}\n`)
  }
  const reader = res.body.getReader()
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>
    try {
      chunk = await reader.read()
    } catch (err) {
      // The gateway shutting down may cut a follower's connection: that ends the stream too.
      if (o.follow) break
      throw new ClientError(`logs of ${name}: connection lost (${(err as Error).message})`)
    }
    const { value, done } = chunk
    if (done) break
    pending += decoder.decode(value, { stream: true })
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const l of lines) print(l)
  }
  print(pending)
}

export async function scale(ctx: ClientContext, name: string, replicas: number): Promise<void> {
  await expectOk(
    await request(ctx, `/system/scale-function/${enc(name)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ serviceName: name, replicas }),
    }),
    `scaling ${name}`,
  )
  ctx.out(ctx.json ? `${JSON.stringify({ name, replicas })}\n` : `Scaled ${name} to ${replicas} replica(s)\n`)
}
