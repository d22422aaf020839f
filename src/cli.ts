import { parseArgs } from 'node:util'
import { CLIENT_COMMANDS, CLIENT_USAGE, runClient } from './client/index.js'
import { ConfigError } from './errors.js'
import { authSettings } from './gateway/auth.js'
import { PRESSURE_FLAGS, pressureSettings } from './gateway/pressure.js'
import { LOG_FORMATS, type LogFormat } from './logs/logger.js'
import { createRuntime, VERSION, type FunctionSummary, type Runtime } from './runtime.js'
import { formatDuration, parseDuration, parseMemory } from './config/units.js'
import { ASYNC_FLAGS, ASYNC_USAGE, asyncSettings } from './queue-worker/options.js'
import { POOL_FLAGS, POOL_USAGE, poolSettings } from './pool/flags.js'

const USAGE = `faasdev ${VERSION} — OpenFaaS-style functions in one Node process

Usage:
  faasdev up [-f stack.yml] [--port 8080] [--host 127.0.0.1] [--no-watch] [--max-body SIZE] [--max-response SIZE] [--data-dir DIR] [--grace SECONDS] [--autoscale-interval 1s]
             ${ASYNC_USAGE}
             ${POOL_USAGE}
             [--queue memory|jetstream] [--nats-url nats://HOST:4222] [--nats-creds FILE] [--queue-name faas-request] [--ack-wait 30s]
             [--auth] [--max-event-loop-delay 1s] [--max-heap SIZE] [--max-rss SIZE] [--log-format pretty|json|plain]
${CLIENT_USAGE}
  faasdev --version | --help

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.`

function fail(message: string, code = 2): never {
  process.stderr.write(`faasdev: ${message}\n`)
  process.exit(code)
}

