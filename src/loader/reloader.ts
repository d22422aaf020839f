import { EventEmitter } from 'node:events'
import { existsSync } from 'node:fs'
import { join, sep } from 'node:path'
import { loadStack, type FunctionSpec, type StackConfig } from '../config/stack.js'
import { ConfigError, FaasError } from '../errors.js'
import type { Deployment } from '../pool/deployment.js'
import type { Router } from '../router/router.js'
import { FunctionBuilder, removeBundle, type Bundle } from './bundle.js'
import { Watcher } from './watcher.js'

export interface ReloaderOptions {
  config: StackConfig
  env: NodeJS.ProcessEnv
  router: Router
  /** Where each function's bundles are written (known once the runtime has started). */
  buildDir: () => string
  /** Our own output: never watched. */
  dataDir: string
  log: (line: string) => void
  /** Builds and starts a function that has no deployment yet (added, or failed at start). */
  deployNew: (spec: FunctionSpec) => Promise<void>
  /** Called with each stack file that loaded without error. */
  onConfig: (config: StackConfig) => void
}

/** One reload of one function's code, for logs, metrics and benchmarks. */
export interface ReloadEvent {
  name: string
  ok: boolean
  /** When the watcher saw the first change of the burst that caused it (`performance.now()`). */
  detectedAt?: number
  /** esbuild's rebuild. */
  buildMs: number
  /** From the start of the swap until the new version served (replica start + ready). */
  startMs?: number
  /** `performance.now()` when the new version took its first call. */
  servingAt?: number
  error?: string
}

/** What a function's replicas run: a change here needs new replicas, anything else does not. */
function runtimeKey(spec: FunctionSpec): string {
  const { lang, style, handlerDir, entry, environment, secrets, limits, memoryLimitBytes, watchdog } = spec
  return JSON.stringify({ lang, style, handlerDir, entry, environment, secrets, limits, memoryLimitBytes, watchdog })
}

const isUnder = (path: string, dir: string): boolean => path.startsWith(dir.endsWith(sep) ? dir : `${dir}${sep}`)

/**
 * Hot reload: keeps an incremental build per function, watches the files each one was
 * built from plus the stack file, and on a save rebuilds only the functions that read the
 * changed files and swaps them blue/green. Emits `'reload'` with a {@link ReloadEvent}.
 */
export class Reloader extends EventEmitter {
  private config: StackConfig
  private readonly builders = new Map<string, FunctionBuilder>()
  private readonly adopted = new WeakSet<Deployment>()
  /** The bundle last handed to each deployment (it may still be starting). */
  private readonly requested = new Map<string, string>()
  private watcher: Watcher | undefined
  /** Builds and stack reloads run one at a time, in the order the saves happened. */
  private chain: Promise<void> = Promise.resolve()
  private closing: Promise<void> | undefined

  constructor(private readonly options: ReloaderOptions) {
    super()
    this.config = options.config
  }

  /** Builds the next bundle of a function (the runtime's deploy path uses this too). */
  async build(spec: FunctionSpec): Promise<Bundle> {
    let builder = this.builders.get(spec.name)
    if (!builder || builder.spec.entry !== spec.entry || builder.spec.handlerDir !== spec.handlerDir) {
      void builder?.dispose()
      // Numbering goes on: the old builder's files may still run in replicas that are draining.
      builder = new FunctionBuilder(spec, join(this.options.buildDir(), spec.name), builder?.generation ?? 0)
      this.builders.set(spec.name, builder)
    }
    return builder.build()
  }

  /** Starts watching; resolves once the watcher is armed. */
  async watch(): Promise<void> {
    if (this.closing || this.watcher) return
    this.adoptAll()
    this.watcher = new Watcher({ ignoreDirs: [this.options.dataDir], onChange: (paths, at) => this.enqueue(() => this.apply(paths, at)) })
    await this.watcher.set(this.watchList())
    this.options.log(`watching ${this.config.file} and ${this.builders.size} function(s) for changes`)
  }

