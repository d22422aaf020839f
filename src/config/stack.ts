import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { isAlias, isCollection, isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml'
import { ConfigError } from '../errors.js'
import { locateStackFile } from './discover.js'
import { envsubst } from './envsubst.js'
import { readTriggers } from '../triggers/annotations.js'
import { formatDuration, parseDuration, parseMemory } from './units.js'

export const FETCH_LANGS = ['typescript', 'javascript'] as const
export const NODE_TEMPLATE_LANGS = ['node18', 'node20', 'node22', 'node'] as const
export const SUPPORTED_LANGS: readonly string[] = [...FETCH_LANGS, ...NODE_TEMPLATE_LANGS]

export const ENTRY_CANDIDATES = ['handler.ts', 'handler.js', 'handler.mjs', 'index.ts', 'index.js'] as const

export type HandlerStyle = 'fetch' | 'node-template'
export type ScaleType = 'rps' | 'capacity' | 'cpu' | 'queue'

export interface WatchdogSpec {
  /** Concurrent calls per replica; 0 = no limit. @default 0 */
  maxInflight: number
  /** @default 30s */
  execTimeoutMs: number
  /** @default 30s */
  readTimeoutMs: number
  /** Also bounds how long a draining replica may finish its calls. @default 30s */
  writeTimeoutMs: number
}

export interface ScaleSpec {
  min: number
  max: number
  target: number
  type: ScaleType
  targetProportion: number
  zero: boolean
  zeroDurationMs: number
  downWindowMs: number
}

export interface RetrySpec {
  attempts?: number
  codes?: number[]
  minWaitMs?: number
  maxWaitMs?: number
}

export interface FunctionSpec {
  name: string
  lang: string
  style: HandlerStyle
  /** Absolute path of the handler folder. */
  handlerDir: string
  /** Absolute path of the entry file inside it. */
  entry: string
  image?: string
  environment: Record<string, string>
  /** Secret name → value; values never reach logs or the API. */
  secrets: Record<string, string>
  labels: Record<string, string>
  annotations: Record<string, string>
  limits: { memory?: string; cpu?: string }
  memoryLimitBytes?: number
  watchdog: WatchdogSpec
  scale: ScaleSpec
  retry: RetrySpec
  /** The files this definition was read from (stack file, environment files, secrets). */
  configFiles: string[]
}

export interface SkippedFunction {
  name: string
  lang: string
  image?: string
  reason: string
}

export interface StackConfig {
  file: string
  dir: string
  functions: FunctionSpec[]
  skipped: SkippedFunction[]
  warnings: string[]
}

const DEFAULT_TIMEOUT_MS = 30_000

export const SCALE_DEFAULTS: ScaleSpec = {
  min: 1,
  max: 20,
  target: 50,
  type: 'rps',
  targetProportion: 0.9,
  zero: false,
  zeroDurationMs: 15 * 60_000,
  downWindowMs: 30_000,
}

const KNOWN_FUNCTION_KEYS = [
  'lang', 'handler', 'image', 'fprocess', 'environment', 'environment_file', 'secrets', 'labels',
  'annotations', 'limits', 'requests', 'constraints', 'build_args', 'build_options', 'build_secrets',
  'platforms', 'readonly_root_filesystem', 'namespace', 'skip_build',
]

/** The of-watchdog settings read from a function's environment. */
const WATCHDOG_KEYS = ['max_inflight', 'exec_timeout', 'read_timeout', 'write_timeout']

/** The stack file's path: `-f`, else `stack.yaml`, `stack.yml`, or the one OpenFaaS YAML file of the folder (see `discover.ts`). */
export function findStackFile(explicit: string | undefined, cwd = process.cwd()): string {
  return locateStackFile(explicit, cwd).file
}

type Path = (string | number)[]

/** Reads YAML and keeps enough to name the line of any field in an error. */
class Source {
  readonly doc: Document
  /** The file as messages name it: relative to the working directory when inside it. */
  readonly shown: string
  private readonly lines = new LineCounter()

  constructor(readonly file: string, text: string) {
    this.shown = displayPath(file)
    this.doc = parseDocument(text, { lineCounter: this.lines, uniqueKeys: false })
    const first = this.doc.errors[0]
    if (first) {
      const line = first.linePos?.[0].line
      throw new ConfigError(this.shown, line, undefined, `malformed YAML: ${first.message.split('\n')[0]}`)
    }
  }

  /** The node at a path, following aliases (`environment: *common`) on the way. */
  node(path: Path): unknown {
    let node: unknown = this.doc.contents
    for (const key of path) {
      if (isAlias(node)) node = node.resolve(this.doc)
      if (!isCollection(node)) return undefined
      node = node.get(key, true)
    }
    return isAlias(node) ? node.resolve(this.doc) : node
  }

  line(path: Path): number | undefined {
    for (let p = path; p.length > 0; p = p.slice(0, -1)) {
      // A field's line is its key's: a map or list value starts on the line below it.
      const parent = this.node(p.slice(0, -1))
      if (isMap(parent)) {
        const pair = parent.items.find((it) => isScalar(it.key) && String(it.key.value) === String(p[p.length - 1]))
        const key = pair?.key as { range?: [number, number, number] } | undefined
        if (key?.range) return this.lines.linePos(key.range[0]).line
      }
      const node = this.node(p) as { range?: [number, number, number] } | undefined
      if (node && typeof node === 'object' && node.range) return this.lines.linePos(node.range[0]).line
    }
    return undefined
  }

  fail(path: Path, detail: string): never {
    throw new ConfigError(this.shown, this.line(path), fieldName(path), detail)
  }

  get(path: Path): unknown {
    const node = this.node(path)
    if (node === undefined || node === null) return undefined
    if (isScalar(node)) return node.value
    try {
      // yaml's alias limit: a few anchors nested into each other would otherwise expand to millions of values.
      return (node as Node).toJS(this.doc, { maxAliasCount: 100 })
    } catch (err) {
      return this.fail(path, `cannot read: ${(err as Error).message}`)
    }
  }
}

/** `stack.yml` rather than a long absolute path, as a person typed it (`stack.yml:12: …`). */
export function displayPath(file: string, cwd = process.cwd()): string {
  const rel = relative(cwd, file)
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file
}

function fieldName(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('')
}

/** Loads, substitutes and validates a stack file. Throws ConfigError naming file, line and field. */
export function loadStack(file: string, env: NodeJS.ProcessEnv = process.env): StackConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(displayPath(file), undefined, undefined, `cannot read stack file: ${(err as Error).message}`)
  }
  return parseStack(file, text, env)
}

