import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { isMap, isScalar, parseDocument, YAMLMap } from 'yaml'
import { discoverStackFile } from '../config/discover.js'
import { ConfigError } from '../errors.js'
import { runningGateway } from '../gateway/address-file.js'
import { ClientError, DEFAULT_GATEWAY } from './http.js'

export const NEW_LANGS = ['typescript', 'javascript', 'node20'] as const
export type NewLang = (typeof NEW_LANGS)[number]

// Kubernetes (and so OpenFaaS) function names: DNS-1123 labels.
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

const TEMPLATES: Record<NewLang, Record<string, (name: string) => string>> = {
  typescript: {
    'handler.ts': (name) => `import type { Context } from 'faasdev'

/** ${name}: a standard Request in; a Response, string, object, bytes or nothing out. */
export default async function handle(req: Request, ctx: Context): Promise<Response> {
  const body = await req.text()
  return Response.json({ function: ctx.functionName, callId: ctx.callId, received: body })
}
`,
  },
  javascript: {
    'handler.js': (name) => `/** ${name}: a standard Request in; a Response, string, object, bytes or nothing out. */
export default async function handle(req, ctx) {
  const body = await req.text()
  return Response.json({ function: ctx.functionName, callId: ctx.callId, received: body })
}
`,
  },
  node20: {
    'handler.js': (name) => `'use strict'

// ${name}: an OpenFaaS node20 template function; it runs unchanged on OpenFaaS.
module.exports = async (event, context) => {
  return context.status(200).succeed({ function: '${name}', received: event.body })
}
`,
    'package.json': (name) => `${JSON.stringify({ name, version: '1.0.0', main: 'handler.js', private: true }, null, 2)}\n`,
  },
}

const NEW_STACK = `version: 1.0
provider:
  name: openfaas
  gateway: http://127.0.0.1:8080

functions:
`

export interface NewResult {
  name: string
  lang: NewLang
  stack: string
  dir: string
  files: string[]
}

/** The stack file `new` writes to: `-f`, else the one `up` would find (stack.yaml, stack.yml, the folder's one OpenFaaS YAML file), else a new stack.yml. */
export function stackFileFor(explicit: string | undefined, cwd = process.cwd()): string {
  if (explicit) return resolve(cwd, explicit)
  try {
    return discoverStackFile(cwd)?.file ?? join(cwd, 'stack.yml')
  } catch (err) {
    if (err instanceof ConfigError) throw new ClientError(err.message, 2)
    throw err
  }
}

/**
 * Scaffolds `functions/NAME/` beside the stack file and adds the function to it. The stack
 * file is edited as a YAML document, so its comments and layout survive.
 */
export function scaffold(name: string, lang: string, stackFile: string): NewResult {
  if (!NAME.test(name)) throw new ClientError(`${JSON.stringify(name)} is not a valid function name: lowercase letters, digits and "-", starting and ending with a letter or digit`, 2)
  if (!(NEW_LANGS as readonly string[]).includes(lang)) throw new ClientError(`--lang ${JSON.stringify(lang)}: must be one of ${NEW_LANGS.join(', ')}`, 2)
  const l = lang as NewLang
  const text = existsSync(stackFile) ? readFileSync(stackFile, 'utf8') : NEW_STACK
  const doc = parseDocument(text)
  if (doc.errors.length > 0) throw new ClientError(`${stackFile}: ${doc.errors[0]?.message ?? 'invalid YAML'}`, 2)
  let functions = doc.get('functions', true)
  if (functions === undefined || functions === null || (isScalar(functions) && functions.value === null)) {
    functions = new YAMLMap()
    doc.set('functions', functions)
  }
  if (!isMap(functions)) throw new ClientError(`${stackFile}: functions must be a map`, 2)
  if (functions.has(name)) throw new ClientError(`${stackFile}: function ${name} already exists`, 2)

  const root = dirname(stackFile)
  const dir = join(root, 'functions', name)
  if (existsSync(dir)) throw new ClientError(`${relative(process.cwd(), dir) || dir} already exists`, 2)
  mkdirSync(dir, { recursive: true })
  const files: string[] = []
  for (const [file, render] of Object.entries(TEMPLATES[l])) {
    writeFileSync(join(dir, file), render(name))
    files.push(join(dir, file))
  }
  functions.set(name, doc.createNode({ lang: l, handler: `./functions/${name}` }))
  writeFileSync(stackFile, doc.toString())
  return { name, lang: l, stack: stackFile, dir, files }
}

/**
 * What to do next, with the URL the function will answer at: `--gateway`, `$OPENFAAS_URL`,
 * else the `faasdev up` serving this stack (whatever its port), else the default.
 */
export function nextSteps(result: NewResult, o: { file?: string | undefined; gateway?: string | undefined }, env: NodeJS.ProcessEnv = process.env): string {
  const running = runningGateway(join(dirname(result.stack), '.faasdev'))
  const gateway = (o.gateway ?? (env.OPENFAAS_URL || undefined) ?? running?.url ?? DEFAULT_GATEWAY).replace(/\/+$/, '')
  const flag = gateway === DEFAULT_GATEWAY || gateway === (env.OPENFAAS_URL ?? '').replace(/\/+$/, '') ? '' : ` --gateway ${gateway}`
  const call = `\`faasdev invoke ${result.name}${flag}\` or curl ${gateway}/function/${result.name}`
  if (running?.watch) return `faasdev up on ${running.url} is starting it now (hot reload): ${call}\n`
  if (running) return `faasdev up on ${running.url} does not watch (--no-watch): restart it, then ${call}\n`
  return `Run \`faasdev up${o.file ? ` -f ${o.file}` : ''}\`, then ${call}\n`
}
