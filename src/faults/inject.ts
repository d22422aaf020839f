/**
 * Where faults take effect. Each is the real event, not an answer made up at the edge: the
 * replica serving the call hangs, dies or runs out of heap (`src/pool/worker/fault.ts`), the
 * function really goes to zero replicas, the callback POST really fails to connect.
 */
import { createServer, type Server } from 'node:net'
import type { Deployment } from '../pool/deployment.js'
import type { InvokeRequest, InvokeResult } from '../pool/replica.js'
import type { Router } from '../router/router.js'
import type { Fault, FaultKind, FaultTarget } from './spec.js'
import type { FaultStore } from './store.js'

/** The heap an `oom` fault's replica gets when its function has no `limits.memory`. */
export const OOM_HEAP_MB = 32

function errorResult(fault: Fault): InvokeResult {
  return {
    status: fault.status ?? 500,
    headers: [
      ['content-type', 'text/plain; charset=utf-8'],
      ['X-OpenFaaS-Internal', 'faasdev-fault'],
    ],
    body: new TextEncoder().encode(`fault injected (${fault.id}): error ${fault.status ?? 500}\n`),
  }
}

/** A fault met when a call is made: every kind but `callback`, which meets the callback POST. */
export type InvokeFault = Fault & { kind: Exclude<FaultKind, 'callback'> }

function isInvokeFault(fault: Fault): fault is InvokeFault {
  return fault.kind !== 'callback'
}

/** What a call does when it meets `fault`. */
export function meet(fault: InvokeFault, deployment: Deployment, request: InvokeRequest): Promise<InvokeResult> {
  switch (fault.kind) {
    case 'error':
      return Promise.resolve(errorResult(fault))
    case 'latency':
      return deployment.invoke({ ...request, fault: { kind: 'latency', ms: fault.ms ?? 0 } })
    case 'timeout':
    case 'crash':
      return deployment.invoke({ ...request, fault: { kind: fault.kind } })
    case 'oom':
      return deployment.spec.memoryLimitBytes
        ? deployment.invoke({ ...request, fault: { kind: 'oom' } })
        : deployment.invokeOnFreshReplica({ ...request, fault: { kind: 'oom' } }, OOM_HEAP_MB)
    case 'cold':
      // Every replica drains, those of a version being replaced too (scale(0) drains them); the
      // call is then held while a new one starts, as at zero.
      deployment.scale(0)
      return deployment.invoke(request)
  }
}

/** Resolves a fault's function among those running (as a call's name resolves). */
export function faultTargets(router: Router): (name: string) => FaultTarget | undefined {
  return (name) => {
    try {
      const d = router.resolve(name)
      return { name: d.name, execTimeoutMs: d.spec.watchdog.execTimeoutMs }
    } catch {
      return undefined
    }
  }
}

/**
 * Whether a call meeting `fault` goes ahead. One the deployment turns away (429 saturated, 503
 * closing) must not meet a fault that needs a slot of a running replica: the queue-worker puts
 * such a delivery back as "not an attempt", so the fault would be spent (and counted) for
 * nothing. Asked just before meet() sends the call, in the same turn, so no other call takes
 * the slot between. `error`, `cold` and a fresh-replica `oom` need no slot.
 */
function admits(fault: Fault, deployment: Deployment): boolean {
  if (deployment.closed) return false
  const needsSlot = fault.kind === 'latency' || fault.kind === 'timeout' || fault.kind === 'crash' || (fault.kind === 'oom' && (deployment.spec.memoryLimitBytes ?? 0) > 0)
  return !needsSlot || deployment.freeSlots() > 0 || deployment.stats().ready === 0
}

/** The router's hook: calls meet the faults of their function. */
export function faultInterceptor(store: FaultStore): (deployment: Deployment, request: InvokeRequest) => Promise<InvokeResult> | undefined {
  return (deployment, request) => {
    const fault = store.take('invoke', deployment.name, (fault) => admits(fault, deployment))
    return fault && isInvokeFault(fault) ? meet(fault, deployment, request) : undefined
  }
}

/**
 * A receiver that drops every connection it gets: a callback fault sends the call's callback
 * here, so each try fails on the wire as an unreachable receiver's would. Started on the first
 * callback fault met.
 */
export class CallbackSink {
  private server: Server | undefined
  private url: Promise<string> | undefined

  /** The URL a callback is sent to instead of its own when it meets a fault, if it does. */
  target(store: FaultStore, fn: string): Promise<string> | undefined {
    if (!store.take('callback', fn)) return undefined
    this.url ??= new Promise<string>((resolve, reject) => {
      const server = createServer((socket) => socket.destroy())
      this.server = server
      server.unref()
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address()
        resolve(`http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`)
      })
    })
    return this.url
  }

  close(): Promise<void> {
    const server = this.server
    this.server = undefined
    if (!server) return Promise.resolve()
    return new Promise((resolve) => server.close(() => resolve()))
  }
}