  /** Re-reads the stack file now (what a save of it does). Resolves when its builds are done. */
  reloadStack(): Promise<void> {
    return this.enqueue(async () => {
      this.adoptAll()
      await this.applyStack(new Set())
      await this.watcher?.set(this.watchList())
    })
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task).catch((err: unknown) => this.options.log(`error: reload: ${(err as Error).message}`))
    this.chain = run
    return run
  }

  private async apply(paths: Set<string>, detectedAt: number): Promise<void> {
    if (this.closing) return
    this.adoptAll()
    const secretsDir = join(this.config.dir, '.secrets')
    const configFiles = new Set([this.config.file, ...this.config.functions.flatMap((f) => f.configFiles)])
    const handled = new Set<string>()
    if ([...paths].some((p) => configFiles.has(p) || isUnder(p, secretsDir))) await this.applyStack(handled, detectedAt)
    const builds: Promise<void>[] = []
    for (const spec of this.config.functions) {
      const builder = this.builders.get(spec.name)
      if (handled.has(spec.name) || !builder) continue
      // A failed build also listens to its whole folder: the fix may be a file that did not exist.
      const hit = [...paths].some((p) => builder.inputs.includes(p) || (builder.error !== undefined && isUnder(p, spec.handlerDir)))
      if (hit) builds.push(this.rebuild(spec, detectedAt))
    }
    await Promise.all(builds)
    await this.watcher?.set(this.watchList())
  }

  /** Rebuilds one function and swaps it in; a failed build keeps the running version. */
  private async rebuild(spec: FunctionSpec, detectedAt?: number): Promise<void> {
    const deployment = this.options.router.deployments.get(spec.name)
    if (!deployment) return this.deployNew(spec)
    const previousError = this.builders.get(spec.name)?.error
    let bundle: Bundle
    try {
      bundle = await this.build(spec)
    } catch (err) {
      if (!(err instanceof FaasError) || err.code !== 'ERR_BUILD') throw err
      // Printed once: saving again with the same mistake does not repeat it.
      if (err.message !== previousError) this.options.log(`error: ${err.message}\n${spec.name}: the previous version keeps serving`)
      deployment.buildError = err.message
      this.emit('reload', { name: spec.name, ok: false, buildMs: 0, error: err.message, ...(detectedAt ? { detectedAt } : {}) } satisfies ReloadEvent)
      return
    }
    deployment.buildError = undefined
    // A save that changed nothing the bundle contains (or a duplicate event) costs no swap.
    // Compared with the bundle last requested, not the one serving: a duplicate event during a swap must not swap again.
    const version = `${bundle.file}\n${runtimeKey(spec)}`
    if (bundle.unchanged && version === (this.requested.get(spec.name) ?? `${deployment.bundle}\n${runtimeKey(deployment.spec)}`)) {
      if (previousError) this.options.log(`${spec.name} rebuilt in ${Math.round(bundle.durationMs)} ms (build error fixed, same code as the running version)`)
      return
    }
    const swapStarted = performance.now()
    this.requested.set(spec.name, version)
    // Not awaited: the deployment serialises its own swaps (latest wins), the next save need not wait for this one.
    deployment.deploy(spec, bundle.file).then(
      () => {
        // A label-only edit applied while this swap ran set the old version's spec; keep it.
        const latest = this.config.functions.find((f) => f.name === spec.name)
        if (latest && deployment.spec !== latest && runtimeKey(latest) === runtimeKey(deployment.spec)) deployment.spec = latest
        const servingAt = performance.now()
        const buildMs = Math.round(bundle.durationMs)
        this.options.log(`${spec.name} rebuilt in ${buildMs} ms${previousError ? ' (build error fixed)' : ''}, new version serving after ${Math.round(servingAt - swapStarted)} ms`)
        const event: ReloadEvent = { name: spec.name, ok: true, buildMs: bundle.durationMs, startMs: servingAt - swapStarted, servingAt }
        if (detectedAt) event.detectedAt = detectedAt
        this.emit('reload', event)
      },
      (err: unknown) => {
        const message = (err as Error).message
        this.options.log(`error: ${spec.name}: the new version did not start, the previous version keeps serving: ${message}`)
        this.emit('reload', { name: spec.name, ok: false, buildMs: bundle.durationMs, error: message } satisfies ReloadEvent)
      },
    )
  }

  private async deployNew(spec: FunctionSpec): Promise<void> {
    const { router } = this.options
    await this.options.deployNew(spec)
    const deployment = router.deployments.get(spec.name)
    if (deployment) {
      router.failed.delete(spec.name)
      this.adopt(deployment)
      this.options.log(`${spec.name} started`)
    }
  }

  /** Applies an edited stack file: start added functions, stop removed ones, swap changed ones. */
  private async applyStack(handled: Set<string>, detectedAt?: number): Promise<void> {
    const { router, log } = this.options
    let next: StackConfig
    try {
      next = loadStack(this.config.file, this.options.env)
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      log(`error: ${err.message}\n(the running functions keep their previous configuration)`)
      return
    }
    this.config = next
    this.options.onConfig(next)
    for (const w of next.warnings) log(`warning: ${w}`)
    const wasSkipped = new Map(router.skipped)
    router.skipped.clear()
    for (const s of next.skipped) {
      router.skipped.set(s.name, s)
      // As at start; once per function and reason, not on every save of the stack file.
      if (wasSkipped.get(s.name)?.reason !== s.reason) log(`warning: skipping ${s.name}: ${s.reason}`)
    }

    const wanted = new Map(next.functions.map((f) => [f.name, f]))
    for (const name of [...router.failed.keys()]) if (!wanted.has(name)) router.failed.delete(name)
    const work: Promise<void>[] = []
    for (const [name, deployment] of [...router.deployments]) {
      if (wanted.has(name)) continue
      // Unrouted first, so no new call reaches it; the ones it holds finish (write_timeout).
      router.deployments.delete(name)
      this.requested.delete(name)
      handled.add(name)
      log(`${name} removed: draining`)
      work.push(
        deployment.close().then(async () => {
          const builder = this.builders.get(name)
          // A function added back while this one drained has its own builder by now.
          if (builder && !router.deployments.has(name)) {
            this.builders.delete(name)
            await builder.dispose()
          }
          log(`${name} stopped`)
        }),
      )
    }
    for (const spec of next.functions) {
      const deployment = router.deployments.get(spec.name)
      if (!deployment) {
        handled.add(spec.name)
        work.push(this.deployNew(spec))
      } else if (runtimeKey(deployment.spec) !== runtimeKey(spec)) {
        handled.add(spec.name)
        work.push(this.rebuild(spec, detectedAt))
      } else if (JSON.stringify(deployment.spec) !== JSON.stringify(spec)) {
        this.relabel(deployment, spec)
      }
    }
    await Promise.all(work)
  }

  /** Labels and annotations (scaling, retries) only: no new replicas, the policy reads the new spec. */
  private relabel(deployment: Deployment, spec: FunctionSpec): void {
    deployment.spec = spec
    const { min, max } = spec.scale
    if (deployment.desired > max) deployment.scale(max)
    else if (deployment.desired > 0 && deployment.desired < min) deployment.scale(min)
    this.options.log(`${spec.name}: labels and annotations updated (no restart)`)
  }

  private adoptAll(): void {
    for (const d of this.options.router.deployments.values()) this.adopt(d)
  }

  /** Deletes each bundle file once no replica runs it. */
  private adopt(deployment: Deployment): void {
    if (this.adopted.has(deployment)) return
    this.adopted.add(deployment)
    deployment.on('retired', (file: string) => void removeBundle(file).catch(() => undefined))
  }

  /**
   * Handler folders are watched whole (a fix may create a file no build has read yet; and
   * chokidar misses new files in a folder added after a file inside it), imports from
   * elsewhere one by one. `apply` keeps only the events a build actually read.
   */
  private watchList(): Set<string> {
    const paths = new Set<string>([this.config.file])
    const secretsDir = join(this.config.dir, '.secrets')
    if (existsSync(secretsDir)) paths.add(secretsDir)
    for (const spec of this.config.functions) for (const f of spec.configFiles) paths.add(f)
    const dirs = [...this.builders.values()].map((b) => b.spec.handlerDir)
    for (const dir of dirs) paths.add(dir)
    for (const builder of this.builders.values()) {
      for (const input of builder.inputs) if (!dirs.some((d) => isUnder(input, d))) paths.add(input)
    }
    return paths
  }

  /** Stops watching and frees the build contexts; the runtime drains the deployments. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.watcher?.close()
      await this.chain
      await Promise.all([...this.builders.values()].map((b) => b.dispose()))
    })()
    return this.closing
  }
}
