import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Runtime, RuntimeOptions } from '../../src/index.js'
import { HANDLERS, startRuntime } from '../helpers.js'

/** The fixture handler's source with another VERSION: tests save copies of it in a temp dir. */
export function versionSource(version: string): string {
  return readFileSync(join(HANDLERS, 'reload-version', 'handler.ts'), 'utf8').replace("const VERSION = 'v0'", `const VERSION = ${JSON.stringify(version)}`)
}

export interface WatchedRuntime {
  rt: Runtime
  dir: string
  logs: string[]
  /** Writes a file relative to the stack folder, as an editor's save would. */
  save: (path: string, content: string) => void
}

/** A runtime with watching on, over a temp stack folder holding `files` (editable copies of handlers). */
export async function startWatched(yaml: string, files: Record<string, string>, options: RuntimeOptions = {}): Promise<WatchedRuntime> {
  const logs: string[] = []
  const rt = await startRuntime(yaml, { watch: true, log: (l) => logs.push(l), ...options }, files)
  const dir = dirname(rt.config.file)
  const save = (path: string, content: string): void => {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), content)
  }
  return { rt, dir, logs, save }
}

/** The bundle files of one function left in the build folder. */
export function bundleFiles(dir: string, name: string): string[] {
  const data = join(dir, '.faasdev')
  const build = readdirSync(data).find((e) => e.startsWith('build-'))
  if (!build) return []
  return readdirSync(join(data, build, name)).sort()
}

export async function call(url: string): Promise<{ status: number; body: string; instance: string | null; greeting: string | null }> {
  const res = await fetch(url)
  return { status: res.status, body: await res.text(), instance: res.headers.get('x-instance'), greeting: res.headers.get('x-greeting') }
}

export interface LoadSample {
  start: number
  status: number
  body: string
}

/** `loops` callers, each calling `url` again as soon as it answers, until `stop()`; failures are samples with status 0. */
export function startLoad(url: string, loops: number): { samples: LoadSample[]; sent: () => number; stop: () => Promise<void> } {
  const samples: LoadSample[] = []
  let sent = 0
  let stopped = false
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const start = performance.now()
      sent++
      try {
        const res = await fetch(url)
        samples.push({ start, status: res.status, body: await res.text() })
      } catch (err) {
        samples.push({ start, status: 0, body: String(err) })
      }
    }
  }
  const running = Array.from({ length: loops }, () => loop())
  return {
    samples,
    sent: () => sent,
    stop: async () => {
      stopped = true
      await Promise.all(running)
    },
  }
}
