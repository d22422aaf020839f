/**
 * A lockfile for a scratch project that depends on a packed faasdev, built from the repository's
 * own lockfile: every package it needs is then fetched by its exact URL and integrity, which
 * `npm ci --offline` serves from the npm cache that installing this repository filled. (A plain
 * `npm install --offline` would need the registry's package documents, which that cache lacks.)
 */
interface LockEntry {
  version?: string
  resolved?: string
  integrity?: string
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  dev?: boolean
  optional?: boolean
  devOptional?: boolean
  peer?: boolean
  [key: string]: unknown
}

interface Lockfile {
  lockfileVersion: number
  packages: Record<string, LockEntry>
}

/** Where `name`, needed by the package at `from`, is installed (Node's lookup up the folders). */
function resolveIn(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let base = from
  for (;;) {
    const candidate = `${base ? `${base}/` : ''}node_modules/${name}`
    if (packages[candidate]) return candidate
    if (!base) return undefined
    const at = base.lastIndexOf('node_modules/')
    base = at <= 0 ? '' : base.slice(0, at - 1)
  }
}

/**
 * The lockfile of a project whose devDependencies are `faasdev` (the tarball, with the
 * dependencies and manifest fields given) and `tools` (name → the version this repository locks).
 */
export function scratchLockfile(repoLock: Lockfile, tarball: { resolved: string; integrity: string; manifest: LockEntry }, tools: string[]): { lock: Lockfile; devDependencies: Record<string, string> } {
  const source = repoLock.packages
  const faasdevDeps = tarball.manifest.dependencies ?? {}
  const keep = new Map<string, LockEntry>()
  const queue: string[] = []
  const need = (from: string, name: string, optional: boolean): void => {
    const path = resolveIn(source, from, name)
    if (!path) {
      if (optional) return
      throw new Error(`the repository's lockfile has no ${name} (needed by ${from || 'the project'})`)
    }
    if (!keep.has(path)) {
      keep.set(path, source[path] as LockEntry)
      queue.push(path)
    }
  }
  for (const name of Object.keys(faasdevDeps)) need('', name, false)
  for (const name of tools) need('', name, false)
  while (queue.length > 0) {
    const path = queue.shift() as string
    const entry = source[path] as LockEntry
    for (const name of Object.keys(entry.dependencies ?? {})) need(path, name, false)
    for (const name of Object.keys(entry.optionalDependencies ?? {})) need(path, name, true)
    for (const name of Object.keys(entry.peerDependencies ?? {})) need(path, name, true)
  }
  const devDependencies: Record<string, string> = { faasdev: tarball.resolved }
  for (const name of tools) devDependencies[name] = (source[`node_modules/${name}`] as LockEntry).version as string
  const packages: Record<string, LockEntry> = { '': { name: 'consumer', devDependencies } }
  packages['node_modules/faasdev'] = { ...tarball.manifest, resolved: tarball.resolved, integrity: tarball.integrity, dev: true }
  for (const [path, entry] of keep) {
    if (path === 'node_modules/faasdev') continue
    // Everything here is under a devDependency; npm recomputes these flags, and a stale
    // `optional` or `peer` would only make it skip what is needed.
    const { dev: _dev, optional: _optional, devOptional: _devOptional, peer: _peer, ...rest } = entry
    packages[path] = { ...rest, dev: true, ...(entry.optional ? { optional: true } : {}) }
  }
  return { lock: { ...repoLock, packages }, devDependencies }
}
