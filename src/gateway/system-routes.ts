import { readdir } from 'node:fs/promises'
import { arch } from 'node:os'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { FaasError } from '../errors.js'
import type { Deployment } from '../pool/deployment.js'
import { DEFAULT_NAMESPACE, splitName, type Router } from '../router/router.js'

export interface SystemRoutesOptions {
  router: Router
  version: string
  /** Completed calls of a function for `invocationCount` (from the metrics). @default calls started */
  invocationCount?: ((name: string) => number) | undefined
  /** The folder whose files are the secrets: `.secrets/` beside the stack file. */
  secretsDir?: (() => string) | undefined
}

/**
 * Annotations on a function faasdev lists but does not run as written (skipped, failed, or
 * serving its previous version after a build error): `faas-cli describe` prints annotations,
 * so OpenFaaS's own client shows why.
 */
export const STATUS_ANNOTATION = 'faasdev/status'
export const REASON_ANNOTATION = 'faasdev/reason'

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
    annotations: d.buildError ? { ...spec.annotations, [STATUS_ANNOTATION]: 'build-error', [REASON_ANNOTATION]: d.buildError } : spec.annotations,
    secrets: Object.keys(spec.secrets),
    createdAt: d.createdAt.toISOString(),
    lang: spec.lang,
    inflight: s.inflight,
    maxInflight: spec.watchdog.maxInflight,
  }
  if (spec.limits.memory || spec.limits.cpu) out.limits = spec.limits
  if (s.desired) out.replicas = s.desired
  if (s.ready) out.availableReplicas = s.ready
  if (s.heldBack) out.heldBack = { replicas: s.heldBack, replicaBudget: d.replicaBudget }
  if (s.scaleHold) out.scaleHold = s.scaleHold
  if (invocationCount) out.invocationCount = invocationCount
  if (d.lastError) out.lastError = { ...d.lastError, at: d.lastError.at.toISOString() }
  if (d.buildError) out.buildError = d.buildError
  return out
}

/** A skipped or failed function as OpenFaaS would list one whose pods never became available: no replica, and why. */
export function notRunningStatus(router: Router, name: string): Record<string, unknown> | undefined {
  if (router.deployments.has(name)) return undefined
  const failed = router.failed.get(name)
  const skipped = router.skipped.get(name)
  if (!failed && !skipped) return undefined
  const spec = failed?.spec
  const lang = spec?.lang ?? skipped?.lang ?? ''
  return {
    name,
    image: spec?.image ?? skipped?.image ?? `faasdev/${name}:local`,
    namespace: DEFAULT_NAMESPACE,
    envProcess: lang,
    envVars: spec?.environment ?? {},
    labels: spec?.labels ?? {},
    annotations: { ...spec?.annotations, [STATUS_ANNOTATION]: failed ? 'failed' : 'skipped', [REASON_ANNOTATION]: failed?.reason ?? skipped?.reason ?? '' },
    secrets: spec ? Object.keys(spec.secrets) : [],
    lang,
    inflight: 0,
    maxInflight: spec?.watchdog.maxInflight ?? 0,
  }
}

/** faasd's answer for a namespace it does not have (`?namespace=` on the system API): faasdev has only `openfaas-fn`. */
function checkNamespace(namespace: unknown): void {
  if (namespace === undefined || namespace === '' || namespace === DEFAULT_NAMESPACE) return
  throw new FaasError('ERR_BAD_REQUEST', 'namespace not valid\n', { internal: 'gateway' })
}

type NamespaceQuery = { Querystring: { namespace?: unknown } }

/**
 * The OpenFaaS `/system/*` API faas-cli talks to: functions, scale, secrets, info, namespaces.
 * Bodies are read as bytes whatever their content type: OpenFaaS decodes the scale request
 * as JSON even when curl labels it a form.
 */
