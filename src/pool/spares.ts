import { Worker } from 'node:worker_threads'
import type { AssignMessage, FromWorker, SpareReadyMessage } from './protocol.js'
import { workerResourceLimits } from './resource-limits.js'

/**
 * What a spare runs: the warm-up a new worker would otherwise pay on its first call (fetch's
 * classes, the ES module loader, the builtins every bundle imports), then it waits, holding
 * nothing of any function, for the one message that makes it a replica. Source maps are on
 * before the bundle is parsed, as in a replica started for its function.
 */
const BOOTSTRAP = `
process.setSourceMapsEnabled(true)
const { parentPort } = require('node:worker_threads')
const warm = async () => {
  const req = new Request('http://localhost/p?q=1', { method: 'POST', body: new Uint8Array(1), headers: { 'content-type': 'text/plain' } })
  // A Request copied from one with a body (streams piped through a TransformStream): what the
  // fetch-style adapter checks once when its module loads.
  const copy = new Request(req)
  copy.headers.get('content-type')
  void copy.url
  void req.signal
  await copy.text()
  await new Response(new Uint8Array(1), { headers: new Headers([['x', 'y']]) }).arrayBuffer()
  await new Response('x').text()
  new AbortController().abort()
  new TextEncoder().encode('x')
  void new URL('http://localhost:1/').origin
  const builtins = ['node:fs', 'node:fs/promises', 'node:module', 'node:os', 'node:path', 'node:url', 'node:perf_hooks', 'node:stream', 'node:events', 'node:worker_threads']
  for (const m of builtins) require(m)
  // fs loads its streams lazily; the ES module facades read every export, so they load them.
  void require('node:fs').ReadStream
  await Promise.all(builtins.map((m) => import(m)))
  await import('data:text/javascript,export default 1')
}
warm().then(() => {
  parentPort.once('message', (msg) => {
    if (msg.t !== 'assign') return
    // A worker's process.env is its own copy: replaced in place, as the function's own.
    for (const k of Object.keys(process.env)) if (!Object.hasOwn(msg.env, k)) delete process.env[k]
    Object.assign(process.env, msg.env)
    Object.defineProperty(globalThis, Symbol.for('faasdev.replicaData'), { value: msg.data })
    import(msg.url).catch((err) => { throw err })
  })
  parentPort.postMessage({ t: 'spare-ready' })
})
`

export interface SparePoolOptions {
  /** Spares kept ready per heap size in use (`--spare-replicas`); 0 turns them off. @default 1 */
  size?: number
  log?: (line: string) => void
}

export interface SpareStats {
  /** Spares past their warm-up, waiting for a function. */
  ready: number
  /** Spares still warming up. */
  starting: number
  /** Spares kept per heap size. */
  size: number
  /** Replicas that started from a spare. */
  taken: number
}

interface Spare {
  worker: Worker
  ready: boolean
  detach: () => void
}

const MAX_BACKOFF_MS = 30_000
/** How long after a taken spare is ready its replacement starts. */
const REFILL_DELAY_MS = 100

/**
 * Pre-started worker threads that belong to no function yet. A replica taken from here only
 * imports its bundle: the thread, the isolate and the warm-up are already paid. Taken spares
 * are replaced in the background.
 *
 * `resourceLimits` (the heap limit of `limits.memory`) is fixed when a worker is created, so
 * spares are kept per heap size: the default heap from the start, another size once a
 * function with that limit has asked for a replica.
 */
export class SparePool {
  readonly size: number
  private readonly pools = new Map<number, Spare[]>()
  private taken = 0
  private failures = 0
  private retry: NodeJS.Timeout | undefined
  private closing: Promise<void> | undefined

  constructor(private readonly options: SparePoolOptions = {}) {
    this.size = Math.max(0, Math.floor(options.size ?? 1))
  }

  /** Starts the spares of the default heap size (in the background). */
  start(): void {
    if (this.size > 0) this.refill(0)
  }

  /**
   * A warmed-up worker with a heap of `heapMb` (0: the default heap), now owned by the caller,
   * or undefined when none is ready. The caller must send it an {@link AssignMessage}.
   */
  take(heapMb = 0): Worker | undefined {
    if (this.size === 0 || this.closing) return undefined
    const pool = this.pools.get(heapMb)
    if (!pool) {
      this.pools.set(heapMb, [])
      this.schedule(heapMb)
      return undefined
    }
    const i = pool.findIndex((s) => s.ready)
    if (i < 0) return undefined
    const [spare] = pool.splice(i, 1) as [Spare]
    spare.detach()
    this.taken++
    this.refillAfterStart(spare.worker, heapMb)
    return spare.worker
  }

