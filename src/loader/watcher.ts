import { basename, join, sep } from 'node:path'
import { watch, type FSWatcher } from 'chokidar'

export interface WatcherOptions {
  /** Called once per burst of changes with every path that changed in it and when the burst began (`performance.now()`). */
  onChange: (paths: Set<string>, firstEventAt: number) => void
  /** Folders whose contents are never watched (our own build output). */
  ignoreDirs?: string[]
  /**
   * Quiet time after the last event before `onChange` runs. Editors and `writeFile` truncate
   * then write, and "save all" touches several files: one rebuild per burst, never one on a
   * half-written file. A write lands in well under a millisecond on a local disk and a burst's
   * events come together, so a few ms of quiet suffice; every ms here is added to each save. @default 5
   */
  debounceMs?: number
}

const IGNORED_SEGMENTS = [`${sep}node_modules${sep}`, `${sep}.git${sep}`]

/**
 * Watches an explicit set of files and folders (chokidar 4 has no globs) and reports bursts
 * of changes. Native events only: no polling and no `awaitWriteFinish`, which would add
 * their own delay to every save.
 */
export class Watcher {
  private fsw: FSWatcher | undefined
  private watched = new Set<string>()
  private pending = new Set<string>()
  private timer: NodeJS.Timeout | undefined
  private firstEventAt = 0
  private readonly debounceMs: number
  private closing: Promise<void> | undefined

  constructor(private readonly options: WatcherOptions) {
    this.debounceMs = options.debounceMs ?? 5
  }

  /** Makes the watched set exactly `paths` (files or folders); resolves once they are watched. */
  async set(paths: Iterable<string>): Promise<void> {
    if (this.closing) return
    const next = new Set(paths)
    const added = [...next].filter((p) => !this.watched.has(p))
    const removed = [...this.watched].filter((p) => !next.has(p))
    this.watched = next
    if (!this.fsw) {
      this.fsw = this.create(added)
      await new Promise<void>((resolve) => this.fsw?.once('ready', () => resolve()))
      return
    }
    if (removed.length > 0) this.fsw.unwatch(removed)
    // chokidar sets up later additions in the background and signals nothing when done:
    // they are files a rebuild just discovered, so a few ms of blindness is harmless.
    if (added.length > 0) this.fsw.add(added)
  }

  private create(paths: string[]): FSWatcher {
    const ignoreDirs = (this.options.ignoreDirs ?? []).map((d) => (d.endsWith(sep) ? d : `${d}${sep}`))
    const ignored = (path: string): boolean => {
      const p = `${path}${sep}`
      return IGNORED_SEGMENTS.some((s) => p.includes(s)) || ignoreDirs.some((d) => p.startsWith(d))
    }
    const fsw = watch(paths, { ignoreInitial: true, ignored })
    for (const event of ['add', 'change', 'unlink'] as const) fsw.on(event, (path: string) => this.queue(path))
    // chokidar drops a 'change' whose mtime equals the one it saw last while the file was read
    // since (its atime check); a save right after a rebuild read the file can look like that on
    // a loaded machine. The raw event is the kernel's word: queue it too, the burst dedupes it.
    fsw.on('raw', (_event, name, details) => {
      const watched = (details as { watchedPath?: string } | undefined)?.watchedPath
      if (!watched || !name) return
      const path = basename(watched) === name ? watched : join(watched, name)
      if (!ignored(path)) this.queue(path)
    })
    fsw.on('error', () => undefined) // a vanished folder is not a reason to stop watching the rest
    return fsw
  }

  private queue(path: string): void {
    if (this.closing) return
    if (this.pending.size === 0) this.firstEventAt = performance.now()
    this.pending.add(path)
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = undefined
      const paths = this.pending
      this.pending = new Set()
      this.options.onChange(paths, this.firstEventAt)
    }, this.debounceMs)
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.timer) clearTimeout(this.timer)
      await this.fsw?.close()
    })()
    return this.closing
  }
}
