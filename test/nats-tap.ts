/**
 * A TCP relay between NATS clients and a nats-server that reads the protocol going through
 * it: every message the clients publish (`PUB`/`HPUB`) and every one the server delivers to
 * them (`MSG`/`HMSG`), in one list, each recorded before it is passed on. Whatever a client
 * sends because of a message it received is therefore listed after that message: the order
 * of cause and effect, which a third connection subscribing to both cannot promise (NATS
 * orders one publisher's messages, not two publishers' between them).
 */
import { createServer, connect, type Socket } from 'node:net'
import { onTestFinished } from 'vitest'

export interface TapFrame {
  /** `out`: a client published it; `in`: the server delivered it to a client. */
  dir: 'out' | 'in'
  /** Which relayed connection (numbered from 1 in the order they opened). */
  conn: number
  subject: string
  reply: string | undefined
  /** The header block (`NATS/1.0…`), when the frame has one. */
  headers: string
  payload: string
}

const CRLF = Buffer.from('\r\n')

/** Reads complete frames off one direction of one connection, keeping a partial one for the next chunk. */
class FrameReader {
  private buffer: Buffer = Buffer.alloc(0)

  constructor(private readonly onFrame: (op: string, subject: string, reply: string | undefined, headers: string, payload: string) => void) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    for (;;) {
      const eol = this.buffer.indexOf(CRLF)
      if (eol < 0) return
      const line = this.buffer.toString('latin1', 0, eol)
      const [op = '', ...args] = line.split(/[ \t]+/)
      const upper = op.toUpperCase()
      if (upper !== 'PUB' && upper !== 'HPUB' && upper !== 'MSG' && upper !== 'HMSG') {
        this.buffer = this.buffer.subarray(eol + 2)
        continue
      }
      // PUB subject [reply] size | HPUB subject [reply] hsize size | MSG subject sid [reply] size | HMSG subject sid [reply] hsize size
      const withHeaders = upper.startsWith('H')
      const sizes = withHeaders ? 2 : 1
      const fixed = (upper.endsWith('MSG') ? 2 : 1) + sizes
      const subject = args[0] ?? ''
      const reply = args.length > fixed ? args[upper.endsWith('MSG') ? 2 : 1] : undefined
      const total = Number(args[args.length - 1])
      const headerSize = withHeaders ? Number(args[args.length - 2]) : 0
      const start = eol + 2
      if (this.buffer.length < start + total + 2) return
      const headers = this.buffer.toString('utf8', start, start + headerSize)
      const payload = this.buffer.toString('utf8', start + headerSize, start + total)
      this.buffer = this.buffer.subarray(start + total + 2)
      this.onFrame(upper, subject, reply, headers, payload)
    }
  }
}

/** Starts a relay to the nats-server at `target` (`nats://host:port`) for the current test; connect clients to its `url`. */
export async function natsTap(target: string): Promise<{ url: string; frames: TapFrame[] }> {
  const { hostname, port } = new URL(target)
  const frames: TapFrame[] = []
  const sockets = new Set<Socket>()
  let conns = 0
  const server = createServer((client) => {
    const conn = ++conns
    const upstream = connect(Number(port), hostname)
    sockets.add(client).add(upstream)
    const out = new FrameReader((_op, subject, reply, headers, payload) => frames.push({ dir: 'out', conn, subject, reply, headers, payload }))
    const inbound = new FrameReader((_op, subject, reply, headers, payload) => frames.push({ dir: 'in', conn, subject, reply, headers, payload }))
    client.on('data', (chunk: Buffer) => {
      out.push(chunk)
      upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      inbound.push(chunk)
      client.write(chunk)
    })
    const end = (): void => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('close', end).on('error', end)
    upstream.on('close', end).on('error', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  )
  const address = server.address() as { port: number }
  return { url: `nats://127.0.0.1:${address.port}`, frames }
}
