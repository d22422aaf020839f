import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createRuntime } from '../../src/index.js'
import { startRuntime, waitFor } from '../helpers.js'

const BIN = resolve(import.meta.dirname, '../../bin/faasdev.js')

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Starts the CLI as a user would (async: the gateway under test lives in this process). */
function start(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): { output: () => string; done: Promise<Run> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: { ...process.env, OPENFAAS_URL: '', FAASDEV_PASSWORD: '', NO_COLOR: '1', ...options.env },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
  child.stdin.end(options.input ?? '')
  const done = new Promise<Run>((resolvePromise, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }))
  })
  return { output: () => stdout, done }
}

const faasdev = (args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Run> => start(args, options).done

// Each command is a fresh node process: generous timeouts for a loaded machine.
const STACK = `
functions:
  echo:
    lang: typescript
    handler: @/echo
    labels:
      com.openfaas.scale.min: "2"
  chatty:
    lang: typescript
    handler: @/chatty
  slow:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 3
`

describe('client commands', () => {
  it('list, describe, invoke, scale and logs against a running gateway, for people and with --json', async () => {
    const rt = await startRuntime(STACK)
    const g = ['--gateway', rt.url]

    const invoked = await faasdev(['invoke', 'echo', ...g, '-H', 'X-Call-Id: from-cli', '--query', 'a=1', '--query', 'b=two', '--method', 'PUT'], { input: 'hello body' })
    expect(invoked.stderr).toBe('')
    expect(invoked.code).toBe(0)
    expect(JSON.parse(invoked.stdout)).toMatchObject({ method: 'PUT', query: '?a=1&b=two', body: 'hello body', callId: 'from-cli', contentType: 'text/plain' })

    // OPENFAAS_URL is the fallback for --gateway; --json gives status, call id and body.
    const asJson = await faasdev(['invoke', 'echo', '--json'], { input: 'x', env: { OPENFAAS_URL: rt.url } })
    expect(asJson.code).toBe(0)
    const parsed = JSON.parse(asJson.stdout) as { status: number; callId: string; body: string }
    expect(parsed.status).toBe(200)
    expect(JSON.parse(parsed.body)).toMatchObject({ body: 'x', callId: parsed.callId })

    const list = await faasdev(['list', ...g])
    expect(list.code).toBe(0)
    const lines = list.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^FUNCTION\s+LANG\s+INVOCATIONS\s+REPLICAS\s+INFLIGHT\s+MAX INFLIGHT\s+TRIGGERS$/)
    expect(lines.find((l) => l.startsWith('echo '))).toMatch(/^echo\s+typescript\s+2\s+2\/2\s+0\s+∞$/)
    expect(lines.find((l) => l.startsWith('slow '))).toMatch(/^slow\s+typescript\s+0\s+1\/1\s+0\s+3$/)
    const listJson = JSON.parse((await faasdev(['list', ...g, '--json'])).stdout) as { name: string; invocationCount?: number }[]
    expect(listJson.map((f) => f.name).sort()).toEqual(['chatty', 'echo', 'slow'])
    expect(listJson.find((f) => f.name === 'echo')?.invocationCount).toBe(2)

    const described = await faasdev(['describe', 'slow', ...g])
    expect(described.code).toBe(0)
    expect(described.stdout).toMatch(/^Name:\s+slow$/m)
    expect(described.stdout).toMatch(/^Status:\s+Ready$/m)
    expect(described.stdout).toMatch(/^In flight:\s+0 \(max 3\)$/m)
    expect(described.stdout).toMatch(new RegExp(`^Function URL:\\s+${rt.url}/function/slow$`, 'm'))
    expect(JSON.parse((await faasdev(['describe', 'slow.openfaas-fn', ...g, '--json'])).stdout)).toMatchObject({ name: 'slow', maxInflight: 3 })

    const missing = await faasdev(['describe', 'nope', ...g])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/describing nope: 404 .*nope/)

    const scaled = await faasdev(['scale', 'slow', '--replicas', '2', ...g])
    expect(scaled).toMatchObject({ code: 0, stdout: 'Scaled slow to 2 replica(s)\n' })
    await waitFor(() => rt.stats().functions.slow?.ready === 2, 10_000, 'two replicas')
    expect((await faasdev(['scale', 'slow', '--replicas', 'many', ...g])).code).toBe(2)

    expect((await faasdev(['invoke', 'chatty', ...g, '--query', 'say=from-client'])).stdout).toBe('from-client')
    await waitFor(() => rt.logs.tail('chatty').length === 4, 5000, 'chatty output')
    const logs = await faasdev(['logs', 'chatty', ...g, '--tail', '2'])
    expect(logs.code).toBe(0)
    const logLines = logs.stdout.trim().split('\n')
    expect(logLines).toHaveLength(2)
    for (const l of logLines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\S+ chatty-1 \| (stdout|stderr|log|error) from-client$/)
    const logsJson = (await faasdev(['logs', 'chatty', ...g, '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; text: string })
    expect(logsJson.map((m) => m.text).sort()).toEqual(['error from-client', 'log from-client', 'stderr from-client', 'stdout from-client'])

    // --follow prints new lines as they come, until the gateway goes away.
    const following = start(['logs', 'chatty', ...g, '--follow', '--tail', '1'])
    await waitFor(() => following.output().includes('from-client'), 15_000, 'the tail line')
    expect((await fetch(`${rt.url}/function/chatty?say=later`)).status).toBe(200)
    await waitFor(() => following.output().split('later').length === 5, 5000, 'four live lines')
    await rt.close()
    const followed = await following.done
    expect(followed.stderr).toBe('')
    expect(followed.code).toBe(0)
    expect(followed.stdout).toMatch(/chatty-1 \| log later/)
    expect(followed.stdout.split('\n').filter((l) => l.includes('from-client'))).toHaveLength(1)

    const down = await faasdev(['list', ...g])
    expect(down.code).toBe(1)
    expect(down.stderr).toMatch(/cannot reach the gateway at .*faasdev up/)
  }, 120_000)

  it('invoke --async submits and prints the call id; errors go to stderr with exit 1', async () => {
    const rt = await startRuntime(STACK)
    const g = ['--gateway', rt.url]
    const submitted = await faasdev(['invoke', 'echo', '--async', ...g], { input: 'later' })
    expect(submitted.code).toBe(0)
    expect(submitted.stdout).toMatch(/^Function submitted asynchronously\. Call id: [0-9a-f-]{36}\n$/)
    const badCallback = await faasdev(['invoke', 'echo', '--async', '--callback-url', 'ftp://x', ...g])
    expect(badCallback.code).toBe(1)
    expect(badCallback.stderr).toMatch(/echo: 400/)
    // Long enough calls that the CLI (a fresh node process) surely arrives while they run.
    const saturated = [1, 2, 3].map(() => fetch(`${rt.url}/function/slow?ms=8000`))
    await waitFor(() => rt.stats().functions.slow?.inflight === 3)
    const busy = await faasdev(['invoke', 'slow', ...g])
    expect(busy.code).toBe(1)
    expect(busy.stderr).toBe('faasdev invoke: slow: 429 Concurrent request limit exceeded. Max concurrent requests: 3\n')
    await Promise.all(saturated)
    expect((await faasdev(['invoke', ...g])).code).toBe(2)
    expect((await faasdev(['invoke', 'echo', '--nope', ...g])).code).toBe(2)
  }, 120_000)

  it('new prints the URL of the faasdev up serving the stack, whatever its port, and adds to the NAME.yml faas-cli wrote', async () => {
    // The folder faas-cli 0.16 `new orders --lang node20` leaves: orders.yml, no stack.yml.
    const dir = mkdtempSync(join(tmpdir(), 'faasdev-new-running-'))
    const stack = join(dir, 'orders.yml')
    writeFileSync(stack, 'version: 1.0\nprovider:\n  name: openfaas\n  gateway: http://127.0.0.1:8080\nfunctions:\n  orders:\n    lang: node20\n    handler: ./orders\n')
    mkdirSync(join(dir, 'orders'))
    writeFileSync(join(dir, 'orders/handler.js'), "'use strict'\nmodule.exports = async (event, context) => context.status(200).succeed('ok')\n")
    writeFileSync(join(dir, 'orders/package.json'), '{ "name": "orders", "version": "1.0.0", "main": "handler.js" }\n')

    const idle = await faasdev(['new', 'refunds', '--lang', 'typescript'], { cwd: dir })
    expect(idle.code).toBe(0)
    expect(idle.stdout).toContain('Added refunds (lang: typescript) to orders.yml\nRun `faasdev up`, then `faasdev invoke refunds` or curl http://127.0.0.1:8080/function/refunds\n')

    const rt = await createRuntime({ port: 0, stack, watch: true, log: () => undefined, onOutput: () => undefined })
    onTestFinished(() => rt.close())
    await rt.start()
    expect(rt.url).not.toBe('http://127.0.0.1:8080')
    const made = await faasdev(['new', 'invoices', '--lang', 'node20'], { cwd: dir })
    expect(made.stderr).toBe('')
    expect(made.stdout).toContain(`faasdev up on ${rt.url} is starting it now (hot reload): \`faasdev invoke invoices --gateway ${rt.url}\` or curl ${rt.url}/function/invoices\n`)
    expect(readFileSync(stack, 'utf8')).toContain('  invoices:\n    lang: node20\n')
    // And it is served there.
    await waitFor(async () => (await fetch(`${rt.url}/function/invoices`, { method: 'POST', body: 'hi' })).status === 200, 30_000, 'invoices to be served')
    await rt.close()
    // A closed gateway is not announced any more.
    expect((await faasdev(['new', 'credits', '--lang', 'typescript'], { cwd: dir })).stdout).toContain('Run `faasdev up`, then')
  }, 60_000)

  it('publish delivers a message to every subscriber; list and describe show triggers and the next run', async () => {
    const outputs: string[] = []
    const rt = await startRuntime(
      `
functions:
  orders:
    lang: node20
    handler: @/tpl-inbox
    annotations:
      topic: orders.created
  tick:
    lang: typescript
    handler: @/trigger-inbox
    annotations:
      topic: cron-function,orders.created
      schedule: "0 4 * * *"
  echo:
    lang: typescript
    handler: @/echo
`,
      { onOutput: (_r, _s, line) => outputs.push(line) },
    )
    const g = ['--gateway', rt.url]
    const published = await faasdev(['publish', 'orders.created', ...g, '-d', '{"id":"ord-1"}'])
    expect(published.code, published.stderr).toBe(0)
    expect(published.stdout).toMatch(/^Published to orders\.created: 2 call\(s\)$/m)
    expect(published.stdout).toMatch(/^ {2}orders {2}[0-9a-f-]{36}$/m)
    await waitFor(() => outputs.length >= 2, 15_000, 'both deliveries')
    // Sent as JSON, so the template handler got it parsed.
    expect(outputs.map((l) => JSON.parse(l) as { topic: string; order?: unknown; body?: string }).sort((a, b) => String(a.body).localeCompare(String(b.body)))).toMatchObject([
      { topic: 'orders.created', body: '{"id":"ord-1"}' },
      { topic: 'orders.created', order: { id: 'ord-1' } },
    ])
    const piped = await faasdev(['publish', 'orders.created', ...g, '--json'], { input: 'plain words' })
    expect(JSON.parse(piped.stdout)).toMatchObject({ topic: 'orders.created', calls: [{ function: 'orders' }, { function: 'tick' }] })
    const unknown = await faasdev(['publish', 'nobody.home', ...g, '-d', 'x'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/404 no function subscribes to topic "nobody\.home"/)

    const lines = (await faasdev(['list', ...g])).stdout.trim().split('\n')
    expect(lines.find((l) => l.startsWith('orders '))).toMatch(/\s{2}orders\.created$/)
    expect(lines.find((l) => l.startsWith('tick '))).toMatch(/\s{2}orders\.created, cron "0 4 \* \* \*" next (\d{4}-\d\d-\d\d )?04:00:00$/)
    expect(lines.find((l) => l.startsWith('echo '))).toMatch(/∞$/)
    const described = (await faasdev(['describe', 'tick', ...g])).stdout
    expect(described).toMatch(/^Triggers:\s+orders\.created, cron "0 4 \* \* \*"/m)
    expect(described).toMatch(/^Next run:\s+\d{4}-\d\d-\d\dT/m)
    expect((await faasdev(['describe', 'echo', ...g])).stdout).toMatch(/^Triggers:\s+<none>$/m)
    await rt.idle()
  })

  it('new scaffolds a working function and adds it to stack.yml, keeping comments', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'faasdev-new-'))
    const stack = join(dir, 'stack.yml')
    writeFileSync(stack, '# my functions\nversion: 1.0\nprovider:\n  name: openfaas\n\nfunctions:\n  # the first one\n  first:\n    lang: typescript\n    handler: ./functions/first\n')
    for (const lang of ['typescript', 'javascript', 'node20']) {
      const made = await faasdev(['new', `fn-${lang}`, '--lang', lang], { cwd: dir })
      expect(made.stderr).toBe('')
      expect(made.code).toBe(0)
      expect(made.stdout).toContain(`Added fn-${lang} (lang: ${lang}) to stack.yml`)
    }
    const text = readFileSync(stack, 'utf8')
    expect(text).toContain('# my functions')
    expect(text).toContain('# the first one')
    expect(text).toContain('  fn-typescript:\n    lang: typescript\n    handler: ./functions/fn-typescript\n')
    expect(existsSync(join(dir, 'functions/fn-node20/package.json'))).toBe(true)

    const again = await faasdev(['new', 'fn-typescript', '--lang', 'typescript'], { cwd: dir })
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/already exists/)
    expect((await faasdev(['new', 'Bad_Name'], { cwd: dir })).code).toBe(2)
    expect((await faasdev(['new', 'x', '--lang', 'go'], { cwd: dir })).code).toBe(2)

    // A fresh folder: -f names a stack file that does not exist yet.
    const fresh = mkdtempSync(join(tmpdir(), 'faasdev-new-'))
    expect((await faasdev(['new', 'hi', '-f', 'my-stack.yml'], { cwd: fresh })).code).toBe(0)

    // Every scaffolded function runs (the first one's handler does not exist: drop it).
    writeFileSync(stack, readFileSync(stack, 'utf8').replace(/ {2}# the first one\n {2}first:\n.*\n.*\n/, ''))
    const rt = await createRuntime({ stack, port: 0, watch: false, log: () => undefined, onOutput: () => undefined })
    try {
      await rt.start()
      for (const lang of ['typescript', 'javascript', 'node20']) {
        const res = await fetch(`${rt.url}/function/fn-${lang}`, { method: 'POST', body: 'ping', headers: { 'content-type': 'text/plain' } })
        expect(res.status).toBe(200)
        expect(await res.json()).toMatchObject({ received: 'ping' })
      }
    } finally {
      await rt.close()
    }
    const other = await createRuntime({ stack: join(fresh, 'my-stack.yml'), port: 0, watch: false, log: () => undefined, onOutput: () => undefined })
    try {
      await other.start()
      expect((await fetch(`${other.url}/function/hi`, { method: 'POST', body: 'yo' })).status).toBe(200)
    } finally {
      await other.close()
    }
  }, 120_000)
})
