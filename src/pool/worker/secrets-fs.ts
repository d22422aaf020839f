/**
 * `/var/openfaas/secrets/NAME` inside a replica, where every OpenFaaS template reads its
 * secrets, served from the function's own `.secrets/NAME` values: nothing is written to disk
 * and the folder need not exist. The bundle imports this module before the handler's code, so
 * a secret read while the handler module loads works too.
 *
 * The functions of `fs` and `fs/promises` that take a path (readFile, stat, lstat, access,
 * readdir, exists, realpath, opendir, open, createReadStream) are wrapped in this worker thread
 * only (each worker has its own `fs`), then `syncBuiltinESMExports()` makes ES module named
 * imports (`import { readFileSync } from 'node:fs'`, `node:fs/promises`) see the wrappers. Any
 * other path goes to the original function untouched. The folder is served for every function,
 * with or without secrets, so a real folder of that name on the machine (faasd mounts one) is
 * not reached through these: a function without secrets sees no folder at all, as on OpenFaaS.
 * `open` of a secret fails with EACCES (a file descriptor needs a real file, and nothing is
 * written): read secrets with readFile or createReadStream. Other calls that take a path
 * (watch, copyFile, symlinks, child processes) are not wrapped; this keeps a handler's reads
 * honest, it is not a sandbox.
 */
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { Readable } from 'node:stream'
import { constants as os } from 'node:os'
import { basename, dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isMainThread } from 'node:worker_threads'
import { replicaData } from './replica-data.js'

export const SECRETS_DIR = '/var/openfaas/secrets'

type Fn = (...args: unknown[]) => unknown
type Callback = (err: NodeJS.ErrnoException | null, value?: unknown) => void

/** What a path names inside the secrets folder, or undefined for any other path. */
type Target = { kind: 'dir' } | { kind: 'file'; name: string; path: string } | { kind: 'below'; path: string; under: string }

const MESSAGES = { ENOENT: 'no such file or directory', EISDIR: 'illegal operation on a directory', ENOTDIR: 'not a directory', EACCES: 'permission denied' } as const

