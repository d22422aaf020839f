import { describe, expect, it } from 'vitest'
import { faasdev, listening, project } from '../cli-helpers.js'
import { startRuntime, waitFor } from '../helpers.js'
import { callbackServer, submit } from './async-helpers.js'

const MiB = 1024 * 1024

// A CSV export as a user would write it: rows produced only as the client pulls them.
const EXPORT_HANDLER = `
export default async function handle(req: Request): Promise<Response> {
  const url = new URL(req.url)
  const total = Number(url.searchParams.get('mib') ?? 200) * 1024 * 1024
  const row = new TextEncoder().encode('42,"Ada Lovelace","ada@example.com",1815-12-10\\n'.repeat(1024))
  let sent = 0
  const rows = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close()
      const chunk = row.slice(0, Math.min(row.byteLength, total - sent))
      sent += chunk.byteLength
      controller.enqueue(chunk)
    },
    cancel() {
      console.log('export stopped after ' + sent + ' bytes')
    },
  })
  return new Response(rows, { headers: { 'content-type': 'text/csv' } })
}
`

// A report built whole in memory, returned as a string or as bytes.
const REPORT_HANDLER = `
export default async function handle(req: Request): Promise<string | Uint8Array> {
  const url = new URL(req.url)
  const size = Number(url.searchParams.get('bytes') ?? 0)
  return url.searchParams.get('as') === 'bytes' ? new Uint8Array(size).fill(65) : 'r'.repeat(size)
}
`

const STACK = `
functions:
  export:
    lang: typescript
    handler: ./export
  report:
    lang: typescript
    handler: ./report
`

const FILES = { 'export/handler.ts': EXPORT_HANDLER, 'report/handler.ts': REPORT_HANDLER }

/** Reads a response body without keeping it, so the test's own memory does not count. */
async function drain(res: Response): Promise<number> {
  let n = 0
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) n += chunk.byteLength
  return n
}

describe('--max-response', () => {
  it('a handler streaming 200 MiB past a 1 MiB limit is cut off in the replica: 502, and RSS stays flat', { timeout: 60_000 }, async () => {
    const output: string[] = []
    const rt = await startRuntime(STACK, { maxResponse: MiB, onOutput: (_r, _s, line) => output.push(line) }, FILES)
    // Under the limit the stream arrives whole.
    const small = await fetch(`${rt.url}/function/export?mib=0.5`)
    expect(small.status).toBe(200)
    expect(small.headers.get('content-type')).toBe('text/csv')
    expect(await drain(small)).toBe(MiB / 2)

    const before = process.memoryUsage().rss
    let peak = before
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5)
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${rt.url}/function/export?mib=200`)
        expect(res.status).toBe(502)
        expect(res.headers.get('x-openfaas-internal')).toBeTruthy()
        expect(await res.text()).toBe(`the response of export is larger than the limit of ${MiB} bytes (--max-response)\n`)
      }
    } finally {
      clearInterval(sampler)
    }
    // Buffering one such response would take 200 MiB or more; the stream was stopped just past 1 MiB.
    expect(peak - before).toBeLessThan(64 * MiB)
    await waitFor(() => output.filter((l) => l.startsWith('export stopped after')).length === 3, 10_000, () => `three cancelled exports, got ${output.join('; ')}`)
    for (const line of output.filter((l) => l.startsWith('export stopped after'))) {
      expect(Number(/after (\d+) bytes/.exec(line)?.[1])).toBeLessThan(4 * MiB)
    }
    // The replica is fine and serves the next call.
    expect((await fetch(`${rt.url}/function/report?bytes=10`)).status).toBe(200)
  })

  it('a response built whole over the limit (string or bytes) is not sent: 502; at the limit it is', async () => {
    const rt = await startRuntime(STACK, { maxResponse: 64 * 1024 }, FILES)
    for (const as of ['string', 'bytes']) {
      const over = await fetch(`${rt.url}/function/report?bytes=${64 * 1024 + 1}&as=${as}`)
      expect(over.status).toBe(502)
      expect(over.headers.get('x-openfaas-internal')).toBeTruthy()
      expect(await over.text()).toContain(`larger than the limit of ${64 * 1024} bytes (--max-response)`)
      const at = await fetch(`${rt.url}/function/report?bytes=${64 * 1024}&as=${as}`)
      expect(at.status).toBe(200)
      expect((await at.arrayBuffer()).byteLength).toBe(64 * 1024)
    }
  })

  it('an async call over the limit is a platform error: retried, then dead-lettered with 502 and called back', { timeout: 30_000 }, async () => {
    const rt = await startRuntime(STACK, { maxResponse: MiB, retry: { maxAttempts: 2, initialWaitMs: 50, maxWaitMs: 100 } }, FILES)
    const cb = await callbackServer()
    expect((await submit(rt.url, 'export?mib=50', { 'x-callback-url': cb.url, 'x-call-id': 'big-export' })).status).toBe(202)
    await waitFor(() => cb.received.length === 1, 20_000, 'the callback')
    const got = cb.received[0]!
    expect(got.headers['x-function-status']).toBe('502')
    expect(got.headers['x-openfaas-internal']).toBeTruthy()
    expect(got.body).toContain('(--max-response)')
    const status = (await (await fetch(`${rt.url}/system/async-function/big-export`)).json()) as Record<string, unknown>
    expect(status).toMatchObject({ status: 'dead-lettered', attempts: 2, lastStatus: 502 })
  })

  it('faasdev up --max-response takes a size, and refuses one that is not', { timeout: 60_000 }, async () => {
    const dir = project(STACK, FILES)
    const bad = faasdev(['up', '--port', '0', '--no-watch', '--max-response', 'lots'], dir)
    expect(await bad.exited).toBe(2)
    expect(bad.stderr()).toContain('--max-response: "lots" is not a size')

    const cli = faasdev(['up', '--port', '0', '--no-watch', '--max-response', '1Ki'], dir)
    const url = await listening(cli)
    const over = await fetch(`${url}/function/report?bytes=1025`)
    expect(over.status).toBe(502)
    expect(await over.text()).toBe('the response of report is larger than the limit of 1024 bytes (--max-response)\n')
    expect((await fetch(`${url}/function/report?bytes=1024`)).status).toBe(200)
  })
})
