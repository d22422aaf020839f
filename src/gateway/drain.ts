import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { lingerOnClose } from './linger.js'

/** The routes that start a call; the route pattern matched, so no spelling of a path gets past. */
const CALL_ROUTE = /^\/(async-)?function\//

/** How long a client refused while draining is told to wait (it may reach a restarted faasdev). */
const RETRY_AFTER_SECONDS = '5'

/**
 * Shutdown without refused connections: while faasdev drains, the gateway keeps listening and
 * answers every new sync or async call 503 with `Retry-After` and `Connection: close`, while
 * the calls it had already taken finish. `settled()` says when those are done, so the
 * listener is closed only then (the SPEC promises 503 until exit, never ECONNREFUSED).
 */
export class DrainGate {
  private draining = false
  /** Sync and async submits taken and not yet answered. */
  private inflight = 0
  private readonly waiters = new Set<() => void>()

  /**
   * The gateway plugin: counts the calls taken, refuses new ones once draining. It must be
   * registered before any route: it puts its hook on the call routes as they are added (the
   * route pattern decides, so no spelling of a path gets past), and other routes pay nothing.
   */
  readonly plugin = (app: FastifyInstance): void => {
    app.addHook('onRoute', (route) => {
      if (!CALL_ROUTE.test(route.url)) return
      const own = route.onRequest
      route.onRequest = own === undefined ? [this.gate] : [this.gate, ...(Array.isArray(own) ? own : [own])]
    })
  }

  private readonly gate = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
    if (this.draining) {
      // Refused before its body is read: the client may still be sending it.
      lingerOnClose(request.raw.socket)
      void reply
        .code(503)
        .headers({ 'Retry-After': RETRY_AFTER_SECONDS, Connection: 'close', 'X-OpenFaaS-Internal': 'gateway' })
        .type('text/plain; charset=utf-8')
        .send('faasdev is shutting down and takes no new calls; retry later\n')
      return
    }
    this.inflight++
    // `on`, not `once`: a response closes once, and `once` would wrap the listener per call.
    reply.raw.on('close', this.release)
    done()
  }

  private readonly release = (): void => {
    this.inflight--
    if (this.inflight === 0) for (const wake of this.waiters) wake()
  }

  /** From now on new calls get 503; the calls already taken go on. */
  drain(): void {
    this.draining = true
  }

  /** Resolves once no call taken before `drain()` is still being answered, or at `deadline` (epoch ms). */
  settled(deadline: number): Promise<void> {
    if (this.inflight === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        this.waiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()))
      this.waiters.add(done)
    })
  }
}
