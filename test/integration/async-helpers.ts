import { createServer, type IncomingHttpHeaders } from 'node:http'
import { onTestFinished } from 'vitest'

export interface Received {
  headers: IncomingHttpHeaders
  body: string
  at: number
}

/** A real HTTP server on port 0 that records every callback it receives, answering after `delayMs`. */
export async function callbackServer(status = 200, delayMs = 0): Promise<{ url: string; received: Received[]; setStatus: (s: number) => void }> {
  const received: Received[] = []
  let answer = status
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() })
      if (delayMs > 0) setTimeout(() => res.writeHead(answer).end(), delayMs)
      else res.writeHead(answer).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return { url: `http://127.0.0.1:${port}/cb`, received, setStatus: (s) => (answer = s) }
}

export async function submit(base: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Response> {
  return fetch(`${base}/async-function/${path}`, { method: 'POST', headers, ...(body !== undefined ? { body } : {}) })
}