/** An error shaped as Node's own (`ENOENT: no such file or directory, open '/x'`, errno, code, syscall, path). */
function fsError(code: keyof typeof MESSAGES, syscall: string, path: string | undefined, caller: Fn): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: ${MESSAGES[code]}, ${syscall}${path === undefined ? '' : ` '${path}'`}`)
  err.errno = -os.errno[code]
  err.code = code
  err.syscall = syscall
  if (path !== undefined) err.path = path
  Error.captureStackTrace(err, caller)
  return err
}

function targetOf(p: unknown): Target | undefined {
  let text: string
  if (typeof p === 'string') text = p
  else if (p instanceof URL) {
    if (p.protocol !== 'file:') return undefined
    text = fileURLToPath(p)
  } else if (Buffer.isBuffer(p)) text = p.toString()
  else return undefined
  // Most reads are of other files: leave them before resolving anything.
  if (!text.includes('secrets')) return undefined
  const path = resolve(text)
  if (path === SECRETS_DIR) return { kind: 'dir' }
  if (!path.startsWith(`${SECRETS_DIR}/`)) return undefined
  if (dirname(path) === SECRETS_DIR) return { kind: 'file', name: basename(path), path }
  return { kind: 'below', path, under: path.slice(SECRETS_DIR.length + 1).split('/')[0] as string }
}

function encodingOf(options: unknown): BufferEncoding | 'buffer' | undefined {
  if (typeof options === 'string') return options as BufferEncoding
  if (options && typeof options === 'object') return (options as { encoding?: BufferEncoding | null }).encoding ?? undefined
  return undefined
}

/** Splits `(…args, callback)` as Node's callback APIs take them. */
function withCallback(args: unknown[]): [unknown[], Callback | undefined] {
  const last = args[args.length - 1]
  return typeof last === 'function' ? [args.slice(0, -1), last as Callback] : [args, undefined]
}

function patch(holder: object, name: string, make: (original: Fn) => Fn): void {
  const target = holder as Record<string, Fn>
  const original = target[name]
  if (typeof original !== 'function') return
  const wrapped = make(original)
  Object.defineProperty(wrapped, 'name', { value: original.name })
  target[name] = wrapped
}

/** Serves `secrets` at `/var/openfaas/secrets/NAME` through this thread's `fs`. */
export function installSecretsFs(secrets: Record<string, string>): void {
  const values = new Map(Object.entries(secrets).map(([name, value]) => [name, Buffer.from(value, 'utf8')]))
  const hasDir = values.size > 0
  const since = new Date()
  const ids = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }

  const stats = (mode: number, size: number): fs.Stats => {
    const fields: Record<string, unknown> = {
      dev: 0, ino: 0, mode, nlink: 1, ...ids, rdev: 0, size, blksize: 4096, blocks: Math.ceil(size / 512),
      atimeMs: since.getTime(), mtimeMs: since.getTime(), ctimeMs: since.getTime(), birthtimeMs: since.getTime(),
      atime: since, mtime: since, ctime: since, birthtime: since,
    }
    // Own data properties: newer Node versions define the Date fields as prototype getters.
    const out = Object.create(fs.Stats.prototype) as fs.Stats
    for (const [k, value] of Object.entries(fields)) Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true })
    return out
  }

  /** The answer of one operation on a target: a value, or the error Node would give. */
  const read = (t: Target, options: unknown, caller: Fn): unknown => {
    if (t.kind === 'file') {
      const bytes = values.get(t.name)
      if (!bytes) throw fsError('ENOENT', 'open', t.path, caller)
      const encoding = encodingOf(options)
      return encoding && encoding !== 'buffer' ? bytes.toString(encoding) : Buffer.from(bytes)
    }
    if (t.kind === 'dir') {
      if (hasDir) throw fsError('EISDIR', 'read', undefined, caller)
      throw fsError('ENOENT', 'open', SECRETS_DIR, caller)
    }
    throw fsError(values.has(t.under) ? 'ENOTDIR' : 'ENOENT', 'open', t.path, caller)
  }

  const stat = (syscall: string) => (t: Target, options: unknown, caller: Fn): unknown => {
    if (t.kind === 'dir' && hasDir) return stats(fs.constants.S_IFDIR | 0o755, 4096)
    if (t.kind === 'file' && values.has(t.name)) return stats(fs.constants.S_IFREG | 0o444, (values.get(t.name) as Buffer).byteLength)
    if ((options as { throwIfNoEntry?: boolean } | undefined)?.throwIfNoEntry === false) return undefined
    const path = t.kind === 'dir' ? SECRETS_DIR : t.path
    throw fsError(t.kind === 'below' && values.has(t.under) ? 'ENOTDIR' : 'ENOENT', syscall, path, caller)
  }

  const access = (t: Target, _mode: unknown, caller: Fn): unknown => {
    stat('access')(t, undefined, caller)
    return undefined
  }

  const readdir = (t: Target, options: unknown, caller: Fn): unknown => {
    if (t.kind !== 'dir' || !hasDir) {
      const path = t.kind === 'dir' ? SECRETS_DIR : t.path
      const isFile = (t.kind === 'file' && values.has(t.name)) || (t.kind === 'below' && values.has(t.under))
      throw fsError(isFile ? 'ENOTDIR' : 'ENOENT', 'scandir', path, caller)
    }
    const names = [...values.keys()].sort()
    if ((options as { withFileTypes?: boolean } | undefined)?.withFileTypes) {
      const Dirent = fs.Dirent as unknown as new (name: string, type: number, path: string) => fs.Dirent
      const file = (fs.constants as { UV_DIRENT_FILE?: number }).UV_DIRENT_FILE ?? 1
      return names.map((n) => new Dirent(n, file, SECRETS_DIR))
    }
    return encodingOf(options) === 'buffer' ? names.map((n) => Buffer.from(n)) : names
  }

  /** The error of a path that does not exist in the folder as served, or undefined when it does. */
  const missing = (t: Target, syscall: string, caller: Fn): NodeJS.ErrnoException | undefined => {
    if ((t.kind === 'dir' && hasDir) || (t.kind === 'file' && values.has(t.name))) return undefined
    const path = t.kind === 'dir' ? SECRETS_DIR : t.path
    return fsError(t.kind === 'below' && values.has(t.under) ? 'ENOTDIR' : 'ENOENT', syscall, path, caller)
  }

  const open = (t: Target, _flags: unknown, caller: Fn): unknown => {
    const path = t.kind === 'dir' ? SECRETS_DIR : t.path
    throw missing(t, 'open', caller) ?? fsError('EACCES', 'open', path, caller)
  }

  const realpath = (t: Target, options: unknown, caller: Fn): unknown => {
    const err = missing(t, 'realpath', caller)
    if (err) throw err
    const path = t.kind === 'dir' ? SECRETS_DIR : t.path
    return encodingOf(options) === 'buffer' ? Buffer.from(path) : path
  }

  const opendir = (t: Target, _options: unknown, caller: Fn): unknown => {
    const entries = readdir(t, { withFileTypes: true }, caller) as fs.Dirent[]
    let closed = false
    const next = (): fs.Dirent | null => {
      if (closed) throw Object.assign(new Error('Directory handle was closed'), { code: 'ERR_DIR_CLOSED' })
      return entries.shift() ?? null
    }
    const dir = {
      path: SECRETS_DIR,
      readSync: next,
      read(cb?: Callback): unknown {
        if (!cb) return Promise.resolve().then(next)
        let entry: fs.Dirent | null
        try {
          entry = next()
        } catch (err) {
          process.nextTick(cb, err as NodeJS.ErrnoException)
          return undefined
        }
        process.nextTick(cb, null, entry)
        return undefined
      },
      closeSync(): void {
        closed = true
      },
      close(cb?: Callback): unknown {
        closed = true
        if (!cb) return Promise.resolve()
        process.nextTick(cb, null)
        return undefined
      },
      async *[Symbol.asyncIterator](): AsyncGenerator<fs.Dirent> {
        try {
          for (let e = next(); e; e = next()) yield e
        } finally {
          closed = true
        }
      },
      *entries(): Generator<fs.Dirent> {
        for (let e = next(); e; e = next()) yield e
      },
    }
    return dir
  }

  const ops: Record<string, (t: Target, options: unknown, caller: Fn) => unknown> = {
    readFile: read,
    stat: stat('stat'),
    lstat: stat('lstat'),
    access,
    readdir,
    realpath,
    opendir,
    open,
  }
  const nativeRealpath = { sync: fs.realpathSync.native as Fn, callback: fs.realpath.native as Fn }

  const promises = fs.promises as unknown as object
  for (const [name, op] of Object.entries(ops)) {
    patch(fs, `${name}Sync`, (original) =>
      function (this: unknown, ...args: unknown[]) {
        const t = targetOf(args[0])
        return t ? op(t, args[1], fs[`${name}Sync` as keyof typeof fs] as Fn) : original.apply(this, args)
      },
    )
    patch(fs, name, (original) =>
      function (this: unknown, ...all: unknown[]) {
        const t = targetOf(all[0])
        const [args, cb] = withCallback(all)
        if (!t || !cb) return original.apply(this, all)
        let value: unknown
        try {
          value = op(t, args[1], fs[name as keyof typeof fs] as Fn)
        } catch (err) {
          process.nextTick(cb, err as NodeJS.ErrnoException)
          return undefined
        }
        // Node's callbacks never run before the call returns.
        if (name === 'access') process.nextTick(cb, null)
        else process.nextTick(cb, null, value)
        return undefined
      },
    )
    patch(promises, name, (original) =>
      async function (this: unknown, ...args: unknown[]) {
        const t = targetOf(args[0])
        return t ? op(t, args[1], (promises as Record<string, Fn>)[name] as Fn) : original.apply(this, args)
      },
    )
  }
  patch(fs, 'existsSync', (original) =>
    function (this: unknown, ...args: unknown[]) {
      const t = targetOf(args[0])
      if (!t) return original.apply(this, args)
      return (t.kind === 'dir' && hasDir) || (t.kind === 'file' && values.has(t.name))
    },
  )
  patch(fs, 'exists', (original) =>
    function (this: unknown, ...args: unknown[]) {
      const t = targetOf(args[0])
      const cb = args[1]
      if (!t || typeof cb !== 'function') return original.apply(this, args)
      process.nextTick(cb as (exists: boolean) => void, fs.existsSync(args[0] as string))
      return undefined
    },
  )
  // realpath's `.native` variants are properties of the functions replaced above.
  ;(fs.realpathSync as unknown as { native: Fn }).native = function (this: unknown, ...args: unknown[]) {
    return targetOf(args[0]) ? fs.realpathSync(...(args as Parameters<typeof fs.realpathSync>)) : nativeRealpath.sync.apply(this, args)
  }
  ;(fs.realpath as unknown as { native: Fn }).native = function (this: unknown, ...args: unknown[]) {
    return targetOf(args[0]) ? (fs.realpath as unknown as Fn)(...args) : nativeRealpath.callback.apply(this, args)
  }
  patch(fs, 'createReadStream', (original) =>
    function (this: unknown, ...args: unknown[]) {
      const t = targetOf(args[0])
      if (!t) return original.apply(this, args)
      const options = (typeof args[1] === 'object' && args[1] ? args[1] : {}) as { start?: number; end?: number }
      const encoding = encodingOf(args[1])
      let bytes: Buffer | undefined
      let error: unknown
      try {
        bytes = read(t, undefined, fs.createReadStream as Fn) as Buffer
      } catch (err) {
        error = err
      }
      // As Node's: the stream errors after the call returns, it never throws.
      const stream = bytes ? Readable.from([bytes.subarray(options.start ?? 0, options.end === undefined ? undefined : options.end + 1)], { objectMode: false }) : new Readable({ read: () => undefined })
      if (encoding && encoding !== 'buffer') stream.setEncoding(encoding)
      if (!bytes) process.nextTick(() => stream.destroy(error as Error))
      return Object.assign(stream, { path: args[0], pending: false })
    },
  )
  syncBuiltinESMExports()
}

// In a replica, before the handler's modules run (the bundle imports this module first).
const data = isMainThread ? null : replicaData()
if (data && typeof data === 'object' && data.secrets) installSecretsFs(data.secrets)
