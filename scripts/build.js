// Transpiles src/ to dist/ file by file (no bundling), so dist/ mirrors src/ and the
// worker entry stays a separate file that the loader can bundle with each handler; then
// emits the .d.ts declarations the package ships (`--js-only` skips them: the test run
// and `npm start` need only the JavaScript).
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { cpSync, readdirSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : []
  })
}

rmSync('dist', { recursive: true, force: true })
await build({
  entryPoints: walk('src'),
  outdir: 'dist',
  outbase: 'src',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
})

// The dashboard's files are served as they are, from beside the compiled gateway.
cpSync('src/ui/static', 'dist/ui/static', { recursive: true })

if (!process.argv.includes('--js-only')) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
}
