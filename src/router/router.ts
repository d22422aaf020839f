import type { FunctionSpec, SkippedFunction } from '../config/stack.js'
import { FaasError } from '../errors.js'
import type { Deployment } from '../pool/deployment.js'
import type { InvokeRequest, InvokeResult } from '../pool/replica.js'

export const DEFAULT_NAMESPACE = 'openfaas-fn'

/** A function whose build or first replica failed: listed by the API, answered 404 with its reason. */
export interface FailedFunction {
  spec: FunctionSpec
  reason: string
}

export interface CallObserver {
  /** Called when a call starts and when it ends (with its status), for metrics and autoscaling. */
  started?(name: string): void
  finished?(name: string, status: number, seconds: number): void
}

/** Splits `NAME.NAMESPACE` on the last dot, as the OpenFaaS gateway does. */
export function splitName(raw: string): { name: string; namespace: string } {
  const dot = raw.lastIndexOf('.')
  return dot < 0 ? { name: raw, namespace: DEFAULT_NAMESPACE } : { name: raw.slice(0, dot), namespace: raw.slice(dot + 1) }
}

const statusOf = (err: unknown): number => (err instanceof FaasError ? err.statusCode : 500)

/** The one path both sync and async calls take: name → deployment → replica. */
export class Router {
  readonly deployments = new Map<string, Deployment>()
  readonly skipped = new Map<string, SkippedFunction>()
  readonly failed = new Map<string, FailedFunction>()
  private readonly observers: CallObserver[] = []
  /** Consulted before each call (fault injection); undefined lets the call through to the deployment. */
  intercept: ((deployment: Deployment, request: InvokeRequest) => Promise<InvokeResult> | undefined) | undefined

  observe(observer: CallObserver): void {
    this.observers.push(observer)
  }

  /** The deployment for `NAME` or `NAME.openfaas-fn`; a coded 404 otherwise. */
  resolve(raw: string): Deployment {
    const { name, namespace } = splitName(raw)
    const deployment = namespace === DEFAULT_NAMESPACE ? this.deployments.get(name) : undefined
    if (deployment) return deployment
    const skipped = this.skipped.get(name)
    if (skipped && namespace === DEFAULT_NAMESPACE) throw new FaasError('ERR_FUNCTION_SKIPPED', `function ${name} is not running: ${skipped.reason}\n`, { internal: 'gateway' })
    const failed = this.failed.get(name)
    if (failed && namespace === DEFAULT_NAMESPACE) throw new FaasError('ERR_FUNCTION_NOT_FOUND', `function ${name} failed to deploy: ${failed.reason}\n`, { internal: 'gateway' })
    throw new FaasError('ERR_FUNCTION_NOT_FOUND', `error finding function ${name}.${namespace}: function not found\n`, { internal: 'gateway' })
  }

  invoke(raw: string, request: InvokeRequest): Promise<InvokeResult> {
    let deployment: Deployment
    try {
      deployment = this.resolve(raw)
    } catch (err) {
      return Promise.reject(err as Error)
    }
    return this.invokeDeployment(deployment, request)
  }

  /**
   * Promise callbacks rather than async/await with try/finally: every sync call passes here,
   * and each async frame costs the main thread a promise and a microtask more per call.
   */
  invokeDeployment(deployment: Deployment, request: InvokeRequest): Promise<InvokeResult> {
    const started = performance.now()
    const name = deployment.name
    for (const o of this.observers) o.started?.(name)
    let call: Promise<InvokeResult>
    try {
      call = this.intercept?.(deployment, request) ?? deployment.invoke(request)
    } catch (err) {
      this.finished(name, started, statusOf(err))
      return Promise.reject(err as Error)
    }
    return call.then(
      (result) => {
        this.finished(name, started, result.status)
        return result
      },
      (err: unknown) => {
        this.finished(name, started, statusOf(err))
        throw err
      },
    )
  }

  private finished(name: string, started: number, status: number): void {
    const seconds = (performance.now() - started) / 1000
    for (const o of this.observers) o.finished?.(name, status, seconds)
  }
}