export function parseStack(file: string, text: string, env: NodeJS.ProcessEnv = process.env): StackConfig {
  const src = new Source(file, envsubst(text, env))
  const dir = dirname(file)
  const root = src.doc.contents
  if (!isMap(root)) src.fail([], 'expected a map with a `functions` key')
  const provider = src.get(['provider', 'name'])
  if (provider !== undefined && provider !== 'openfaas') src.fail(['provider', 'name'], `must be "openfaas", got ${JSON.stringify(provider)}`)
  const functions = src.node(['functions'])
  if (!isMap(functions)) return src.fail(['functions'], 'expected a map of function name to definition')

  const result: StackConfig = { file, dir, functions: [], skipped: [], warnings: [] }
  for (const pair of functions.items) {
    const name = isScalar(pair.key) ? String(pair.key.value) : ''
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63) {
      src.fail(['functions', name], `function name ${JSON.stringify(name)} must be a DNS label: lower-case letters, digits and '-', at most 63 characters`)
    }
    if (!isMap(src.node(['functions', name]))) src.fail(['functions', name], 'expected a map')
    const spec = parseFunction(src, dir, name, result.warnings)
    if ('reason' in spec) result.skipped.push(spec)
    else result.functions.push(spec)
  }
  if (result.functions.length === 0 && result.skipped.length === 0) src.fail(['functions'], 'no functions defined')
  if (result.functions.length === 0) {
    const which = result.skipped.map((s) => `${s.name} (${s.lang})`).join(', ')
    src.fail(['functions'], `no function can run: ${which}; supported langs: ${SUPPORTED_LANGS.join(', ')}`)
  }
  return result
}

