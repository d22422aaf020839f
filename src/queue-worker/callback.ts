/**
 * POSTs the result of an async call to its `X-Callback-Url`. Uses node:http with keep-alive
 * agents rather than fetch: at thousands of callbacks a second the per-request cost matters.
 * A failing callback is retried a few times with backoff, then given up (and logged by the caller).
 */
import { Agent as HttpAgent, request as httpRequest, type OutgoingHttpHeaders } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { HOP_BY_HOP } from '../router/hop-by-hop.js'

export interface CallbackOptions {
  /** Tries in total. @default 3 */
  attempts: number
  /** Wait before the second try; doubles after each. @default 500 */
  initialWaitMs: number
  /** One try's time limit. @default 10000 */
  timeoutMs: number
}

export const CALLBACK_DEFAULTS: Readonly<CallbackOptions> = Object.freeze({ attempts: 3, initialWaitMs: 500, timeoutMs: 10_000 })

export interface CallbackOutcome {
  status?: number
  error?: string
  attempts: number
}


/** The function's response headers, then the queue-worker's own on top. */
export function callbackHeaders(result: [string, string][], own: Record<string, string>): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {}
  for (const [k, v] of result) {
    const key = k.toLowerCase()
    if (HOP_BY_HOP.has(key) || key === 'host') continue
    const prev = headers[key]
    headers[key] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [String(prev)]), v]
  }
  for (const [k, v] of Object.entries(own)) headers[k.toLowerCase()] = v
  return headers
}

export class CallbackSender {
  private readonly http = new HttpAgent({ keepAlive: true, maxSockets: 256 })
  private readonly https = new HttpsAgent({ keepAlive: true, maxSockets: 256 })
  private readonly timers = new Set<NodeJS.Timeout>()
  private closed = false

  constructor(readonly options: CallbackOptions = CALLBACK_DEFAULTS) {}

  async send(url: string, headers: OutgoingHttpHeaders, body: Uint8Array): Promise<CallbackOutcome> {
    let wait = this.options.initialWaitMs
    let last: CallbackOutcome = { attempts: 0 }
    for (let attempt = 1; attempt <= this.options.attempts; attempt++) {
      try {
        const status = await this.post(url, headers, body)
        last = { status, attempts: attempt }
        if (status < 500 && status !== 429 && status !== 408) return last
      } catch (err) {
        last = { error: (err as Error).message, attempts: attempt }
      }
      if (attempt === this.options.attempts || this.closed) break
      await this.sleep(wait)
      wait *= 2
    }
    return last
  }

  close(): void {
    this.closed = true
    for (const t of this.timers) clearTimeout(t)
    this.http.destroy()
    this.https.destroy()
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t)
        resolve()
      }, ms)
      this.timers.add(t)
    })
  }

  private post(url: string, headers: OutgoingHttpHeaders, body: Uint8Array): Promise<number> {
    const target = new URL(url)
    const secure = target.protocol === 'https:'
    return new Promise<number>((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(
        target,
        { method: 'POST', headers: { ...headers, 'content-length': String(body.byteLength) }, agent: secure ? this.https : this.http, timeout: this.options.timeoutMs },
        (res) => {
          // Drain the answer so the socket goes back to the pool.
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
          res.on('error', reject)
        },
      )
      req.on('timeout', () => req.destroy(new Error(`callback timed out after ${this.options.timeoutMs} ms`)))
      req.on('error', reject)
      req.end(body)
    })
  }
}
