import { execFileSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '..')

/** The newest modification time under a folder. */
function newest(dir: string): number {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

/**
 * Compiles src/ to dist/ once per run, when src/ changed since the last build: tests that
 * spawn `node bin/faasdev.js` run the compiled CLI.
 */
export default function setup(): void {
  let built = 0
  try {
    built = statSync(join(ROOT, 'dist', 'cli.js')).mtimeMs
  } catch {
    built = 0
  }
  if (built > 0 && newest(join(ROOT, 'src')) < built) return
  execFileSync(process.execPath, ['scripts/build.js', '--js-only'], { cwd: ROOT, stdio: 'inherit' })
}
