import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { isAbsolute, join, relative, resolve } from 'node:path'
import { parse } from 'yaml'
import { ConfigError } from '../errors.js'

export interface FoundStackFile {
  file: string
  /** Said once at start when the file was not one of the standard names. */
  note?: string
}

const STANDARD_NAMES = ['stack.yaml', 'stack.yml']
// A stack file is small; a large YAML file in the folder is data, not worth parsing.
const MAX_CANDIDATE_BYTES = 1024 * 1024

const shown = (file: string, cwd: string): string => {
  const rel = relative(cwd, file)
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file
}

function isOpenFaasStack(file: string): boolean {
  try {
    if (statSync(file).size > MAX_CANDIDATE_BYTES) return false
    const doc = parse(readFileSync(file, 'utf8')) as { provider?: { name?: unknown } } | null
    return doc?.provider?.name === 'openfaas'
  } catch {
    return false
  }
}

/**
 * faas-cli's discovery (`stack.yaml`, then `stack.yml`), then what `faas-cli new` 0.16 leaves
 * behind: `NAME.yml`. Without a standard name, the one `*.yml` / `*.yaml` of the folder whose
 * `provider.name` is `openfaas` is the stack file; several are a configuration error naming
 * them. Undefined when there is none.
 */
export function discoverStackFile(cwd = process.cwd()): FoundStackFile | undefined {
  for (const name of STANDARD_NAMES) {
    const candidate = join(cwd, name)
    if (existsSync(candidate)) return { file: candidate }
  }
  let names: string[]
  try {
    names = readdirSync(cwd, { withFileTypes: true })
      .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
      .map((e) => e.name)
      .sort()
  } catch {
    return undefined
  }
  const stacks = names.map((n) => join(cwd, n)).filter(isOpenFaasStack)
  const [only] = stacks
  if (only && stacks.length === 1) {
    return { file: only, note: `using ${shown(only, process.cwd())}: there is no stack.yaml or stack.yml, and it is the only YAML file here with provider "openfaas" (-f picks another)` }
  }
  if (stacks.length > 1) {
    throw new ConfigError(
      shown(cwd, process.cwd()),
      undefined,
      undefined,
      `no stack.yaml or stack.yml, and several files with provider "openfaas": ${stacks.map((f) => shown(f, cwd)).join(', ')}; pass -f FILE`,
    )
  }
  return undefined
}

/** The stack file to run: `-f`, else {@link discoverStackFile}; a ConfigError when there is none. */
export function locateStackFile(explicit: string | undefined, cwd = process.cwd()): FoundStackFile {
  if (explicit) return { file: resolve(cwd, explicit) }
  const found = discoverStackFile(cwd)
  if (found) return found
  throw new ConfigError(shown(join(cwd, 'stack.yml'), process.cwd()), undefined, undefined, `no stack.yaml or stack.yml in ${cwd}, nor another YAML file with provider "openfaas"; pass -f FILE`)
}
