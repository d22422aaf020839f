import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { onTestFinished } from 'vitest'
import { HANDLERS, waitFor } from './helpers.js'

export const ROOT = resolve(import.meta.dirname, '..')
const BIN = join(ROOT, 'bin', 'faasdev.js')

export interface Cli {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves with the exit code. */
  exited: Promise<number | null>
}

/** Spawns the compiled CLI (dist/ is built by the global setup) and kills it when the test ends. */
export function faasdev(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Cli {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)))
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return { child, stdout: () => stdout, stderr: () => stderr, exited }
}

/** Waits for `up` to print where it listens (it is started with `--port 0`) and returns the URL. */
export async function listening(cli: Cli): Promise<string> {
  let url: string | undefined
  await waitFor(() => {
    url = /gateway listening on (http:\/\/\S+)/.exec(cli.stdout())?.[1]
    if (cli.child.exitCode !== null) throw new Error(`faasdev exited ${cli.child.exitCode}:\n${cli.stderr()}`)
    return url !== undefined
  }, 60_000, 'faasdev up to listen')
  return url as string
}

/** A fresh folder holding `stack.yml` (`@/NAME` = a fixture handler) and the given files. */
export function project(yaml: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'faasdev-cli-'))
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true })
    writeFileSync(join(dir, name), content)
  }
  writeFileSync(join(dir, 'stack.yml'), yaml.replaceAll('@/', `${HANDLERS}/`))
  return dir
}
