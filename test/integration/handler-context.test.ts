/**
 * What a fetch-style handler's context shows, as handlers use it: destructured, logged while
 * debugging, its signal passed on to an upstream fetch. It is made per call by a class (not an
 * object literal, which V8 turns into a dictionary), and the call it reads its signal from is
 * kept private: a handler that logs its context must not see the replica's internals (its
 * result port, its shared counter, other calls' data).
 */
import { describe, expect, it } from 'vitest'
import { startRuntime } from '../helpers.js'

const STACK = `version: 1.0
provider:
  name: openfaas
functions:
  report:
    lang: typescript
    handler: ./report
    secrets:
      - api-key
    environment:
      exec_timeout: 2s
`

// A report job: logs its context while the author debugs it, fetches its upstream with the
// call's signal (so a timeout cancels the fetch), and answers what it saw.
const REPORT = `import { inspect } from 'node:util'

interface Context {
  callId: string
  functionName: string
  secrets: Record<string, string>
  signal: AbortSignal
}

export default async function handle(req: Request, ctx: Context): Promise<Response> {
  console.log('context:', ctx)
  const { callId, functionName, secrets, signal } = ctx
  const upstream = new URL(req.url).searchParams.get('upstream')
  const fetched = upstream ? await (await fetch(upstream, { signal, headers: { authorization: \`Bearer \${secrets['api-key']}\` } })).text() : null
  return Response.json({
    callId,
    functionName,
    keyLength: secrets['api-key']?.length,
    signal: signal instanceof AbortSignal && !signal.aborted,
    keys: Object.keys(ctx),
    shown: inspect(ctx, { depth: 5, showHidden: true }),
    json: JSON.parse(JSON.stringify(ctx)),
    fetched,
  })
}
`

describe('a fetch-style handler context', () => {
  it('gives the call id, name, secrets and a live signal, and shows nothing of the replica when logged', async () => {
    const lines: string[] = []
    const rt = await startRuntime(STACK, { onOutput: (_replica, _stream, line) => lines.push(line) }, { 'report/handler.ts': REPORT, '.secrets/api-key': 'k-123456' })
    const res = await fetch(`${rt.url}/function/report`, { headers: { 'x-call-id': 'report-1' } })
    expect(res.status).toBe(200)
    const seen = (await res.json()) as { callId: string; functionName: string; keyLength: number; signal: boolean; keys: string[]; shown: string; json: Record<string, unknown> }
    expect(seen).toMatchObject({ callId: 'report-1', functionName: 'report', keyLength: 8, signal: true })
    expect(seen.keys).toEqual(['callId', 'functionName', 'secrets'])
    expect(Object.keys(seen.json)).toEqual(['callId', 'functionName', 'secrets'])
    for (const internal of ['MessagePort', 'SharedArrayBuffer', 'answers', 'answered', 'replicaName', 'x-call-id']) {
      expect(seen.shown, `the logged context shows ${internal}`).not.toContain(internal)
      expect(lines.join('\n'), `the log line shows ${internal}`).not.toContain(internal)
    }
    // The handler's own log line (util.inspect spreads it over several lines).
    const logged = lines.join('\n')
    expect(logged).toContain('context:')
    expect(logged).toContain("callId: 'report-1'")
  })

  it('passes its signal to an upstream fetch, which the exec_timeout cancels', async () => {
    const { createServer } = await import('node:http')
    let aborted = false
    const upstream = createServer((req) => req.on('close', () => (aborted = true)))
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    try {
      const rt = await startRuntime(STACK, {}, { 'report/handler.ts': REPORT, '.secrets/api-key': 'k-123456' })
      const port = (upstream.address() as { port: number }).port
      const res = await fetch(`${rt.url}/function/report?upstream=${encodeURIComponent(`http://127.0.0.1:${port}/slow`)}`)
      expect(res.status).toBe(504)
      await expect.poll(() => aborted, { timeout: 5000 }).toBe(true)
    } finally {
      upstream.closeAllConnections()
      upstream.close()
    }
  })
})
