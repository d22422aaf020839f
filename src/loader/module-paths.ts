/**
 * Each bundled module's own `__dirname`, `__filename`, `import.meta.url`, `import.meta.dirname`
 * and `import.meta.filename`, as it has them under plain Node: a package that reads a file
 * beside itself (`path.join(__dirname, 'data.txt')`, `new URL('./x', import.meta.url)`) finds it
 * in its own folder, not the handler's or the bundle's.
 *
 * esbuild has no per-module define, so the build defines each name as an identifier and every
 * module that mentions one declares that identifier with its own value: a CommonJS module inside
 * its wrapper function, an ES module at its top level, where esbuild renames the declarations
 * of different modules apart and binds each module's references to its own. A module that
 * declares `__dirname` itself keeps its own (define only replaces unbound names).
 */
import { readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Loader, Plugin } from 'esbuild'

const DIRNAME = '__faasdev_dirname'
const FILENAME = '__faasdev_filename'
const URL_ID = '__faasdev_url'

/** What the build replaces: each name by the identifier its module declares. */
export const MODULE_PATH_DEFINES: Record<string, string> = {
  __dirname: DIRNAME,
  __filename: FILENAME,
  'import.meta.dirname': DIRNAME,
  'import.meta.filename': FILENAME,
  'import.meta.url': URL_ID,
}

const LOADERS: Record<string, Loader> = { js: 'js', cjs: 'js', mjs: 'js', jsx: 'jsx', ts: 'ts', cts: 'ts', mts: 'ts', tsx: 'tsx' }

/** The declarations one module needs, on one line: line numbers (and so source maps) stay as they were. */
export function modulePathDeclarations(file: string, source: string): string {
  const decls: string[] = []
  if (source.includes('__dirname') || source.includes('import.meta.dirname')) decls.push(`${DIRNAME} = ${JSON.stringify(dirname(file))}`)
  if (source.includes('__filename') || source.includes('import.meta.filename')) decls.push(`${FILENAME} = ${JSON.stringify(file)}`)
  if (source.includes('import.meta.url')) decls.push(`${URL_ID} = ${JSON.stringify(pathToFileURL(file).href)}`)
  return decls.length === 0 ? '' : `var ${decls.join(', ')};`
}

/** `source` with its module's declarations put first (after a `#!` line, which must stay first). */
export function withModulePaths(file: string, source: string): string {
  const decl = modulePathDeclarations(file, source)
  if (decl === '') return source
  if (!source.startsWith('#!')) return decl + source
  const eol = source.indexOf('\n')
  return eol < 0 ? `${source}\n${decl}` : source.slice(0, eol + 1) + decl + source.slice(eol + 1)
}

export function modulePathsPlugin(): Plugin {
  return {
    name: 'faasdev-module-paths',
    setup(build) {
      build.onLoad({ filter: /\.(?:[cm]?[jt]s|[jt]sx)$/ }, (args) => {
        if (args.namespace !== 'file') return undefined
        const loader = LOADERS[args.path.slice(args.path.lastIndexOf('.') + 1)]
        // Read at once: esbuild waits for this answer, and under load a read through the thread
        // pool costs another turn of the busy main thread per file.
        const source = readFileSync(args.path, 'utf8')
        return { contents: withModulePaths(args.path, source), loader, resolveDir: dirname(args.path) }
      })
    },
  }
}
