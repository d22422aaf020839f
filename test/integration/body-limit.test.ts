import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { startRuntime } from '../helpers.js'

const STACK = `
functions:
  echo:
    lang: typescript
    handler: @/echo
`

const MAX_BODY = 64 * 1024

/**
 * A client that sends a large body as fast as the server takes it and reads the answer only
 * once it has sent it all (or the server stopped taking it), as most HTTP clients do; it
 * records everything it reads back, until the server closes the connection.
 */
function upload(port: number, path: string, opts: { chunked: boolean; bytes: number }): Promise<{ response: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let response = ''
    let error: string | undefined
    let sent = 0
    const chunk = Buffer.alloc(64 * 1024, 'x')
    const pump = (): void => {
      while (sent < opts.bytes && !socket.destroyed) {
        sent += chunk.length
        const frame = opts.chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk
        if (!socket.write(frame)) {
          clearTimeout(stalled)
          stalled = setTimeout(read, 500)
          return void socket.once('drain', pump)
        }
      }
      if (opts.chunked && !socket.destroyed) socket.write('0\r\n\r\n')
      read()
    }
    // Reading starts after the body is sent, or after the server has stopped taking it for a while.
    let stalled: NodeJS.Timeout | undefined
    const read = (): void => {
      clearTimeout(stalled)
      socket.on('data', (d: Buffer) => (response += d.toString('latin1')))
      socket.resume()
    }
    socket.on('connect', () => {
      const framing = opts.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${opts.bytes}`
      socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n${framing}\r\n\r\n`)
      pump()
    })
    socket.pause()
    socket.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message))
    socket.on('close', () => resolve({ response, ...(error ? { error } : {}) }))
  })
}

describe(`bodies over --max-body`, () => {
  it('every client of several uploading at once reads a 413 and a closed connection, with content-length and chunked, sync and async', { timeout: 60_000 }, async () => {
    const rt = await startRuntime(STACK, { maxBody: MAX_BODY })
    const port = Number(new URL(rt.url).port)
    const uploads = []
    for (let i = 0; i < 6; i++) {
      const chunked = i % 2 === 1
      const path = i % 3 === 2 ? '/async-function/echo' : '/function/echo'
      uploads.push(upload(port, path, { chunked, bytes: 24 * 1024 * 1024 }).then((r) => ({ ...r, chunked, path })))
    }
    for (const r of await Promise.all(uploads)) {
      const head = r.response.split('\r\n\r\n')[0] ?? ''
      expect(head.split('\r\n')[0], `${r.path} ${r.chunked ? 'chunked' : 'content-length'}: got ${JSON.stringify(r.response.slice(0, 200))} (${r.error ?? 'no error'})`).toBe('HTTP/1.1 413 Payload Too Large')
      expect(head.toLowerCase()).toContain('connection: close')
      expect(r.response).toContain(`request body is larger than the limit of ${MAX_BODY} bytes (--max-body)`)
    }
    // The gateway is fine afterwards.
    expect((await fetch(`${rt.url}/function/echo`, { method: 'POST', body: 'small' })).status).toBe(200)
  })
})
