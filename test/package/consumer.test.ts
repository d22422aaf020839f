// SLOW (about 30-60 s): packs faasdev as `npm publish` would, installs the tarball into a
// scratch project from the local npm cache, type-checks a test file there with strict flags
// and runs it with that project's own vitest. Needs no network: when the cache lacks a package
// the test is skipped and says the registry would be needed.
import { execFile } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { scratchLockfile } from './scratch-lock.js'

const exec = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const FIXTURE = resolve(ROOT, 'test/fixtures/consumer')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

/** The child runs on its own: no variables of this vitest run (pool ids, workers) leak into it. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'NODE_OPTIONS' && k !== 'TEST') env[k] = v
  return { ...env, CI: 'true', NO_COLOR: '1' }
}

async function sh(cmd: string, args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  try {
    return await exec(cmd, args, { cwd, env: cleanEnv(), maxBuffer: 32 * 1024 * 1024 })
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string }
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${e.stdout ?? ''}\n${e.stderr ?? ''}`)
  }
}

describe('the published package, as a consumer installs it', () => {
  it('ships .d.ts for faasdev and faasdev/testing (no src), compiles under strict flags, and runs a vitest file', async (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), 'faasdev-consumer-'))
    ctx.onTestFinished(() => rmSync(dir, { recursive: true, force: true }))

    // `npm pack` runs `prepare`: the JavaScript and the declarations are built as for publishing.
    const packed = JSON.parse((await sh(npm, ['pack', '--json', '--pack-destination', dir], ROOT)).stdout) as { filename: string; integrity: string; files: { path: string }[] }[]
    const tarball = packed[0]
    if (!tarball) throw new Error('npm pack printed no tarball')
    const files = tarball.files.map((f) => f.path)
    expect(files).toContain('dist/index.d.ts')
    expect(files).toContain('dist/testing/index.d.ts')
    expect(files).toContain('dist/testing/index.js')
    expect(files.filter((f) => f.startsWith('src/'))).toEqual([])

    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown> & { dependencies: Record<string, string>; version: string }
    const repoLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Parameters<typeof scratchLockfile>[0]
    const app = join(dir, 'app')
    cpSync(FIXTURE, app, { recursive: true })
    cpSync(join(ROOT, 'test/fixtures/handlers/orders'), join(app, 'orders'), { recursive: true })
    const { lock, devDependencies } = scratchLockfile(
      repoLock,
      {
        resolved: `file:../${tarball.filename}`,
        integrity: tarball.integrity,
        manifest: { name: 'faasdev', version: pkg.version, license: pkg.license as string, dependencies: pkg.dependencies, bin: pkg.bin as Record<string, string>, engines: pkg.engines as Record<string, string> },
      },
      ['vitest', 'typescript', '@types/node'],
    )
    writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type: 'module', devDependencies }, null, 2)}\n`)
    writeFileSync(join(app, 'package-lock.json'), `${JSON.stringify({ ...lock, name: 'consumer' }, null, 2)}\n`)

    try {
      await sh(npm, ['ci', '--offline', '--no-audit', '--no-fund'], app)
    } catch (err) {
      const message = (err as Error).message
      if (/ENOTCACHED|only-if-cached/.test(message)) {
        const missing = /request to (\S+) failed/.exec(message)?.[1] ?? 'a package'
        const note = `needs the npm registry: ${missing} is not in the local npm cache (run npm ci in the repository first, online)`
        console.log(`consumer check skipped: ${note}`)
        ctx.skip(note)
      }
      throw err
    }

    // Strict flags of every kind, over the consumer's own code; faasdev is checked through its .d.ts.
    await sh(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app)
    const run = await sh(process.execPath, [join(app, 'node_modules/vitest/vitest.mjs'), 'run', '--reporter=verbose'], app)
    expect(run.stdout).toMatch(/Tests\s+2 passed/)
  }, 240_000)
})
