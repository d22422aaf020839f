import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { FaasError } from '../errors.js'
import type { InvokeResult } from '../pool/replica.js'
import { HOP_BY_HOP } from '../router/hop-by-hop.js'
import { newCallId } from './call-id.js'
import { lingerOnClose } from './linger.js'
import type { Router } from '../router/router.js'
import { subPath } from './request-target.js'
import { registerSystemRoutes } from './system-routes.js'

export interface GatewayOptions {
  router: Router
  /** Request body limit in bytes (413 above it). @default 10 MiB */
  maxBody: number
  version: string
  /** False while starting or draining: `/readyz` answers 503. */
  isReady: () => boolean
  /** faasdev's structured logger; Fastify's logging is off without it. Requests are not logged (the metrics count them). */
  logger?: FastifyBaseLogger
  /** Completed calls of a function for `invocationCount` (from the metrics). @default calls started */
  invocationCount?: (name: string) => number
  /** The folder `/system/secrets` lists (`.secrets/` beside the stack file). */
  secretsDir?: () => string
  /** Plugins that must see every route as it is added (`onRoute` hooks): registered before any route. */
  routeHooks?: ((app: FastifyInstance) => void | Promise<void>)[]
  /** Extra routes (async submit, queue status, metrics…) registered by other components. */
  plugins?: ((app: FastifyInstance) => void | Promise<void>)[]
}


/** The caller's `X-Call-Id`, kept as OpenFaaS does, or a new one. */
export function callIdOf(request: FastifyRequest): string {
  return (request.headers['x-call-id'] as string | undefined) || newCallId()
}

/** Unix time in nanoseconds, as the OpenFaaS gateway writes `X-Start-Time`. */
export function startTimeHeader(ms = Date.now()): string {
  return `${ms}000000`
}

export function sendResult(reply: FastifyReply, result: InvokeResult): FastifyReply {
  reply.code(result.status)
  for (const [k, v] of result.headers) {
    // Fastify appends a `set-cookie` to those already set (and replaces any other header).
    if (!HOP_BY_HOP.has(k)) reply.header(k, v)
  }
  // Text goes out as it came (Node writes the head and a string body in one piece) in a type
  // Fastify leaves as it is; in any other, as its bytes, which Fastify sends with the type as set.
  if (result.text !== undefined && sendsAsText(result)) return reply.send(result.text)
  return reply.send(Buffer.from(result.body.buffer, result.body.byteOffset, result.body.byteLength))
}

function sendsAsText(result: InvokeResult): boolean {
  for (const [k, v] of result.headers) if (k === 'content-type') return PLAIN_TYPES.has(v)
  return false
}

/**
 * The content types of a text result that Fastify's `send` would leave exactly as they are
 * (it adds a charset to a type without one): a fetch-style handler's string and JSON value, and
 * the node template's (Express's `res.send` of a string is `text/html`).
 */
const PLAIN_TYPES: ReadonlySet<string> = new Set(['text/plain; charset=utf-8', 'application/json; charset=utf-8', 'text/html; charset=utf-8'])

/** A content type Fastify reads as valid (`type/subtype`, token characters), so leaves on a byte body as it is. */
const VALID_TYPE = /^\s*[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+\s*(?:;|$)/

/** Whether `name` is already in the flat name/value list `head`. */
function repeats(head: string[], name: string): boolean {
  for (let i = 0; i < head.length; i += 2) if (head[i] === name) return true
  return false
}

/**
 * Writes a result straight to the socket when Fastify's `send` would write exactly the same
 * head and body, and says whether it did: a handler's string or JSON value, or bytes with a
 * valid content type (a Response). Fastify's `send` parses the content type, runs its hook
 * chain and fills a header object per call; on the sync path that was the largest share of
 * the gateway's own work per call. Anything else (HEAD, 1xx/204/304, no or another content
 * type, a header named twice other than `set-cookie`, one Node refuses) goes through Fastify
 * as before. Header names come lower-case from the replica.
 */
function writeResult(reply: FastifyReply, method: string, result: InvokeResult, head: string[]): boolean {
  const text = result.text
  const status = result.status
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) return false
  let typed = false
  let asText = false
  for (const [k, v] of result.headers) {
    if (HOP_BY_HOP.has(k)) continue
    if (k === 'content-type') {
      if (typed) return false
      // Text in another valid type (a node-template handler's own) goes as its bytes, as Fastify would send it.
      asText = text !== undefined && PLAIN_TYPES.has(v)
      if (!asText && !VALID_TYPE.test(v)) return false
      typed = true
    } else if (k !== 'set-cookie' && repeats(head, k)) return false
    head.push(k, v)
  }
  if (!typed) return false
  const body = asText ? (text as string) : Buffer.from(result.body.buffer, result.body.byteOffset, result.body.byteLength)
  head.push('content-length', String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength))
  return writeRaw(reply, status, head, body)
}