function parseFunction(src: Source, dir: string, name: string, warnings: string[]): FunctionSpec | SkippedFunction {
  const at = (...rest: Path): Path => ['functions', name, ...rest]
  const raw = src.get(at()) as Record<string, unknown>

  for (const key of Object.keys(raw)) {
    if (KNOWN_FUNCTION_KEYS.includes(key)) continue
    const near = closest(key, KNOWN_FUNCTION_KEYS)
    if (near) warnings.push(`${src.shown}:${src.line(at(key)) ?? '?'}: ${fieldName(at(key))}: unknown field, did you mean "${near}"?`)
  }

  const lang = raw.lang
  if (typeof lang !== 'string' || lang === '') src.fail(at('lang'), 'required: the template name (typescript, javascript, node20, …)')
  if (!SUPPORTED_LANGS.includes(lang)) {
    return { name, lang, ...(typeof raw.image === 'string' ? { image: raw.image } : {}), reason: `lang "${lang}" cannot run in faasdev (supported: ${SUPPORTED_LANGS.join(', ')})` }
  }
  const style: HandlerStyle = (FETCH_LANGS as readonly string[]).includes(lang) ? 'fetch' : 'node-template'

  const handler = raw.handler
  if (typeof handler !== 'string' || handler === '') src.fail(at('handler'), 'required: the handler folder, relative to the stack file')
  const handlerDir = resolve(dir, handler)
  if (!existsSync(handlerDir) || !statSync(handlerDir).isDirectory()) src.fail(at('handler'), `folder ${JSON.stringify(handler)} does not exist (looked in ${handlerDir})`)
  const entry = findEntry(handlerDir)
  if (!entry) src.fail(at('handler'), `no entry file in ${handler}: expected one of ${ENTRY_CANDIDATES.join(', ')} or a package.json "main"`)
  if (style === 'node-template') {
    const esmOwner = commonJsInEsm(entry)
    if (esmOwner) {
      warnings.push(`${src.shown}:${src.line(at('handler')) ?? '?'}: ${fieldName(at('handler'))}: ${relative(handlerDir, entry)} uses module.exports, but ${displayPath(esmOwner)} sets "type": "module", so it would load as an ES module and export nothing; add a package.json without "type" to ${handler} (as faas-cli new does)`)
    }
  }

  const configFiles = [src.file]
  const environment = stringMap(src, at('environment'))
  const envFiles = raw.environment_file
  if (envFiles !== undefined) {
    if (!Array.isArray(envFiles)) src.fail(at('environment_file'), 'expected a list of YAML files')
    envFiles.forEach((f, i) => {
      if (typeof f !== 'string') src.fail(at('environment_file', i), 'expected a file name')
      const path = resolve(dir, f)
      const envSrc = new Source(path, readNamed(src, at('environment_file', i), path, `file ${JSON.stringify(f)} does not exist`))
      // faas-cli: environment files override the inline map, later files win.
      Object.assign(environment, stringMap(envSrc, ['environment']))
      configFiles.push(path)
    })
  }

  const secrets: Record<string, string> = {}
  const secretList = raw.secrets
  if (secretList !== undefined) {
    if (!Array.isArray(secretList)) src.fail(at('secrets'), 'expected a list of secret names')
    secretList.forEach((s, i) => {
      if (typeof s !== 'string' || s === '') src.fail(at('secrets', i), 'expected a secret name')
      // A name, not a path: `../x` would read a file from outside .secrets/.
      if (/[/\\]/.test(s) || s === '.' || s === '..') src.fail(at('secrets', i), `secret name ${JSON.stringify(s)} must be a file name in .secrets/, without / or \\`)
      const path = join(dir, '.secrets', s)
      secrets[s] = readNamed(src, at('secrets', i), path, `secret "${s}" not found: create ${join('.secrets', s)} beside the stack file`)
      configFiles.push(path)
    })
  }

  const limits = stringMap(src, at('limits'))
  let memoryLimitBytes: number | undefined
  if (limits.memory !== undefined) {
    memoryLimitBytes = parseMemory(limits.memory)
    if (memoryLimitBytes === undefined) src.fail(at('limits', 'memory'), `${JSON.stringify(limits.memory)} is not a memory quantity (e.g. 128Mi, 1G)`)
  }

  // Watchdog keys are read from the environment block, as of-watchdog reads its env.
  const duration = (key: string, fallback: number): number => {
    const value = environment[key]
    if (value === undefined || value === '') return fallback
    const ms = parseDuration(value)
    if (ms === undefined) src.fail(envPath(src, at, key), `${JSON.stringify(value)} is not a duration (e.g. 30s, 1m30s, 500ms or a number of seconds)`)
    return ms
  }
  for (const key of Object.keys(environment)) {
    if (WATCHDOG_KEYS.includes(key)) continue
    const near = closest(key, WATCHDOG_KEYS)
    if (near) warnings.push(`${src.shown}:${src.line(envPath(src, at, key)) ?? '?'}: ${fieldName(at('environment', key))}: not a watchdog setting, did you mean "${near}"?`)
  }
  const maxInflightRaw = environment.max_inflight
  let maxInflight = 0
  if (maxInflightRaw !== undefined && maxInflightRaw !== '') {
    maxInflight = Number(maxInflightRaw)
    if (!Number.isInteger(maxInflight) || maxInflight < 0) src.fail(envPath(src, at, 'max_inflight'), `${JSON.stringify(maxInflightRaw)} is not a whole number ≥ 0`)
  }
  const watchdog: WatchdogSpec = {
    maxInflight,
    execTimeoutMs: duration('exec_timeout', DEFAULT_TIMEOUT_MS),
    readTimeoutMs: duration('read_timeout', DEFAULT_TIMEOUT_MS),
    writeTimeoutMs: duration('write_timeout', DEFAULT_TIMEOUT_MS),
  }
  // Settings that start fine and bite under load: said once, at start, where they are written.
  if (memoryLimitBytes !== undefined && maxInflight === 0) {
    warnings.push(`${src.shown}:${src.line(at('limits', 'memory')) ?? '?'}: ${fieldName(at('limits', 'memory'))}: a memory limit without environment.max_inflight: any number of concurrent calls share the replica's heap, so a burst can exceed it and restart the replica; set max_inflight`)
  }
  if (watchdog.execTimeoutMs > watchdog.writeTimeoutMs) {
    warnings.push(
      `${src.shown}:${src.line(envPath(src, at, 'exec_timeout')) ?? '?'}: ${fieldName(at('environment', 'exec_timeout'))}: exec_timeout (${formatDuration(watchdog.execTimeoutMs)}) is longer than write_timeout (${formatDuration(watchdog.writeTimeoutMs)}): OpenFaaS cuts the response at write_timeout, and faasdev stops waiting for a draining call there; raise write_timeout`,
    )
  }

  const labels = stringMap(src, at('labels'))
  const annotations = stringMap(src, at('annotations'))
  const image = typeof raw.image === 'string' ? raw.image : undefined
  // Checked here for the line; the triggers read the annotations again when they deploy.
  const triggers = readTriggers(annotations)
  if (!triggers.ok) src.fail(at('annotations', triggers.problem.key), triggers.problem.detail)
  if (triggers.warning) warnings.push(`${src.shown}:${src.line(at('annotations', triggers.warning.key)) ?? '?'}: ${fieldName(at('annotations', triggers.warning.key))}: ${triggers.warning.detail}`)

  const spec: FunctionSpec = {
    name,
    lang,
    style,
    handlerDir,
    entry,
    environment,
    secrets,
    labels,
    annotations,
    limits: { ...(limits.memory ? { memory: limits.memory } : {}), ...(limits.cpu ? { cpu: limits.cpu } : {}) },
    watchdog,
    scale: parseScale(src, at, labels),
    retry: parseRetry(src, at, annotations),
    configFiles,
  }
  if (image !== undefined) spec.image = image
  if (memoryLimitBytes !== undefined) spec.memoryLimitBytes = memoryLimitBytes
  return spec
}

