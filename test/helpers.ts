import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { onTestFinished } from 'vitest'
import { createRuntime, type Runtime, type RuntimeOptions } from '../src/index.js'

export const HANDLERS = resolve(import.meta.dirname, 'fixtures/handlers')

/** Writes a stack file (handler paths may use `@/` for the fixture handlers) into a fresh folder. */
export function writeStack(yaml: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'faasdev-test-'))
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true })
    writeFileSync(join(dir, name), content)
  }
  const file = join(dir, 'stack.yml')
  writeFileSync(file, yaml.replaceAll('@/', `${HANDLERS}/`))
  return file
}

/** Starts a runtime on port 0 for the current test and closes it when the test ends. */
export async function startRuntime(yaml: string, options: RuntimeOptions = {}, files: Record<string, string> = {}): Promise<Runtime> {
  const rt = await createRuntime({ stack: writeStack(yaml, files), port: 0, watch: false, log: () => undefined, onOutput: () => undefined, ...options })
  onTestFinished(() => rt.close())
  await rt.start()
  return rt
}

/** Polls `check` until it holds; `what` names it in the timeout error (a function: read when it times out). */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what: string | (() => string) = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
