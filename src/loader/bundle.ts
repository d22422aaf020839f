import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { execFile } from 'node:child_process'
import { dirname, extname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { build, context, type BuildContext, type BuildFailure, type BuildOptions, type Message } from 'esbuild'
import type { FunctionSpec } from '../config/stack.js'
import { FaasError } from '../errors.js'
import { MODULE_PATH_DEFINES, modulePathsPlugin } from './module-paths.js'

const run = promisify(execFile)

/** The replica's side of the protocol, bundled with every handler (`.ts` under vitest, `.js` from dist). */
const WORKER_ENTRY = fileURLToPath(new URL(`../pool/worker/entry${extname(fileURLToPath(import.meta.url))}`, import.meta.url))
/** Serves `/var/openfaas/secrets` in the replica; imported first so it is in place before the handler's code runs. */
const SECRETS_FS = fileURLToPath(new URL(`../pool/worker/secrets-fs${extname(fileURLToPath(import.meta.url))}`, import.meta.url))

/**
 * The replica's side (the secrets folder, then the entry and its adapters), bundled once per
 * process and written once beside the functions' build folders, under an extension of its own
 * that esbuild loads as JavaScript without asking the module-paths plugin: every file that
 * plugin loads is a round trip to the main thread, which on a busy gateway waits for its turn
 * (about 12 ms of a rebuild under 4 loops of calls). Our files need no module-path declarations.
 */
const RUNTIME_EXT = '.faasdevjs'
const RUNTIME_FILE = `replica-runtime${RUNTIME_EXT}`
let runtimeSource: Promise<string> | undefined

async function replicaRuntime(outDir: string): Promise<string> {
  runtimeSource ??= build({
    stdin: { contents: `import ${JSON.stringify(SECRETS_FS)}\nexport { serve } from ${JSON.stringify(WORKER_ENTRY)}`, resolveDir: dirname(WORKER_ENTRY), sourcefile: 'faasdev:replica-runtime', loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    // Inline: the function's build reads it with the file and maps our frames to our sources.
    sourcemap: 'inline',
    sourcesContent: false,
    logLevel: 'silent',
  }).then((r) => (r.outputFiles[0] as { text: string }).text)
  // A failed build is not kept: the next function's build tries again.
  runtimeSource.catch(() => (runtimeSource = undefined))
  const file = join(outDir, '..', RUNTIME_FILE)
  const text = await runtimeSource
  if (!existsSync(file)) writeFileSync(file, text)
  return file
}

export interface Bundle {
  /** The file a replica loads. */
  file: string
  /** Every source file the bundle was built from (for the watcher). */
  inputs: string[]
  durationMs: number
  /** The build produced exactly the previous generation's code (a save without a change): `file` is that generation's. */
  unchanged?: boolean
}

/** esbuild options shared by one-shot and incremental builds of one function. */
function buildOptions(spec: FunctionSpec, outfile: string, runtime: string): BuildOptions & { metafile: true } {
  // The runtime first: the secrets folder is in place before the handler's code runs.
  const contents = [`import { serve } from ${JSON.stringify(runtime)}`, `import * as handlerModule from ${JSON.stringify(spec.entry)}`, 'serve(handlerModule)'].join('\n')
  return {
    stdin: { contents, resolveDir: spec.handlerDir, sourcefile: `faasdev:${spec.name}`, loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    sourcemap: 'linked',
    // Stack traces need only the mappings; the sources are on disk. Without them the map is a
    // third of the size, and every replica reads and parses it when it imports its bundle.
    sourcesContent: false,
    metafile: true,
    logLevel: 'silent',
    loader: { [RUNTIME_EXT]: 'js' },
    // CommonJS code in an ES module bundle: a `require` esbuild cannot follow resolves from
    // the handler folder; each module sees its own `__dirname`, `__filename` and `import.meta`.
    banner: {
      js: `import { createRequire as __faasdevCreateRequire } from 'node:module'; globalThis.require ??= __faasdevCreateRequire(${JSON.stringify(pathToFileURL(spec.entry).href)});`,
    },
    define: MODULE_PATH_DEFINES,
    plugins: [modulePathsPlugin()],
  }
}

/** The handler's own source files among esbuild's inputs: not the replica entry, not node_modules. */
function sourceInputs(inputs: Record<string, unknown>): string[] {
  return Object.keys(inputs)
    .filter((p) => !p.startsWith('faasdev:') && !p.includes('node_modules') && !p.endsWith(RUNTIME_EXT))
    .map((p) => resolve(p))
    .filter((p) => p !== WORKER_ENTRY && !p.startsWith(resolve(WORKER_ENTRY, '..', '..')))
}

function buildError(spec: FunctionSpec, err: unknown): unknown {
  const failure = err as BuildFailure
  if (!Array.isArray(failure.errors)) return err
  const files = failure.errors.flatMap((e) => (e.location ? [resolve(e.location.file)] : []))
  return Object.assign(new FaasError('ERR_BUILD', formatBuildErrors(spec.name, failure.errors), { cause: err }), { files })
}

/** Bundles one function's handler with the replica entry into a single ES module. */
export async function bundleFunction(spec: FunctionSpec, outDir: string): Promise<Bundle> {
  const started = performance.now()
  await mkdir(outDir, { recursive: true })
  const file = join(outDir, `${spec.name}.mjs`)
  try {
    const result = await build(buildOptions(spec, file, await replicaRuntime(outDir)))
    return { file, inputs: sourceInputs(result.metafile.inputs), durationMs: performance.now() - started }
  } catch (err) {
    throw buildError(spec, err)
  }
}

/**
 * Keeps one esbuild context per function so a rebuild after a save only re-reads what
 * changed. Every build writes a new file (`NAME-GEN.mjs`): replicas of the previous
 * version keep running their file while the new ones start, so a file may be deleted
 * only once nothing runs it (`removeBundle`).
 */
export class FunctionBuilder {
  /** Every source file the last successful build read, plus the files named by the last error. */
  inputs: string[] = []
  /** The last build's error (file:line:col and a code frame), cleared by a successful build. */
  error: string | undefined
  private ctx: Promise<BuildContext<BuildOptions & { metafile: true }>> | undefined
  private last: { js: string; file: string } | undefined
  private disposed = false

  constructor(
    readonly spec: FunctionSpec,
    private readonly outDir: string,
    /** The last generation number used in `outDir` (by a previous builder of the same function). */
    public generation = 0,
  ) {}

  /** Builds the next generation; throws an ERR_BUILD FaasError (and keeps `inputs`) on failure. */
  async build(): Promise<Bundle> {
    if (this.disposed) throw new FaasError('ERR_CLOSED', `builder for ${this.spec.name} is closed`)
    const started = performance.now()
    const { name } = this.spec
    if (!this.ctx) {
      await mkdir(this.outDir, { recursive: true })
      // Output is written by hand under a per-generation name, so esbuild writes nothing.
      this.ctx = replicaRuntime(this.outDir).then((runtime) => context({ ...buildOptions(this.spec, join(this.outDir, `${name}.mjs`), runtime), write: false }))
    }
    const ctx = await this.ctx.catch((err: unknown) => {
      // Nothing was built (the replica runtime's own build failed): the next save tries again.
      this.ctx = undefined
      throw err
    })
    try {
      const result = await ctx.rebuild()
      let js: string | undefined
      let map: string | undefined
      for (const out of result.outputFiles ?? []) {
        if (out.path.endsWith('.map')) map = out.text
        else js = out.text
      }
      if (js === undefined) throw new FaasError('ERR_BUILD', `build of ${name} produced no output`)
      this.inputs = sourceInputs(result.metafile.inputs)
      this.error = undefined
      if (this.last?.js === js && existsSync(this.last.file)) return { file: this.last.file, inputs: this.inputs, durationMs: performance.now() - started, unchanged: true }
      const built = js
      const gen = ++this.generation
      const file = join(this.outDir, `${name}-${gen}.mjs`)
      js = js.replace(/\/\/# sourceMappingURL=[^\n]*\s*$/, `//# sourceMappingURL=${name}-${gen}.mjs.map\n`)
      // Written at once (tens of kB into the page cache): through the thread pool, each write
      // would wait for another turn of the main thread, which under load is what a save waits on.
      if (map !== undefined) writeFileSync(`${file}.map`, map)
      writeFileSync(file, js)
      this.last = { js: built, file }
      return { file, inputs: this.inputs, durationMs: performance.now() - started }
    } catch (err) {
      const coded = buildError(this.spec, err)
      if (coded instanceof FaasError) {
        this.error = coded.message
        // Watch the file named by the error too (e.g. the import that does not resolve yet).
        const files = (coded as FaasError & { files: string[] }).files
        this.inputs = [...new Set([...this.inputs, ...files])]
      }
      throw coded
    }
  }

  /** Frees esbuild's context (its cache and child-process state). Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return
    this.disposed = true
    const ctx = await this.ctx?.catch(() => undefined)
    await ctx?.dispose()
  }
}

/** Deletes a bundle file (and its source map) that no replica runs any more. */
export async function removeBundle(file: string): Promise<void> {
  await Promise.all([rm(file, { force: true }), rm(`${file}.map`, { force: true })])
}

/** `file:line:col: message` and a code frame, as a person reads them. */
export function formatBuildErrors(name: string, errors: Message[]): string {
  const parts = errors.slice(0, 5).map((e) => {
    const loc = e.location
    if (!loc) return `${name}: ${e.text}`
    const abs = resolve(loc.file)
    const rel = relative(process.cwd(), abs)
    const where = `${rel.startsWith('..') ? abs : rel}:${loc.line}:${loc.column + 1}`
    const gutter = `${loc.line} | `
    const frame = loc.lineText ? `\n    ${gutter}${loc.lineText}\n    ${' '.repeat(gutter.length + loc.column)}${'^'.repeat(Math.max(1, loc.length))}` : ''
    return `${where}: ${e.text}${frame}`
  })
  const more = errors.length > 5 ? `\n… and ${errors.length - 5} more` : ''
  return `build failed for ${name}:\n${parts.join('\n')}${more}`
}

/** Names of dependencies listed in the handler's package.json that are not installed. */
export function missingDependencies(handlerDir: string): string[] {
  const pkgPath = join(handlerDir, 'package.json')
  if (!existsSync(pkgPath)) return []
  let deps: Record<string, string> = {}
  try {
    deps = (JSON.parse(readFileSync(pkgPath, 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {}
  } catch {
    return []
  }
  return Object.keys(deps).filter((d) => !existsSync(join(handlerDir, 'node_modules', d, 'package.json')))
}

/** Runs `npm install` in a handler folder whose dependencies are listed but not installed. */
export async function installDependencies(handlerDir: string): Promise<void> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  await run(npm, ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: handlerDir, timeout: 300_000 })
}
