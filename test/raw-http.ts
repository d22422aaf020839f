import { connect } from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
  /** The bytes as received, for messages. */
  raw: string
}

/**
 * Sends bytes exactly as given over a fresh TCP connection and reads the answer until the
 * server closes it. fetch() and node:http normalise or refuse the odd request targets and
 * headers an attacker sends; a socket does not.
 */
export function rawRequest(url: string, request: string | Buffer, timeoutMs = 15_000): Promise<RawResponse> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) })
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no complete answer within ${timeoutMs} ms to ${JSON.stringify(String(request).slice(0, 200))}; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`))
    }, timeoutMs)
    socket.on('data', (c: Buffer) => chunks.push(c))
    // A reset after a complete answer (the server closing with unread bytes) is still an answer.
    socket.on('error', () => undefined)
    socket.on('close', () => {
      clearTimeout(timer)
      const raw = Buffer.concat(chunks).toString('latin1')
      const parsed = parseResponse(raw)
      if (parsed) resolve(parsed)
      else reject(new Error(`no HTTP answer to ${JSON.stringify(String(request).slice(0, 200))}: ${JSON.stringify(raw.slice(0, 300))}`))
    })
    socket.write(request)
  })
}

/** A GET (or `method`) of `target` as sent, with `Connection: close` so the answer ends the stream; a `host` in `headers` replaces the real one. */
export function rawGet(url: string, target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
  const given = Object.entries(headers)
  const host = given.some(([k]) => k.toLowerCase() === 'host') ? [] : [`Host: ${new URL(url).host}`]
  const lines = [`${method} ${target} HTTP/1.1`, ...host, 'Connection: close', ...given.map(([k, v]) => `${k}: ${v}`)]
  return rawRequest(url, `${lines.join('\r\n')}\r\n\r\n`)
}

function parseResponse(all: string): RawResponse | undefined {
  // Interim answers (100 Continue) come before the real one.
  let raw = all
  while (/^HTTP\/1\.[01] 1\d\d /.test(raw) && raw.includes('\r\n\r\n')) raw = raw.slice(raw.indexOf('\r\n\r\n') + 4)
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) return undefined
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n')
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)
  if (!match) return undefined
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  let body = raw.slice(end + 4)
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') body = dechunk(body)
  return { status: Number(match[1]), headers, body: Buffer.from(body, 'latin1').toString('utf8'), raw: all }
}

function dechunk(text: string): string {
  let out = ''
  let at = 0
  for (;;) {
    const lineEnd = text.indexOf('\r\n', at)
    if (lineEnd < 0) return out
    const size = parseInt(text.slice(at, lineEnd), 16)
    if (!(size > 0)) return out
    out += text.slice(lineEnd + 2, lineEnd + 2 + size)
    at = lineEnd + 2 + size + 2
  }
}
