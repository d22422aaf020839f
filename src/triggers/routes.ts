/**
 * `POST /system/publish/TOPIC` (a message to every function subscribed to TOPIC, 202 with the
 * call ids) and `GET /system/triggers` (each function's topics, schedule and next run).
 * Under `/system`, so `--auth` covers them. Registered as a gateway plugin by the runtime.
 */
import type { FastifyInstance } from 'fastify'
import { FaasError } from '../errors.js'
import { isPublishableTopic } from './annotations.js'
import type { Triggers } from './triggers.js'

export function triggerRoutes(triggers: Triggers, maxBody: number): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    await app.register(async (r) => {
      // The message is passed on as it came: bytes and content type.
      r.removeAllContentTypeParsers()
      r.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBody }, (_req, body, done) => done(null, body))
      r.post<{ Params: { topic: string } }>('/system/publish/:topic', async (request, reply) => {
        const { topic } = request.params
        if (!isPublishableTopic(topic)) throw new FaasError('ERR_BAD_REQUEST', `${JSON.stringify(topic)} is not a topic: dot-separated names without spaces or the wildcards * and >\n`, { internal: 'gateway' })
        const body = request.body as Buffer | undefined
        const calls = await triggers.publish(topic, body && body.length > 0 ? new Uint8Array(body) : null, request.headers['content-type'])
        return reply.code(202).send({ topic, calls })
      })
    })
    app.get('/system/triggers', async () => triggers.status())
  }
}
