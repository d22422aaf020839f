import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { isOpenPattern, isProtectedRoute, looksProtected } from './request-target.js'

export interface BasicAuthOptions {
  /** @default 'admin' */
  user?: string
  password: string
}

/** A password for `--auth` when `FAASDEV_PASSWORD` is not set: printed once at start. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url')
}

/**
 * OpenFaaS protects the system API and the UI, never function calls, health or metrics.
 * Decided on the route the router matched, which no spelling of the path (`/%73ystem`, `//`,
 * absolute-form…) changes, so every route registered under `/system/` or `/ui` is covered
 * without asking; a request no route matched is judged on every reading of its path.
 */
export function isProtected(request: FastifyRequest): boolean {
  const pattern = request.routeOptions.url
  if (pattern === undefined || isOpenPattern(pattern)) return looksProtected(request.url)
  return isProtectedRoute(pattern)
}

// Comparing fixed-length digests keeps the comparison constant-time whatever the lengths.
const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

/** Basic auth on `/system/*` and `/ui/` with OpenFaaS's 401 answer. */
export function basicAuth(options: BasicAuthOptions) {
  const expected = digest(`${options.user ?? 'admin'}:${options.password}`)
  return (app: FastifyInstance): void => {
    app.addHook('onRequest', async (request, reply) => {
      if (!isProtected(request)) return
      const header = request.headers.authorization ?? ''
      const match = /^Basic\s+(\S+)$/i.exec(header)
      const given = match?.[1] ? Buffer.from(match[1], 'base64').toString('utf8') : ''
      if (given && timingSafeEqual(digest(given), expected)) return
      return reply.code(401).header('WWW-Authenticate', 'Basic realm="Restricted"').type('text/plain; charset=utf-8').send('invalid credentials\n')
    })
  }
}

/** `--auth`: the password from `FAASDEV_PASSWORD`, or a new one the caller prints once. */
export function authSettings(env: NodeJS.ProcessEnv = process.env): { password: string; generated: boolean } {
  const fromEnv = env.FAASDEV_PASSWORD?.trim()
  return fromEnv ? { password: fromEnv, generated: false } : { password: generatePassword(), generated: true }
}