export async function registerSystemRoutes(app: FastifyInstance, options: SystemRoutesOptions): Promise<void> {
  const { router } = options
  const count = (d: Deployment): number => options.invocationCount?.(d.name) ?? d.stats().started
  await app.register(async (sys) => {
    sys.removeAllContentTypeParsers()
    sys.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

    const notDeployable = (_req: FastifyRequest, reply: FastifyReply): FastifyReply =>
      reply
        .code(501)
        .type('text/plain; charset=utf-8')
        .send('faasdev deploys functions from stack.yml: edit it and save (hot reload), or restart `faasdev up`\n')

    sys.get<NamespaceQuery>('/system/functions', async (request) => {
      checkNamespace(request.query.namespace)
      const listed = [...router.deployments.values()].map((d) => functionStatus(d, count(d)))
      for (const name of [...router.failed.keys(), ...router.skipped.keys()]) {
        const status = notRunningStatus(router, name)
        if (status) listed.push(status)
      }
      return listed
    })
    sys.post('/system/functions', notDeployable)
    sys.put('/system/functions', notDeployable)
    sys.delete('/system/functions', notDeployable)

    sys.get<NamespaceQuery & { Params: { name: string } }>('/system/function/:name', async (request) => {
      checkNamespace(request.query.namespace)
      const { name, namespace } = splitName(request.params.name)
      const notRunning = namespace === DEFAULT_NAMESPACE ? notRunningStatus(router, name) : undefined
      if (notRunning) return notRunning
      const d = router.resolve(request.params.name)
      return functionStatus(d, count(d))
    })

    sys.post<NamespaceQuery & { Params: { name: string } }>('/system/scale-function/:name', async (request, reply) => {
      const raw = request.body instanceof Buffer ? request.body.toString('utf8') : ''
      let body: { replicas?: unknown; namespace?: unknown } | null
      try {
        body = JSON.parse(raw) as typeof body
      } catch (err) {
        throw new FaasError('ERR_BAD_REQUEST', `body must be JSON {"serviceName": NAME, "replicas": N}: ${(err as Error).message}\n`, { internal: 'gateway' })
      }
      checkNamespace(request.query.namespace)
      checkNamespace(body?.namespace)
      const d = router.resolve(request.params.name)
      const replicas = body?.replicas
      if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
        throw new FaasError('ERR_BAD_REQUEST', 'body must be JSON {"serviceName": NAME, "replicas": N} with N a whole number ≥ 0\n', { internal: 'gateway' })
      }
      if (replicas > d.spec.scale.max) {
        throw new FaasError('ERR_BAD_REQUEST', `replicas must be between 0 and ${d.spec.scale.max} (com.openfaas.scale.max) for ${d.name}\n`, { internal: 'gateway' })
      }
      d.scale(replicas)
      return reply.code(202).send('')
    })

    // faasd lists the files of its secrets folder; faasdev's is `.secrets/`, which the user edits.
    sys.get<NamespaceQuery>('/system/secrets', async (request) => {
      checkNamespace(request.query.namespace)
      const dir = options.secretsDir?.()
      const entries = dir ? await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err))) : []
      return entries
        .filter((e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith('.'))
        .map((e) => e.name)
        .sort()
        .map((name) => ({ name, namespace: DEFAULT_NAMESPACE }))
    })
    const secretsReadOnly = (_req: FastifyRequest, reply: FastifyReply): FastifyReply =>
      reply
        .code(501)
        .type('text/plain; charset=utf-8')
        .send('faasdev reads secrets from .secrets/ beside the stack file: write the value to .secrets/NAME (a save reloads the functions that use it)\n')
    sys.post('/system/secrets', secretsReadOnly)
    sys.put('/system/secrets', secretsReadOnly)
    sys.delete('/system/secrets', secretsReadOnly)

    sys.get('/system/info', async () => ({
      provider: { provider: 'faasdev', orchestration: 'worker_threads', version: { release: options.version, sha: 'dev' } },
      version: { release: options.version, sha: 'dev', commit_message: '' },
      arch: arch() === 'x64' ? 'x86_64' : arch(),
    }))
    sys.get('/system/namespaces', async () => [DEFAULT_NAMESPACE])
  })
}
