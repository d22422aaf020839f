import { createServer, type IncomingMessage, type Server } from 'node:http'

/** One callback as the receiver got it. */
export interface ReceivedCallback {
  headers: Record<string, string>
  bytes: Uint8Array
}

interface Waiter {
  resolve: (cb: ReceivedCallback) => void
  reject: (err: Error) => void
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v
  return out
}

/**
 * A real HTTP server on a free loopback port that takes async calls' callbacks and hands each
 * to whoever waits for its call id (`X-Call-Id`). A callback that arrives before anyone waits
 * for it (a fast function) is kept until someone does.
 */
export class CallbackReceiver {
  private readonly waiters = new Map<string, Waiter>()
  private readonly early = new Map<string, ReceivedCallback>()
  private server: Server | undefined
  private listening: Promise<string> | undefined
  private closed = false

  /** The receiver's base URL, starting it on first use. */
  url(): Promise<string> {
    this.listening ??= new Promise<string>((resolve, reject) => {
      const server = createServer((req, res) => {
        const chunks: Buffer[] = []
        req.on('data', (c: Buffer) => chunks.push(c))
        req.on('end', () => {
          res.writeHead(200).end()
          const headers = flatHeaders(req)
          const callId = headers['x-call-id'] ?? ''
          const cb: ReceivedCallback = { headers, bytes: new Uint8Array(Buffer.concat(chunks)) }
          const waiter = this.waiters.get(callId)
          if (!waiter) return void this.early.set(callId, cb)
          this.waiters.delete(callId)
          waiter.resolve(cb)
        })
      })
      this.server = server
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address()
        resolve(`http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`)
      })
    })
    return this.listening
  }

  /** Resolves with the callback of `callId`; rejects with `onTimeout()`'s error after `timeoutMs`. */
  wait(callId: string, timeoutMs: number, onTimeout: () => Promise<Error>): Promise<ReceivedCallback> {
    const early = this.early.get(callId)
    if (early) {
      this.early.delete(callId)
      return Promise.resolve(early)
    }
    if (this.closed) return Promise.reject(new Error(`faasdev/testing: closed while waiting for the callback of call ${callId}`))
    return new Promise<ReceivedCallback>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(callId)
        void onTimeout().then(reject)
      }, timeoutMs)
      this.waiters.set(callId, {
        resolve: (cb) => {
          clearTimeout(timer)
          resolve(cb)
        },
        reject: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      })
    })
  }

  /** Ends the wait for `callId` with `err` (its submit failed: no callback will come). */
  fail(callId: string, err: Error): void {
    const waiter = this.waiters.get(callId)
    this.waiters.delete(callId)
    waiter?.reject(err)
  }

  async close(): Promise<void> {
    this.closed = true
    for (const [callId, w] of this.waiters) w.reject(new Error(`faasdev/testing: closed while waiting for the callback of call ${callId}`))
    this.waiters.clear()
    const server = this.server
    if (!server) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
