/**
 * `POST /system/faults` (201 with the fault), `GET /system/faults[?function=]`,
 * `GET /system/faults/ID`, `DELETE /system/faults[/ID]`. Under `/system`, so `--auth` covers them.
 */
import type { FastifyInstance } from 'fastify'
import { splitName } from '../router/router.js'
import type { FaultStore } from './store.js'

export function faultRoutes(store: FaultStore) {
  return (app: FastifyInstance): void => {
    app.post('/system/faults', async (request, reply) => reply.code(201).send(store.inject(request.body)))
    app.get<{ Querystring: { function?: string } }>('/system/faults', async (request) => store.list(request.query.function ? splitName(request.query.function).name : undefined))
    app.get<{ Params: { id: string } }>('/system/faults/:id', async (request) => store.get(request.params.id))
    app.delete('/system/faults', async () => ({ cleared: store.clear() }))
    app.delete<{ Params: { id: string } }>('/system/faults/:id', async (request) => ({ cleared: store.clear(request.params.id) }))
  }
}
