import { connect } from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/**
 * Sends `head` (request line and headers, CRLF-separated, without the blank line) and `body`
 * exactly as given over a plain socket, as curl or a hand-written client would: nothing
 * normalises the path, adds a content type or fixes the framing. Reads one response.
 */
export function rawRequest(baseUrl: string, head: string, body = ''): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl)
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) })
    socket.setTimeout(15_000, () => socket.destroy(new Error('no response within 15 s')))
    let data = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk])
      const end = data.indexOf('\r\n\r\n')
      if (end < 0) return
      const [statusLine = '', ...lines] = data.subarray(0, end).toString('latin1').split('\r\n')
      const headers: Record<string, string> = {}
      for (const l of lines) {
        const colon = l.indexOf(':')
        headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim()
      }
      const length = Number(headers['content-length'] ?? 0)
      if (data.length < end + 4 + length) return
      socket.end()
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: data.subarray(end + 4, end + 4 + length).toString('utf8') })
    })
    socket.on('error', reject)
    socket.write(`${head}\r\n${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n${body}`)
  })
}
