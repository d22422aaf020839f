import { existsSync, readFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { execFile } from 'node:child_process'
import { extname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { build, type BuildFailure, type Message } from 'esbuild'
import type { FunctionSpec } from '../config/stack.js'
import { FaasError } from '../errors.js'

const run = promisify(execFile)

/** The replica's side of the protocol, bundled with every handler (`.ts` under vitest, `.js` from dist). */
const WORKER_ENTRY = fileURLToPath(new URL(`../pool/worker/entry${extname(fileURLToPath(import.meta.url))}`, import.meta.url))

export interface Bundle {
  /** The file a replica loads. */
  file: string
  /** Every source file the bundle was built from (for the watcher). */
  inputs: string[]
  durationMs: number
}

/** Bundles one function's handler with the replica entry into a single ES module. */
export async function bundleFunction(spec: FunctionSpec, outDir: string): Promise<Bundle> {
  const started = performance.now()
  await mkdir(outDir, { recursive: true })
  const file = join(outDir, `${spec.name}.mjs`)
  const contents = [
    `import * as handlerModule from ${JSON.stringify(spec.entry)}`,
    `import { serve } from ${JSON.stringify(WORKER_ENTRY)}`,
    'serve(handlerModule)',
  ].join('\n')
  try {
    const result = await build({
      stdin: { contents, resolveDir: spec.handlerDir, sourcefile: `faasdev:${spec.name}`, loader: 'js' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: file,
      sourcemap: 'linked',
      metafile: true,
      logLevel: 'silent',
      // CommonJS code in an ES module bundle: `require` resolves from the handler folder,
      // `__dirname` and `__filename` name the handler's own files.
      banner: {
        js: `import { createRequire as __faasdevCreateRequire } from 'node:module'; globalThis.require ??= __faasdevCreateRequire(${JSON.stringify(pathToFileURL(spec.entry).href)});`,
      },
      define: { __dirname: JSON.stringify(spec.handlerDir), __filename: JSON.stringify(spec.entry) },
    })
    const inputs = Object.keys(result.metafile.inputs)
      .filter((p) => !p.startsWith('faasdev:') && !p.includes('node_modules'))
      .map((p) => resolve(p))
      .filter((p) => p !== WORKER_ENTRY && !p.startsWith(resolve(WORKER_ENTRY, '..', '..')))
    return { file, inputs, durationMs: performance.now() - started }
  } catch (err) {
    const failure = err as BuildFailure
    if (!Array.isArray(failure.errors)) throw err
    throw new FaasError('ERR_BUILD', formatBuildErrors(spec.name, failure.errors), { cause: err })
  }
}

/** `file:line:col: message` and a code frame, as a person reads them. */
export function formatBuildErrors(name: string, errors: Message[]): string {
  const parts = errors.slice(0, 5).map((e) => {
    const loc = e.location
    if (!loc) return `${name}: ${e.text}`
    const where = `${relative(process.cwd(), resolve(loc.file))}:${loc.line}:${loc.column + 1}`
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
