import { arch } from 'node:os'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { FaasError } from '../errors.js'
import type { Deployment } from '../pool/deployment.js'
import { DEFAULT_NAMESPACE, type Router } from '../router/router.js'

export interface SystemRoutesOptions {
  router: Router
  version: string
  /** Completed calls of a function for `invocationCount` (from the metrics). @default calls started */
  invocationCount?: ((name: string) => number) | undefined
}

/** OpenFaaS's `FunctionStatus`, with its `omitempty` rule for zero numbers. */
export function functionStatus(d: Deployment, invocationCount?: number): Record<string, unknown> {
  const s = d.stats()
  const spec = d.spec
  const out: Record<string, unknown> = {
    name: d.name,
    image: spec.image ?? `faasdev/${d.name}:local`,
    namespace: DEFAULT_NAMESPACE,
    envProcess: spec.lang,
    envVars: spec.environment,
    labels: spec.labels,
    annotations: spec.annotations,
    secrets: Object.keys(spec.secrets),
    createdAt: d.createdAt.toISOString(),
    lang: spec.lang,
    inflight: s.inflight,
    maxInflight: spec.watchdog.maxInflight,
  }
  if (spec.limits.memory || spec.limits.cpu) out.limits = spec.limits
  if (s.desired) out.replicas = s.desired
  if (s.ready) out.availableReplicas = s.ready
  if (invocationCount) out.invocationCount = invocationCount
  if (d.lastError) out.lastError = d.lastError
  if (d.buildError) out.buildError = d.buildError
  return out
}

/** The OpenFaaS `/system/*` API faas-cli talks to: functions, scale, info, namespaces. */
export async function registerSystemRoutes(app: FastifyInstance, options: SystemRoutesOptions): Promise<void> {
  const { router } = options
  const notDeployable = (_req: FastifyRequest, reply: FastifyReply): FastifyReply =>
    reply
      .code(501)
      .type('text/plain; charset=utf-8')
      .send('faasdev deploys functions from stack.yml: edit it and save (hot reload), or restart `faasdev up`\n')

  app.get('/system/functions', async () => [...router.deployments.values()].map((d) => functionStatus(d, options.invocationCount?.(d.name) ?? d.stats().started)))
  app.post('/system/functions', notDeployable)
  app.put('/system/functions', notDeployable)
  app.delete('/system/functions', notDeployable)

  app.get<{ Params: { name: string } }>('/system/function/:name', async (request) => {
    const d = router.resolve(request.params.name)
    return functionStatus(d, options.invocationCount?.(d.name) ?? d.stats().started)
  })

  app.post<{ Params: { name: string }; Body: { serviceName?: string; replicas?: unknown } }>('/system/scale-function/:name', async (request, reply) => {
    const d = router.resolve(request.params.name)
    const replicas = request.body?.replicas
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw new FaasError('ERR_BAD_REQUEST', 'body must be JSON {"serviceName": NAME, "replicas": N} with N a whole number ≥ 0\n', { internal: 'gateway' })
    }
    if (replicas > d.spec.scale.max) {
      throw new FaasError('ERR_BAD_REQUEST', `replicas must be between 0 and ${d.spec.scale.max} (com.openfaas.scale.max) for ${d.name}\n`, { internal: 'gateway' })
    }
    d.scale(replicas)
    return reply.code(202).send('')
  })

  app.get('/system/info', async () => ({
    provider: { provider: 'faasdev', orchestration: 'worker_threads', version: { release: options.version, sha: 'dev' } },
    version: { release: options.version, sha: 'dev', commit_message: '' },
    arch: arch() === 'x64' ? 'x86_64' : arch(),
  }))
  app.get('/system/namespaces', async () => [DEFAULT_NAMESPACE])
}
