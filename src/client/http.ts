import { redactUrl } from '../logs/redact.js'

/** What every client command shares: where the gateway is, how to authenticate, how to fail. */
export interface ClientContext {
  gateway: string
  json: boolean
  /** `Authorization` header when `FAASDEV_PASSWORD` is set. */
  authorization?: string
  out: (text: string) => void
  err: (text: string) => void
}

export const DEFAULT_GATEWAY = 'http://127.0.0.1:8080'

/** A client failure with the exit code it ends the process with (1 runtime, 2 usage). */
export class ClientError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message)
    this.name = 'ClientError'
  }
}

export function clientContext(flags: { gateway?: string | undefined; json?: boolean | undefined }, env: NodeJS.ProcessEnv = process.env): ClientContext {
  const gateway = (flags.gateway ?? env.OPENFAAS_URL ?? DEFAULT_GATEWAY).replace(/\/+$/, '')
  if (!/^https?:\/\//.test(gateway)) throw new ClientError(`--gateway: ${JSON.stringify(gateway)} is not an http(s) URL`, 2)
  const password = env.FAASDEV_PASSWORD
  return {
    gateway,
    json: flags.json === true,
    ...(password ? { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` } : {}),
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  }
}

/** A request to the gateway; network failures and 401 become ClientErrors that say what to do. */
export async function request(ctx: ClientContext, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers)
  if (ctx.authorization && !headers.has('authorization')) headers.set('authorization', ctx.authorization)
  let res: Response
  try {
    res = await fetch(`${ctx.gateway}${path}`, { ...init, headers })
  } catch (err) {
    const cause = (err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message
    throw new ClientError(`cannot reach the gateway at ${redactUrl(ctx.gateway)} (${cause}): is \`faasdev up\` running? (--gateway or OPENFAAS_URL)`)
  }
  if (res.status === 401) {
    throw new ClientError(`${redactUrl(ctx.gateway)} wants credentials: ${ctx.authorization ? 'FAASDEV_PASSWORD is wrong' : 'set FAASDEV_PASSWORD to the password `faasdev up --auth` printed'}`)
  }
  return res
}

/** Throws a ClientError carrying the gateway's message for a non-2xx answer. */
export async function expectOk(res: Response, what: string): Promise<Response> {
  if (res.ok) return res
  const body = (await res.text()).trim()
  throw new ClientError(`${what}: ${res.status}${body ? ` ${body}` : ''}`)
}

/** Left-aligned columns, for people. */
export function columns(head: string[], rows: string[][]): string {
  const all = [head, ...rows]
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)))
  return `${all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n')}\n`
}
