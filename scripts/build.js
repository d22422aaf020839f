// Transpiles src/ to dist/ file by file (no bundling), so dist/ mirrors src/ and the
// worker entry stays a separate file that the loader can bundle with each handler.
import { build } from 'esbuild'
import { cpSync, readdirSync, rmSync, statSync } from 'node:fs'
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
