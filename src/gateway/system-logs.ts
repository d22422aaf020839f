import type { FastifyInstance } from 'fastify'
import { FaasError } from '../errors.js'
import type { LogBuffer, LogMessage } from '../logs/log-buffer.js'
import type { Router } from '../router/router.js'

interface LogsQuery {
  name?: string
  namespace?: string
  instance?: string
  tail?: string
  follow?: string
  since?: string
}

const line = (m: LogMessage): string => `${JSON.stringify(m)}\n`

/**
 * `GET /system/logs?name=&tail=&follow=&since=` as OpenFaaS serves it: NDJSON, one
 * `{name, namespace, instance, timestamp, text}` per line; `follow` keeps the response open
 * and streams new lines until the client goes away or the gateway closes.
 */
export function systemLogs(router: Router, buffer: LogBuffer) {
  return (app: FastifyInstance): void => {
    const open = new Set<() => void>()
    // Followers would otherwise hold the server open on shutdown.
    app.addHook('preClose', (done) => {
      for (const stop of open) stop()
      done()
    })

    app.get<{ Querystring: LogsQuery }>('/system/logs', async (request, reply) => {
      const q = request.query
      if (!q.name) throw new FaasError('ERR_BAD_REQUEST', 'query parameter name is required: /system/logs?name=NAME\n', { internal: 'gateway' })
      const raw = q.namespace ? `${q.name}.${q.namespace}` : q.name
      const name = router.resolve(raw).name
      const tail = q.tail === undefined || q.tail === '' ? undefined : Number(q.tail)
      if (tail !== undefined && !Number.isInteger(tail)) throw new FaasError('ERR_BAD_REQUEST', `tail: ${JSON.stringify(q.tail)} is not a whole number\n`, { internal: 'gateway' })
      const since = q.since ? new Date(q.since) : undefined
      if (since && Number.isNaN(since.getTime())) throw new FaasError('ERR_BAD_REQUEST', `since: ${JSON.stringify(q.since)} is not an RFC 3339 time\n`, { internal: 'gateway' })
      const follow = q.follow === 'true' || q.follow === '1'
      const matches = (m: LogMessage): boolean => !q.instance || m.instance === q.instance
      const past = buffer.tail(name, { ...(tail !== undefined ? { tail } : {}), ...(since ? { since } : {}) }).filter(matches)

      reply.type('application/x-ndjson')
      if (!follow) return reply.send(past.map(line).join(''))

      // The response is ours from here: headers go out at once (a follower must see 200
      // before the function writes anything) and lines are written as they come.
      reply.hijack()
      const res = reply.raw
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' })
      res.flushHeaders()
      for (const m of past) res.write(line(m))
      const unsubscribe = buffer.subscribe(name, (m) => {
        if (matches(m)) res.write(line(m))
      })
      const stop = (): void => {
        unsubscribe()
        open.delete(stop)
        res.end()
      }
      open.add(stop)
      // The response closes when the client disconnects.
      res.once('close', stop)
      return reply
    })
  }
}