  /**
   * A new spare's warm-up takes tens of ms of CPU: started at once, it would compete (on a
   * small machine) with the replica that was just taken, which imports its bundle and then
   * answers the call that is waiting for it (and starting a worker blocks the main thread for a
   * few ms, which would delay that answer). So the replacement starts a little after the
   * replica is ready, or when it exits.
   */
  private refillAfterStart(worker: Worker, heapMb: number): void {
    let timer: NodeJS.Timeout | undefined
    const refill = (): void => {
      clearTimeout(timer)
      worker.off('message', onMessage)
      worker.off('exit', refill)
      this.schedule(heapMb)
    }
    const onMessage = (msg: FromWorker): void => {
      if (msg.t !== 'ready') return
      worker.off('message', onMessage)
      timer = setTimeout(refill, REFILL_DELAY_MS)
    }
    worker.on('message', onMessage)
    worker.once('exit', refill)
  }

  /**
   * Keeps spares only for these heap sizes (and the default heap): a size no function uses
   * any more (its `limits.memory` was edited) would otherwise keep a thread idle for nothing.
   */
  retain(heapSizes: Iterable<number>): void {
    const keep = new Set([0, ...heapSizes])
    for (const [heapMb, pool] of this.pools) {
      if (keep.has(heapMb)) continue
      this.pools.delete(heapMb)
      for (const spare of pool) {
        spare.detach()
        void spare.worker.terminate()
      }
    }
  }

  stats(): SpareStats {
    let ready = 0
    let starting = 0
    for (const pool of this.pools.values()) {
      for (const s of pool) {
        if (s.ready) ready++
        else starting++
      }
    }
    return { ready, starting, size: this.size, taken: this.taken }
  }

  private schedule(heapMb: number): void {
    setImmediate(() => this.refill(heapMb))
  }

  private refill(heapMb: number): void {
    if (this.closing || this.retry) return
    let pool = this.pools.get(heapMb)
    if (!pool) {
      // Retired meanwhile (see retain), unless it is the default heap starting.
      if (heapMb !== 0) return
      this.pools.set(heapMb, (pool = []))
    }
    while (pool.length < this.size) pool.push(this.spawn(heapMb, pool))
  }

  private spawn(heapMb: number, pool: Spare[]): Spare {
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: null,
      // The gateway's environment, as any replica starts with; the function's own comes at assignment.
      env: { ...process.env },
      stdout: true,
      stderr: true,
      name: 'faasdev spare',
      resourceLimits: workerResourceLimits(heapMb > 0 ? heapMb : undefined),
    })
    let lastError: Error | undefined
    const spare: Spare = {
      worker,
      ready: false,
      detach: () => {
        worker.off('message', onMessage)
        worker.off('error', onError)
        worker.off('exit', onExit)
      },
    }
    const onMessage = (msg: FromWorker | SpareReadyMessage): void => {
      if (msg.t !== 'spare-ready') return
      spare.ready = true
      this.failures = 0
    }
    const onError = (err: Error): void => {
      lastError = err
    }
    const onExit = (): void => {
      const i = pool.indexOf(spare)
      if (i >= 0) pool.splice(i, 1)
      if (this.closing) return
      // A spare that cannot start would otherwise be restarted in a tight loop.
      this.failures++
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** (this.failures - 1))
      this.options.log?.(`warning: a spare replica stopped${lastError ? `: ${lastError.message}` : ''}; another starts in ${delay} ms`)
      this.retry ??= setTimeout(() => {
        this.retry = undefined
        for (const key of this.pools.keys()) this.refill(key)
      }, delay)
      this.retry.unref()
    }
    worker.on('message', onMessage)
    worker.on('error', onError)
    worker.on('exit', onExit)
    return spare
  }

  /** Stops every spare. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.retry) clearTimeout(this.retry)
      const all = [...this.pools.values()].flat()
      this.pools.clear()
      await Promise.all(all.map((s) => s.worker.terminate()))
    })()
    return this.closing
  }
}

/** Sends a spare the function it now serves. */
export function assignSpare(worker: Worker, message: Omit<AssignMessage, 't'>): void {
  worker.postMessage({ t: 'assign', ...message } satisfies AssignMessage, [message.data.answers])
}
