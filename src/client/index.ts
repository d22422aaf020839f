import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { describe, invoke, list, logs, scale } from './commands.js'
import { fault, FAULT_USAGE } from './fault.js'
import { ClientError, clientContext } from './http.js'
import { NEW_LANGS, nextSteps, scaffold, stackFileFor } from './new.js'
import { publish } from './triggers.js'

export const CLIENT_COMMANDS = ['list', 'ls', 'describe', 'invoke', 'logs', 'scale', 'fault', 'new', 'publish'] as const

export const CLIENT_USAGE = `  faasdev list [--json]
  faasdev describe NAME [--json]
  faasdev invoke NAME [--async] [--callback-url URL] [-H 'K: V']... [--method POST] [--query k=v]... [--content-type text/plain] [--json]   (body from stdin)
  faasdev logs NAME [--follow] [--tail N] [--since RFC3339] [--json]
  faasdev scale NAME --replicas N [--json]
  faasdev publish TOPIC [-d DATA] [--content-type TYPE] [--json]   (message from -d or stdin; JSON is sent as application/json)
${FAULT_USAGE}
  faasdev new NAME --lang ${NEW_LANGS.join('|')} [-f stack.yml]
  Client commands talk to --gateway URL, else $OPENFAAS_URL, else http://127.0.0.1:8080, sending $FAASDEV_PASSWORD when set.`

const COMMON = {
  gateway: { type: 'string', short: 'g' },
  json: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options']

function parse<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON, ...options }, allowPositionals: true, strict: true })
  } catch (err) {
    throw new ClientError((err as Error).message, 2)
  }
}

function one(positionals: string[], command: string): string {
  if (positionals.length !== 1 || !positionals[0]) throw new ClientError(`usage: faasdev ${command} NAME${positionals.length > 1 ? ` (one name, got ${positionals.length})` : ''}`, 2)
  return positionals[0]
}

function readStdin(): Uint8Array {
  // An interactive terminal has no body to give: invoke with an empty one instead of waiting.
  if (process.stdin.isTTY) return new Uint8Array()
  try {
    return readFileSync(0)
  } catch {
    return new Uint8Array()
  }
}

async function run(command: string, argv: string[]): Promise<void> {
  switch (command) {
    case 'list':
    case 'ls': {
      const { values, positionals } = parse(argv, {})
      if (positionals.length > 0) throw new ClientError('usage: faasdev list [--json]', 2)
      return list(clientContext(values))
    }
    case 'describe': {
      const { values, positionals } = parse(argv, {})
      return describe(clientContext(values), one(positionals, 'describe'))
    }
    case 'invoke': {
      const { values, positionals } = parse(argv, {
        async: { type: 'boolean', short: 'a' },
        'callback-url': { type: 'string' },
        header: { type: 'string', short: 'H', multiple: true },
        method: { type: 'string', short: 'm' },
        query: { type: 'string', multiple: true },
        'content-type': { type: 'string' },
      })
      const name = one(positionals, 'invoke')
      const ctx = clientContext(values)
      if (values['callback-url'] && !values.async) throw new ClientError('--callback-url needs --async', 2)
      return invoke(ctx, name, {
        async: values.async === true,
        ...(values['callback-url'] ? { callbackUrl: values['callback-url'] } : {}),
        headers: values.header ?? [],
        method: values.method ?? 'POST',
        query: values.query ?? [],
        contentType: values['content-type'] ?? 'text/plain',
        body: readStdin(),
      })
    }
    case 'logs': {
      const { values, positionals } = parse(argv, {
        follow: { type: 'boolean' },
        tail: { type: 'string', short: 't' },
        since: { type: 'string' },
      })
      const name = one(positionals, 'logs')
      const tail = values.tail === undefined ? undefined : Number(values.tail)
      if (tail !== undefined && !Number.isInteger(tail)) throw new ClientError(`--tail: ${JSON.stringify(values.tail)} is not a whole number`, 2)
      return logs(clientContext(values), name, { follow: values.follow === true, ...(tail !== undefined ? { tail } : {}), ...(values.since ? { since: values.since } : {}) })
    }
    case 'scale': {
      const { values, positionals } = parse(argv, { replicas: { type: 'string', short: 'r' } })
      const name = one(positionals, 'scale')
      const replicas = Number(values.replicas)
      if (values.replicas === undefined || !Number.isInteger(replicas) || replicas < 0) throw new ClientError('usage: faasdev scale NAME --replicas N (a whole number ≥ 0)', 2)
      return scale(clientContext(values), name, replicas)
    }
    case 'publish': {
      const { values, positionals } = parse(argv, { data: { type: 'string', short: 'd' }, 'content-type': { type: 'string' } })
      if (positionals.length !== 1 || !positionals[0]) throw new ClientError('usage: faasdev publish TOPIC [-d DATA]', 2)
      const body = values.data !== undefined ? new TextEncoder().encode(values.data) : readStdin()
      return publish(clientContext(values), positionals[0], { body, ...(values['content-type'] ? { contentType: values['content-type'] } : {}) })
    }
    case 'fault': {
      const { values, positionals } = parse(argv, {
        kind: { type: 'string', short: 'k' },
        count: { type: 'string', short: 'n' },
        ms: { type: 'string' },
        status: { type: 'string' },
        probability: { type: 'string', short: 'p' },
        list: { type: 'boolean' },
        clear: { type: 'boolean' },
      })
      return fault(clientContext(values), positionals, values)
    }
    case 'new': {
      const { values, positionals } = parse(argv, { lang: { type: 'string', short: 'l' }, file: { type: 'string', short: 'f' } })
      const name = one(positionals, 'new')
      const result = scaffold(name, values.lang ?? 'typescript', stackFileFor(values.file))
      if (values.json) {
        process.stdout.write(`${JSON.stringify(result)}\n`)
        return
      }
      const rel = (p: string): string => relative(process.cwd(), p) || p
      process.stdout.write(
        `Created ${result.files.map(rel).join(', ')}\nAdded ${name} (lang: ${result.lang}) to ${rel(result.stack)}\n${nextSteps(result, values)}`,
      )
      return
    }
    default:
      throw new ClientError(`unknown command ${JSON.stringify(command)}`, 2)
  }
}

/** Runs one client command; the process's exit code says how it went (0 ok, 1 runtime failure, 2 usage). */
export async function runClient(command: string, argv: string[]): Promise<number> {
  try {
    await run(command, argv)
    return 0
  } catch (err) {
    if (!(err instanceof ClientError)) throw err
    process.stderr.write(`faasdev ${command}: ${err.message}\n`)
    return err.exitCode
  }
}