function envPath(src: Source, at: (...rest: Path) => Path, key: string): Path {
  return src.node(at('environment', key)) !== undefined ? at('environment', key) : at('environment_file')
}

function parseScale(src: Source, at: (...rest: Path) => Path, labels: Record<string, string>): ScaleSpec {
  const scale = { ...SCALE_DEFAULTS }
  const p = (key: string): Path => at('labels', `com.openfaas.scale.${key}`)
  const num = (key: string, check: (n: number) => boolean, what: string): number | undefined => {
    const value = labels[`com.openfaas.scale.${key}`]
    if (value === undefined) return undefined
    const n = Number(value)
    if (value.trim() === '' || !Number.isFinite(n) || !check(n)) src.fail(p(key), `${JSON.stringify(value)} is not ${what}`)
    return n
  }
  const dur = (key: string): number | undefined => {
    const value = labels[`com.openfaas.scale.${key}`]
    if (value === undefined) return undefined
    const ms = parseDuration(value)
    if (ms === undefined) src.fail(p(key), `${JSON.stringify(value)} is not a duration`)
    return ms
  }
  scale.min = num('min', (n) => Number.isInteger(n) && n >= 0, 'a whole number ≥ 0') ?? scale.min
  scale.max = num('max', (n) => Number.isInteger(n) && n >= 1, 'a whole number ≥ 1') ?? scale.max
  scale.target = num('target', (n) => n > 0, 'a number > 0') ?? scale.target
  scale.targetProportion = num('target-proportion', (n) => n > 0 && n <= 1, 'a fraction in (0, 1]') ?? scale.targetProportion
  scale.zeroDurationMs = dur('zero-duration') ?? scale.zeroDurationMs
  scale.downWindowMs = dur('down.window') ?? scale.downWindowMs
  const type = labels['com.openfaas.scale.type']
  if (type !== undefined) {
    if (!['rps', 'capacity', 'cpu', 'queue'].includes(type)) src.fail(p('type'), `${JSON.stringify(type)} is not one of rps, capacity, cpu, queue`)
    scale.type = type as ScaleType
  }
  const zero = labels['com.openfaas.scale.zero']
  if (zero !== undefined) {
    if (!['true', 'false', '1', '0'].includes(zero)) src.fail(p('zero'), `${JSON.stringify(zero)} is not true or false`)
    scale.zero = zero === 'true' || zero === '1'
  }
  if (scale.min > scale.max) src.fail(p('min'), `min (${scale.min}) is above max (${scale.max})`)
  return scale
}

