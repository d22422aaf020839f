import { describeFault, type Fault } from '../faults/spec.js'
import { ClientError, columns, expectOk, request, type ClientContext } from './http.js'

export interface FaultFlags {
  kind?: string | undefined
  count?: string | undefined
  ms?: string | undefined
  status?: string | undefined
  probability?: string | undefined
  list?: boolean | undefined
  clear?: boolean | undefined
}

export const FAULT_USAGE = `  faasdev fault NAME --kind error|latency|timeout|crash|oom|cold|callback [--count N] [--ms M] [--status S] [--probability P] [--json]
  faasdev fault --list [NAME] [--json]  |  faasdev fault --clear [ID]`

/** A number flag as the API takes it; the gateway's 400 says what is wrong with its value. */
function num(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (value.trim() === '' || Number.isNaN(n)) throw new ClientError(`--${flag}: ${JSON.stringify(value)} is not a number`, 2)
  return n
}

/** `faasdev fault`: inject one, list the active ones, or clear them. */
export async function fault(ctx: ClientContext, positionals: string[], flags: FaultFlags): Promise<void> {
  if (flags.list || flags.clear) {
    if (positionals.length > 1 || flags.kind !== undefined || (flags.list && flags.clear)) throw new ClientError(`usage:\n${FAULT_USAGE}`, 2)
    const [arg] = positionals
    if (flags.clear) {
      const res = await expectOk(await request(ctx, `/system/faults${arg ? `/${encodeURIComponent(arg)}` : ''}`, { method: 'DELETE' }), 'clearing faults')
      const { cleared } = (await res.json()) as { cleared: number }
      return ctx.out(ctx.json ? `${JSON.stringify({ cleared })}\n` : `Cleared ${cleared} fault(s)\n`)
    }
    const res = await expectOk(await request(ctx, `/system/faults${arg ? `?function=${encodeURIComponent(arg)}` : ''}`), 'listing faults')
    const faults = (await res.json()) as Fault[]
    if (ctx.json) return ctx.out(`${JSON.stringify(faults, null, 2)}\n`)
    return ctx.out(columns(['ID', 'FUNCTION', 'FAULT'], faults.map((f) => [f.id, f.function, describeFault(f)])))
  }
  if (positionals.length !== 1 || !positionals[0] || flags.kind === undefined) throw new ClientError(`usage:\n${FAULT_USAGE}`, 2)
  const name = positionals[0]
  const body: Record<string, unknown> = { function: name, kind: flags.kind }
  for (const key of ['count', 'ms', 'status', 'probability'] as const) {
    const n = num(flags[key], key)
    if (n !== undefined) body[key] = n
  }
  const res = await expectOk(
    await request(ctx, '/system/faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    `injecting a fault into ${name}`,
  )
  const f = (await res.json()) as Fault
  ctx.out(ctx.json ? `${JSON.stringify(f)}\n` : `Fault ${f.id} injected: ${f.function} meets ${describeFault(f)}\n`)
}

/** The active faults of one function for `describe`; none from a gateway without fault injection. */
export async function activeFaults(ctx: ClientContext, name: string): Promise<Fault[]> {
  const res = await request(ctx, `/system/faults?function=${encodeURIComponent(name)}`)
  return res.ok ? ((await res.json()) as Fault[]) : []
}