/**
 * Writes a whole response past Fastify (`head`: flat name/value pairs, Content-Length included)
 * and says whether it did: nothing is written if Node refuses a header, and the caller can then
 * answer through Fastify.
 */
export function writeRaw(reply: FastifyReply, status: number, head: string[], body?: string | Uint8Array): boolean {
  try {
    reply.raw.writeHead(status, head)
  } catch {
    return false
  }
  reply.hijack()
  reply.raw.end(body)
  return true
}

/** The gateway: OpenFaaS routes over the router. Does not listen. */
export async function createGateway(options: GatewayOptions): Promise<FastifyInstance> {
  const { router } = options
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger, logController: new LogController({ disableRequestLogging: true }) } : { logger: false }),
    bodyLimit: options.maxBody,
    routerOptions: { maxParamLength: 500 },
    return503OnClosing: true,
    forceCloseConnections: false,
  })

  for (const plugin of options.routeHooks ?? []) await plugin(app)

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    // A body refused unread: the client may still be sending it and must get to read the 413.
    if (err.statusCode === 413) lingerOnClose(request.raw.socket)
    const started = (request as FastifyRequest & { faasStarted?: number }).faasStarted
    if (started !== undefined) reply.header('X-Duration-Seconds', ((performance.now() - started) / 1000).toFixed(6))
    if (err instanceof FaasError) {
      reply.code(err.statusCode).headers(err.headers)
      if (err.emptyBody) return reply.send('')
      return reply.type('text/plain; charset=utf-8').send(err.message.endsWith('\n') ? err.message : `${err.message}\n`)
    }
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500
    if (status >= 500) {
      if (options.logger) request.log.error({ err }, 'gateway error')
      else console.error(err)
    }
    const message = err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? `request body is larger than the limit of ${options.maxBody} bytes (--max-body)` : err.message
    return reply.code(status).header('X-OpenFaaS-Internal', 'gateway').type('text/plain; charset=utf-8').send(`${message}\n`)
  })

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).type('text/plain; charset=utf-8').send(`no route for ${request.method} ${request.url.split('?')[0]}\n`)
  })

  // Function routes take any body as raw bytes: the handler decides what it means.
  await app.register(async (fn) => {
    fn.removeAllContentTypeParsers()
    fn.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: options.maxBody }, (_req, body, done) => done(null, body))

    // Neither an async frame nor a returned promise: every sync call passes here, and Fastify
    // would chain one more promise on a returned one. The reply is sent from the callbacks.
    const invoke = (request: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply): void => {
      const started = performance.now()
      ;(request as FastifyRequest & { faasStarted?: number }).faasStarted = started
      const callId = callIdOf(request)
      const startTime = startTimeHeader()
      const body = request.body as Buffer | undefined
      // The request's own headers object, not a copy: nothing reads it after the call, and the
      // call id set here is the one the caller sent, or the one we answer with.
      const headers = request.headers as Record<string, string | string[]>
      headers['x-call-id'] = callId
      const method = request.method
      const failed = (err: unknown): void => {
        // The error handler answers; these say which call it was.
        if (reply.sent) return
        reply.header('X-Call-Id', callId).header('X-Start-Time', startTime)
        void reply.send(err instanceof Error ? err : new Error(String(err)))
      }
      void router
        .invoke(request.params.name, {
          method,
          path: subPath(request.url),
          headers,
          body: body && body.length > 0 ? new Uint8Array(body) : null,
          callId,
        })
        .then((result) => {
          try {
            const duration = ((performance.now() - started) / 1000).toFixed(6)
            if (writeResult(reply, method, result, ['x-call-id', callId, 'x-start-time', startTime, 'x-duration-seconds', duration])) return
            reply.header('X-Call-Id', callId).header('X-Start-Time', startTime).header('X-Duration-Seconds', duration)
            void sendResult(reply, result)
          } catch (err) {
            failed(err)
          }
        }, failed)
    }
    fn.all('/function/:name', invoke)
    fn.all('/function/:name/*', invoke)
  })

  await registerSystemRoutes(app, { router, version: options.version, invocationCount: options.invocationCount, secretsDir: options.secretsDir })
  app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('OK'))
  app.get('/readyz', async (_req, reply) => (options.isReady() ? reply.type('text/plain').send('OK') : reply.code(503).type('text/plain').send('not ready\n')))

  for (const plugin of options.plugins ?? []) await plugin(app)
  return app
}