function parseRetry(src: Source, at: (...rest: Path) => Path, annotations: Record<string, string>): RetrySpec {
  const retry: RetrySpec = {}
  const p = (key: string): Path => at('annotations', `com.openfaas.retry.${key}`)
  const attempts = annotations['com.openfaas.retry.attempts']
  if (attempts !== undefined) {
    const n = Number(attempts)
    if (!Number.isInteger(n) || n < 1) src.fail(p('attempts'), `${JSON.stringify(attempts)} is not a whole number ≥ 1`)
    retry.attempts = n
  }
  const codes = annotations['com.openfaas.retry.codes']
  if (codes !== undefined) {
    const list = codes.split(/[\s,]+/).filter(Boolean).map(Number)
    if (list.some((c) => !Number.isInteger(c) || c < 100 || c > 599)) src.fail(p('codes'), `${JSON.stringify(codes)} is not a list of HTTP status codes (e.g. "429,502,503")`)
    retry.codes = list
  }
  for (const [key, field] of [['min_wait', 'minWaitMs'], ['max_wait', 'maxWaitMs']] as const) {
    const value = annotations[`com.openfaas.retry.${key}`]
    if (value === undefined) continue
    const ms = parseDuration(value)
    if (ms === undefined) src.fail(p(key), `${JSON.stringify(value)} is not a duration`)
    retry[field] = ms
  }
  return retry
}

/** A file the stack names (an environment file, a secret), or a ConfigError at the field naming it. */
function readNamed(src: Source, field: Path, path: string, missing: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return src.fail(field, code === 'ENOENT' ? missing : code === 'EISDIR' ? `${displayPath(path)} is a folder, not a file` : `cannot read ${displayPath(path)}: ${(err as Error).message}`)
  }
}

function stringMap(src: Source, path: Path): Record<string, string> {
  const value = src.get(path)
  if (value === undefined || value === null) return {}
  if (typeof value !== 'object' || Array.isArray(value)) src.fail(path, 'expected a map of key: value')
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v !== null && typeof v === 'object') src.fail([...path, k], 'expected a plain value, not a list or map')
    out[k] = v === null || v === undefined ? '' : String(v)
  }
  return out
}

/**
 * The package.json that makes a CommonJS `.js` entry load as an ES module ("type": "module"
 * in the nearest package.json), or undefined. Template handlers are CommonJS: the template
 * gives them their own package.json, a handler folder copied without one inherits the project's.
 */
function commonJsInEsm(entry: string): string | undefined {
  if (!entry.endsWith('.js')) return undefined
  let source: string
  try {
    source = readFileSync(entry, 'utf8')
  } catch {
    return undefined
  }
  if (!/\bmodule\.exports\b|^\s*exports\.\w+\s*=/m.test(source) || /^\s*export\s/m.test(source)) return undefined
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type === 'module' ? pkg : undefined
      } catch {
        return undefined
      }
    }
    if (dirname(dir) === dir) return undefined
  }
}

export function findEntry(dir: string): string | undefined {
  for (const name of ENTRY_CANDIDATES) {
    const candidate = join(dir, name)
    if (existsSync(candidate)) return candidate
  }
  const pkgPath = join(dir, 'package.json')
  if (existsSync(pkgPath)) {
    try {
      const main = (JSON.parse(readFileSync(pkgPath, 'utf8')) as { main?: unknown }).main
      if (typeof main === 'string' && existsSync(join(dir, main))) return join(dir, main)
    } catch {
      return undefined
    }
  }
  return undefined
}

/** The closest known name within an edit distance of 2, for "did you mean" warnings. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const c of candidates) {
    const d = editDistance(word, c)
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return row[b.length] as number
}
