/**
 * Async routes: `POST /async-function/NAME[/sub/path][?q]` puts a call on the queue (202), and
 * `/system/async-function/CALL_ID`, `/system/queue`, `/system/queue/dead-letters` report on it.
 * Registered as a gateway plugin by the runtime.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { FaasError } from '../errors.js'
import { deliveredContentLength, type QueueWorker } from '../queue-worker/worker.js'
import type { DeadLetter } from '../queue-worker/calls.js'
import { redactUrl } from '../logs/redact.js'
import { HOP_BY_HOP } from '../router/hop-by-hop.js'
import { splitName, type Router } from '../router/router.js'
import { callIdOf, startTimeHeader, writeRaw } from './app.js'
import { subPath } from './request-target.js'

export interface AsyncRoutesOptions {
  router: Router
  worker: QueueWorker
  /** Request body limit in bytes (413 above it). */
  maxBody: number
  /** Which backend holds the queue, shown by `/system/queue`. */
  kind: string
}


/** The last callback URL accepted, as given and as normalised: most producers send one URL for every call. */
let lastCallbackUrl: [string, string] | undefined

/** An `X-Callback-Url` must be an absolute http(s) URL; anything else is refused at submit. */
export function validateCallbackUrl(value: string | string[] | undefined): string | undefined {
  if (value === undefined || value === '') return undefined
  const text = Array.isArray(value) ? value[0] : value
  if (lastCallbackUrl && text === lastCallbackUrl[0]) return lastCallbackUrl[1]
  let url: URL | undefined
  try {
    url = new URL(text ?? '')
  } catch {
    url = undefined
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new FaasError('ERR_BAD_CALLBACK_URL', `X-Callback-Url must be an http:// or https:// URL, got ${JSON.stringify(redactUrl(text ?? ''))}\n`, { internal: 'gateway' })
  }
  lastCallbackUrl = [text as string, url.href]
  return url.href
}

function deadLetterJson(l: DeadLetter): Record<string, unknown> {
  return {
    callId: l.call.id,
    function: l.call.function,
    method: l.call.method,
    path: l.call.path,
    attempts: l.attempts,
    lastStatus: l.lastStatus,
    lastHeaders: Object.fromEntries(l.lastHeaders),
    // The body as text: most function errors are; binary bodies show replacement characters.
    lastBody: new TextDecoder().decode(l.lastBody.subarray(0, 64 * 1024)),
    submittedAt: new Date(l.call.submittedAt).toISOString(),
    deadLetteredAt: new Date(l.deadLetteredAt).toISOString(),
    ...(l.call.callbackUrl ? { callbackUrl: redactUrl(l.call.callbackUrl) } : {}),
  }
}

export function asyncRoutes(options: AsyncRoutesOptions): (app: FastifyInstance) => Promise<void> {
  const { router, worker } = options
  return async (app) => {
    await app.register(async (fn) => {
      // Like the sync routes: any body is kept as raw bytes for the function.
      fn.removeAllContentTypeParsers()
      fn.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: options.maxBody }, (_req, body, done) => done(null, body))

      // Straight to the socket: the same head Fastify's `send('')` writes, without its content
      // type parsing, hook chain and header object per call. Node writes the caller's X-Call-Id
      // back as it is: its parser took the value, and it refuses the same characters on writing.
      const accepted = (reply: FastifyReply, callId: string, now: number): undefined => {
        const head = ['x-call-id', callId, 'x-start-time', startTimeHeader(now), 'content-type', 'text/plain; charset=utf-8', 'content-length', '0']
        if (!writeRaw(reply, 202, head)) throw new Error(`Node refused the 202's head for call ${callId}`)
        return undefined
      }

      // Not an async function: with the memory queue the call is queued at once, and the 202
      // goes out without a promise and a microtask more per call.
      const submit = (request: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply): Promise<undefined> | undefined => {
        if (request.method !== 'POST') {
          throw new FaasError('ERR_METHOD_NOT_ALLOWED', `async invocations take POST only, not ${request.method}\n`, { internal: 'gateway', headers: { Allow: 'POST' } })
        }
        const rawName = request.params.name
        // Unlike OpenFaaS CE (202 for anything), an unknown function is refused now, not lost later.
        const deployment = router.resolve(rawName)
        const callbackUrl = validateCallbackUrl(request.headers['x-callback-url'])
        const callId = callIdOf(request)
        const now = Date.now()
        const headers: Record<string, string | string[]> = {}
        const given = request.headers
        for (const k in given) {
          const v = given[k]
          if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v
        }
        headers['x-call-id'] = callId
        const body = request.body as Buffer | undefined
        // The caller's framing is dropped above. Framed here by the delivery rule, so the first
        // delivery sends these headers as stored; retries, replays and triggers are framed again there.
        const length = deliveredContentLength(request.method, body?.length ?? 0)
        if (length !== undefined) headers['content-length'] = length
        const queued = worker.submitNow({
          id: callId,
          function: deployment.name,
          method: request.method,
          path: subPath(request.url),
          headers,
          // A copy: a small Buffer is a view into a shared 8 KiB slab that a queued call would pin.
          body: body && body.length > 0 ? new Uint8Array(body) : null,
          ...(callbackUrl ? { callbackUrl } : {}),
          submittedAt: now,
        })
        if (queued) return queued.then(() => accepted(reply, callId, now))
        return accepted(reply, callId, now)
      }
      fn.all('/async-function/:name', submit)
      fn.all('/async-function/:name/*', submit)
    })

    app.get<{ Params: { id: string } }>('/system/async-function/:id', async (request) => worker.status(request.params.id))

    app.get('/system/queue', async () => ({
      kind: options.kind,
      functions: worker.stats(),
      ...worker.counters,
    }))

    app.get<{ Querystring: { function?: string } }>('/system/queue/dead-letters', async (request) => {
      const fnName = request.query.function ? splitName(request.query.function).name : undefined
      return (await worker.deadLetters.list(fnName)).map(deadLetterJson)
    })

    app.post<{ Params: { id: string } }>('/system/queue/dead-letters/:id/retry', async (request, reply) => {
      const record = await worker.replay(request.params.id)
      return reply.code(202).header('X-Call-Id', record.callId).send(record)
    })
  }
}
