/**
 * What a sync call's response looks like on the wire, read from a raw socket (no client
 * normalises it): the OpenFaaS headers, a Content-Length that counts bytes, cookies one per
 * line, no body on HEAD or 204, and a keep-alive connection that carries the next request.
 */
import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { startRuntime } from '../helpers.js'

const STACK = `version: 1.0
provider:
  name: openfaas
functions:
  greet:
    lang: javascript
    handler: ./greet
  session:
    lang: javascript
    handler: ./session
  legacy:
    lang: node20
    handler: ./legacy
`

const FILES = {
  // A string and a JSON value, as most fetch-style handlers answer.
  'greet/handler.js': `export default async function handle(req) {
  const url = new URL(req.url)
  if (url.pathname === '/json') return { greeting: 'héllo ✓', items: [1, 2] }
  if (url.pathname === '/empty') return undefined
  return 'héllo ✓\\n'
}
`,
  // A Response with two cookies and a type of its own.
  'session/handler.js': `export default async function handle() {
  const headers = new Headers({ 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
  headers.append('set-cookie', 'sid=abc; Path=/; HttpOnly')
  headers.append('set-cookie', 'theme=dark; Path=/')
  return new Response('<p>signed in</p>', { status: 201, headers })
}
`,
  // The node template's context API, with a header given twice.
  'legacy/handler.js': `module.exports = async (event, context) => {
  // A page, as Express's res.send(string) answers it: text/html, UTF-8 (a lone surrogate as U+FFFD).
  if (event.path === '/page') return context.status(200).succeed('<h1>héllo ✓ \\ud800</h1>')
  return context.status(200).headers({ 'Content-Type': 'application/json', 'Cache-Control': ['no-cache', 'no-store'] }).succeed({ ok: true })
}
`,
  'legacy/package.json': '{"name":"legacy","version":"1.0.0"}',
}

interface RawResponse {
  status: number
  lines: string[]
  body: Buffer
}

/** Sends raw request heads on one connection and reads back one response per request. */
async function exchange(url: string, requests: string[]): Promise<RawResponse[]> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  socket.write(requests.join(''))
  let buffer = Buffer.alloc(0)
  const responses: RawResponse[] = []
  const methods = requests.map((r) => r.split(' ')[0])
  await new Promise<void>((resolve, reject) => {
    socket.on('error', reject)
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n')
        if (end < 0) break
        const [statusLine, ...lines] = buffer.subarray(0, end).toString('latin1').split('\r\n')
        const status = Number(statusLine?.split(' ')[1])
        const length = Number(lines.find((l) => l.toLowerCase().startsWith('content-length:'))?.split(':')[1] ?? 0)
        const hasBody = methods[responses.length] !== 'HEAD' && status !== 204
        const size = hasBody ? length : 0
        if (buffer.length < end + 4 + size) break
        responses.push({ status, lines, body: buffer.subarray(end + 4, end + 4 + size) })
        buffer = buffer.subarray(end + 4 + size)
      }
      if (responses.length === requests.length) resolve()
    })
  })
  socket.destroy()
  return responses
}

const header = (r: RawResponse, name: string): string[] =>
  r.lines.filter((l) => l.toLowerCase().startsWith(`${name}:`)).map((l) => l.slice(name.length + 1).trim())

describe('a sync response on the wire', () => {
  it('carries the OpenFaaS headers and a byte-exact Content-Length, for several calls on one keep-alive connection', async () => {
    const rt = await startRuntime(STACK, {}, FILES)
    const [text, json, head, empty] = await exchange(rt.url, [
      'GET /function/greet HTTP/1.1\r\nHost: localhost\r\n\r\n',
      'GET /function/greet/json HTTP/1.1\r\nHost: localhost\r\nX-Call-Id: from-the-caller\r\n\r\n',
      'HEAD /function/greet HTTP/1.1\r\nHost: localhost\r\n\r\n',
      'GET /function/greet/empty HTTP/1.1\r\nHost: localhost\r\n\r\n',
    ])

    expect(text?.status).toBe(200)
    expect(text?.body.toString('utf8')).toBe('héllo ✓\n')
    expect(header(text!, 'content-length')).toEqual([String(Buffer.byteLength('héllo ✓\n'))])
    expect(header(text!, 'content-type')).toEqual(['text/plain; charset=utf-8'])
    expect(header(text!, 'x-call-id')[0]).toMatch(/^[0-9a-f-]{36}$/)
    expect(header(text!, 'x-start-time')[0]).toMatch(/^\d{19}$/)
    expect(Number(header(text!, 'x-duration-seconds')[0])).toBeGreaterThan(0)

    expect(JSON.parse(json!.body.toString('utf8'))).toEqual({ greeting: 'héllo ✓', items: [1, 2] })
    expect(header(json!, 'content-type')).toEqual(['application/json; charset=utf-8'])
    expect(header(json!, 'content-length')).toEqual([String(json!.body.length)])
    expect(header(json!, 'x-call-id')).toEqual(['from-the-caller'])

    // HEAD: the head a GET would have, no body (the next response starts right after it).
    expect(head?.status).toBe(200)
    expect(header(head!, 'content-length')).toEqual([String(Buffer.byteLength('héllo ✓\n'))])
    expect(head?.body.length).toBe(0)

    // Nothing returned: 204, with neither a length nor a type.
    expect(empty?.status).toBe(204)
    expect(header(empty!, 'content-length')).toEqual([])
    expect(header(empty!, 'content-type')).toEqual([])
  })

  it('keeps a Response’s status, type and every cookie, and a node-template header given twice', async () => {
    const rt = await startRuntime(STACK, {}, FILES)
    const [session, legacy] = await exchange(rt.url, [
      'POST /function/session HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n',
      'GET /function/legacy HTTP/1.1\r\nHost: localhost\r\n\r\n',
    ])
    expect(session?.status).toBe(201)
    expect(session?.body.toString()).toBe('<p>signed in</p>')
    expect(header(session!, 'content-type')).toEqual(['text/html; charset=utf-8'])
    expect(header(session!, 'cache-control')).toEqual(['no-store'])
    expect(header(session!, 'set-cookie')).toEqual(['sid=abc; Path=/; HttpOnly', 'theme=dark; Path=/'])
    expect(header(session!, 'content-length')).toEqual(['16'])

    expect(legacy?.status).toBe(200)
    expect(JSON.parse(legacy!.body.toString())).toEqual({ ok: true })
    expect(header(legacy!, 'content-type')).toEqual(['application/json; charset=utf-8'])
    // As before: the last value of a header the handler set twice.
    expect(header(legacy!, 'cache-control')).toEqual(['no-store'])
  })

  it('sends a node-template string as Express does: text/html, its UTF-8 bytes counted, no body on HEAD', async () => {
    const rt = await startRuntime(STACK, {}, FILES)
    const [page, head] = await exchange(rt.url, [
      'GET /function/legacy/page HTTP/1.1\r\nHost: localhost\r\n\r\n',
      'HEAD /function/legacy/page HTTP/1.1\r\nHost: localhost\r\n\r\n',
    ])
    const bytes = Buffer.from('<h1>héllo ✓ \ud800</h1>', 'utf8')
    expect(page?.status).toBe(200)
    expect(header(page!, 'content-type')).toEqual(['text/html; charset=utf-8'])
    expect(header(page!, 'content-length')).toEqual([String(bytes.byteLength)])
    expect(page?.body.equals(bytes)).toBe(true)
    expect(head?.status).toBe(200)
    expect(header(head!, 'content-type')).toEqual(['text/html; charset=utf-8'])
    expect(head?.body.byteLength).toBe(0)
  })
})