function table(rows: FunctionSummary[]): string {
  const lines = rows.map((r) => [
    r.name,
    r.status,
    r.lang,
    r.status === 'ready' ? String(r.replicas ?? '') : '',
    r.status === 'ready' ? (r.maxInflight ? String(r.maxInflight) : '∞') : '',
    r.status === 'ready' && r.execTimeoutMs !== undefined ? formatDuration(r.execTimeoutMs) : '',
    r.memory ?? '',
    r.buildMs !== undefined ? `${r.buildMs} ms` : '',
    r.url ?? r.reason ?? '',
  ])
  const head = ['FUNCTION', 'STATUS', 'LANG', 'REPLICAS', 'INFLIGHT', 'TIMEOUT', 'MEMORY', 'BUILD', 'URL']
  const all = [head, ...lines]
  const widths = head.map((_, i) => Math.max(...all.map((l) => (l[i] ?? '').length)))
  return all.map((l) => l.map((c, i) => (i === l.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n')
}

function number(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0) fail(`${flag}: ${JSON.stringify(value)} is not a number`)
  return n
}

async function up(argv: string[]): Promise<void> {
  let values
  try {
    ;({ values } = parseArgs({
      args: argv,
      options: {
        file: { type: 'string', short: 'f' },
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        watch: { type: 'boolean' },
        'no-watch': { type: 'boolean' },
        'max-body': { type: 'string' },
        'max-response': { type: 'string' },
        'data-dir': { type: 'string' },
        grace: { type: 'string' },
        'autoscale-interval': { type: 'string' },
        queue: { type: 'string' },
        auth: { type: 'boolean' },
        'log-format': { type: 'string' },
        ...PRESSURE_FLAGS,
        ...ASYNC_FLAGS,
        ...POOL_FLAGS,
        'nats-url': { type: 'string' },
        'nats-creds': { type: 'string' },
        'queue-name': { type: 'string' },
        'ack-wait': { type: 'string' },
      },
      strict: true,
    }))
  } catch (err) {
    fail(`${(err as Error).message}\n\n${USAGE}`)
  }
  if (values.queue && values.queue !== 'memory' && values.queue !== 'jetstream') fail(`--queue ${values.queue}: must be "memory" or "jetstream"`)
  const queue = values.queue === 'jetstream' ? ('jetstream' as const) : undefined
  for (const flag of ['nats-url', 'nats-creds', 'queue-name', 'ack-wait'] as const) {
    if (values[flag] !== undefined && !queue) fail(`--${flag} needs --queue jetstream`)
  }
  if (values['queue-name'] !== undefined && !/^[A-Za-z0-9_-]+$/.test(values['queue-name'])) fail(`--queue-name: ${JSON.stringify(values['queue-name'])} may only hold letters, digits, "-" and "_"`)
  const ackWaitMs = values['ack-wait'] === undefined ? undefined : parseDuration(values['ack-wait'])
  if (values['ack-wait'] !== undefined && !ackWaitMs) fail(`--ack-wait: ${JSON.stringify(values['ack-wait'])} is not a duration above 0 (e.g. 30s)`)
  let rt: Runtime
  let auth: { password: string; generated: boolean } | undefined
  try {
    const port = number(values.port, '--port')
    const maxBody = values['max-body'] === undefined ? undefined : parseMemory(values['max-body'])
    if (values['max-body'] !== undefined && maxBody === undefined) fail(`--max-body: ${JSON.stringify(values['max-body'])} is not a size above 0 (bytes, or e.g. 10Mi, 1G)`)
    const maxResponse = values['max-response'] === undefined ? undefined : parseMemory(values['max-response'])
    if (values['max-response'] !== undefined && maxResponse === undefined) fail(`--max-response: ${JSON.stringify(values['max-response'])} is not a size above 0 (bytes, or e.g. 64Mi, 1G)`)
    const grace = number(values.grace, '--grace')
    const autoscaleMs = values['autoscale-interval'] === undefined ? undefined : parseDuration(values['autoscale-interval'])
    if (values['autoscale-interval'] !== undefined && autoscaleMs === undefined) fail(`--autoscale-interval: ${JSON.stringify(values['autoscale-interval'])} is not a duration (e.g. 1s, 500ms; 0 turns autoscaling off)`)
    let async
    let protection
    let pool
    try {
      async = asyncSettings(values)
      pool = poolSettings(values)
      protection = pressureSettings(values)
    } catch (err) {
      fail((err as Error).message)
    }
    auth = values.auth ? authSettings() : undefined
    // Replicas inherit this process's environment: a handler must not read the admin password
    // (and with it call /system) because the user exported it for the client commands.
    delete process.env.FAASDEV_PASSWORD
    if (values['log-format'] !== undefined && !(LOG_FORMATS as readonly string[]).includes(values['log-format'])) fail(`--log-format: must be one of ${LOG_FORMATS.join(', ')}`)
    rt = await createRuntime({
      ...async,
      ...protection,
      ...pool,
      ...(values['log-format'] ? { logFormat: values['log-format'] as LogFormat } : {}),
      ...(auth ? { auth: { password: auth.password } } : {}),
      ...(values.file ? { stack: values.file } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(values.host ? { host: values.host } : {}),
      ...(maxBody !== undefined ? { maxBody } : {}),
      ...(maxResponse !== undefined ? { maxResponse } : {}),
      ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
      ...(grace !== undefined ? { graceMs: grace * 1000 } : {}),
      ...(autoscaleMs !== undefined ? { autoscaleIntervalMs: autoscaleMs } : {}),
      watch: !values['no-watch'],
      ...(queue ? { queue } : {}),
      ...(values['nats-url'] ? { natsUrl: values['nats-url'] } : {}),
      ...(values['nats-creds'] ? { natsCreds: values['nats-creds'] } : {}),
      ...(values['queue-name'] ? { queueName: values['queue-name'] } : {}),
      ...(ackWaitMs !== undefined ? { ackWaitMs } : {}),
    })
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message)
    throw err
  }

  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) {
      process.stderr.write(`\n${signal} again: forcing exit\n`)
      process.exit(130)
    }
    stopping = true
    process.stderr.write(`\n${signal}: draining (press Ctrl-C again to force)\n`)
    rt.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))

  process.stderr.write(`faasdev ${VERSION}: building ${rt.config.functions.length} function(s) from ${rt.config.file}\n`)
  try {
    await rt.start()
  } catch (err) {
    // A busy port is found before anything builds: no table, and it is no configuration error.
    const portBusy = (err as { code?: string }).code === 'ERR_PORT_IN_USE'
    if (!portBusy) process.stderr.write(`${table(rt.summary)}\n`)
    // Stop what did start (replicas, build folder) before exiting.
    await rt.close().catch(() => undefined)
    fail((err as Error).message, portBusy ? 1 : 2)
  }
  process.stdout.write(`\n${table(rt.summary)}\n\ngateway listening on ${rt.url}  (Ctrl-C to stop)\n`)
  if (auth) {
    process.stdout.write(
      auth.generated
        ? `basic auth on /system/* and /ui/: user admin, password ${auth.password}  (shown once; export FAASDEV_PASSWORD=${auth.password} for the client commands)\n`
        : 'basic auth on /system/* and /ui/: user admin, password from FAASDEV_PASSWORD\n',
    )
  }
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const [command, ...rest] = argv
  switch (command) {
    case 'up':
      return up(rest)
    case '--version':
    case '-v':
      process.stdout.write(`${VERSION}\n`)
      return
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${USAGE}\n`)
      return
    default:
      if ((CLIENT_COMMANDS as readonly string[]).includes(command)) {
        process.exitCode = await runClient(command, rest)
        return
      }
      fail(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`)
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
