/**
 * `faasdev up --queue jetstream` end to end, as real processes (`node bin/faasdev.js`, built
 * by the global setup) against a real nats-server: kill -9 with accepted calls in flight and
 * a restart on the same data dir, two instances sharing one server, dead letters and call
 * status outliving a kill -9, a call outliving the ack wait, a full stream, and a missing binary.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { describe, expect, it, onTestFinished } from 'vitest'
import { waitFor, writeStack } from '../helpers.js'
import { SKIP_NATS, useNatsServer } from '../nats-helper.js'

const ROOT = resolve(import.meta.dirname, '../..')
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Sleeps `?ms=` then answers with the pid of the faasdev process that ran it. */
const WORK_HANDLER = `export default async function handle(req) {
  const ms = Number(new URL(req.url).searchParams.get('ms') ?? 20)
  await new Promise((r) => setTimeout(r, ms))
  return String(process.pid)
}
`

/** WORK_HANDLER that also appends the call id of each run to `runsFile`, so runs can be counted apart from callbacks. */
const recordingHandler = (runsFile: string): string => `import { appendFileSync } from 'node:fs'
export default async function handle(req) {
  const ms = Number(new URL(req.url).searchParams.get('ms') ?? 20)
  await new Promise((r) => setTimeout(r, ms))
  appendFileSync(${JSON.stringify(runsFile)}, req.headers.get('x-call-id') + '\\n')
  return String(process.pid)
}
`

function stackFile(labels: Record<string, string | number> = {}, maxInflight = 0, handler = WORK_HANDLER): string {
  const labelLines = Object.entries(labels).map(([k, v]) => `      com.openfaas.scale.${k}: "${v}"`)
  return writeStack(
    [
      'version: 1.0',
      'provider:',
      '  name: openfaas',
      'functions:',
      '  work:',
      '    lang: javascript',
      '    handler: ./work',
      ...(maxInflight ? ['    environment:', `      max_inflight: "${maxInflight}"`] : []),
      ...(labelLines.length ? ['    labels:', ...labelLines] : []),
      '',
    ].join('\n'),
    { 'work/handler.js': handler },
  )
}

interface Faasdev {
  child: ChildProcess
  url: string
  output: () => string
  exited: Promise<number | null>
}

function spawnFaasdev(args: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'faasdev.js'), 'up', '--port', '0', '--no-watch', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c))
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (out += c))
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(t)
    }
  })
  return { child, output: () => out, exited }
}

async function startFaasdev(args: string[]): Promise<Faasdev> {
  const f = spawnFaasdev(args)
  let url = ''
  await waitFor(
    () => {
      if (f.child.exitCode !== null) throw new Error(`faasdev exited early:\n${f.output()}`)
      url = /gateway listening on (http:\/\/\S+)/.exec(f.output())?.[1] ?? ''
      return url !== ''
    },
    60_000,
    'faasdev to listen',
  )
  return { ...f, url }
}

/** Records every callback: call id → bodies received (the pid of the instance that ran it). */
async function callbackReceiver(): Promise<{ url: string; calls: Map<string, string[]>; total: () => number }> {
  const calls = new Map<string, string[]>()
  let total = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const id = String(req.headers['x-call-id'])
      calls.set(id, [...(calls.get(id) ?? []), Buffer.concat(chunks).toString()])
      total++
      res.end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  onTestFinished(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  const addr = server.address()
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/cb`, calls, total: () => total }
}

/** Submits `ids` as async calls, `concurrency` at a time; returns the HTTP statuses. */
async function submitAll(base: string, ids: string[], callbackUrl: string, query = '', concurrency = 50): Promise<number[]> {
  const statuses: number[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ids.length) {
        const id = ids[next++] as string
        const res = await fetch(`${base}/async-function/work${query}`, { method: 'POST', headers: { 'X-Call-Id': id, 'X-Callback-Url': callbackUrl }, body: id })
        statuses.push(res.status)
      }
    }),
  )
  return statuses
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'faasdev-e2e-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

describe.skipIf(SKIP_NATS)('faasdev up --queue jetstream (owned nats-server)', () => {
  it('kill -9 with 1,000 accepted calls partly done: after a restart on the same data dir every call runs and is called back', { timeout: 180_000 }, async () => {
    const dataDir = tempDir()
    const runsFile = join(dataDir, 'runs.txt')
    const stack = stackFile({ min: 2, max: 2 }, 5, recordingHandler(runsFile))
    const cb = await callbackReceiver()
    const args = ['-f', stack, '--queue', 'jetstream', '--data-dir', dataDir, '--ack-wait', '3s']
    const first = await startFaasdev(args)
    const ids = Array.from({ length: 1000 }, (_, i) => `kill9-${i}`)
    const statuses = await submitAll(first.url, ids, cb.url, '?ms=30')
    expect(statuses.filter((s) => s === 202).length).toBe(1000)
    await waitFor(() => cb.calls.size >= 150, 60_000, '150 callbacks')
    const natsPid = Number(readFileSync(join(dataDir, 'nats', 'nats-server.pid'), 'utf8'))
    first.child.kill('SIGKILL')
    await first.exited
    const doneBeforeKill = cb.calls.size
    expect(doneBeforeKill).toBeLessThan(1000)

    const second = await startFaasdev(args)
    // The nats-server the killed faasdev left running was stopped, not reused or left behind.
    expect(isAlive(natsPid)).toBe(false)
    const runs = (): string[] => (existsSync(runsFile) ? readFileSync(runsFile, 'utf8').split('\n').filter(Boolean) : [])
    // JetStream's guarantee: every accepted call runs at least once.
    await waitFor(() => new Set(runs()).size === 1000 && ids.every((id) => cb.calls.has(id)), 120_000, "every call id to run and be called back")
    await waitFor(async () => (await (await fetch(`${second.url}/system/queue`)).json() as { functions: { pending: number; inflight: number }[] }).functions.every((f) => f.pending === 0 && f.inflight === 0), 30_000, 'an empty queue')
    await sleep(1000)
    const ran = runs()
    const notCalledBack = ids.filter((id) => !cb.calls.has(id))
    console.log(
      `kill -9 test: ${doneBeforeKill} calls called back before the kill; after the restart ${new Set(ran).size} ran (${ran.length - new Set(ran).size} ran twice), ` +
        `${cb.calls.size} called back (${cb.total() - cb.calls.size} duplicate callbacks, ${notCalledBack.length} without callback: ${notCalledBack.join(' ')})`,
    )
    expect(new Set(ran)).toEqual(new Set(ids))
    // The queue-worker sends the callback before it acknowledges: every call id is called back.
    expect(notCalledBack).toEqual([])
    expect([...cb.calls.keys()].every((id) => ids.includes(id))).toBe(true)

    // A graceful stop stops the owned server after the queue drained.
    const ownPid = Number(readFileSync(join(dataDir, 'nats', 'nats-server.pid'), 'utf8'))
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
    expect(isAlive(ownPid)).toBe(false)
  })

  it('a call running 3x longer than the ack wait is not redelivered', { timeout: 60_000 }, async () => {
    const cb = await callbackReceiver()
    const f = await startFaasdev(['-f', stackFile(), '--queue', 'jetstream', '--data-dir', tempDir(), '--ack-wait', '1s'])
    const res = await fetch(`${f.url}/async-function/work?ms=3200`, { method: 'POST', headers: { 'X-Call-Id': 'long-1', 'X-Callback-Url': cb.url } })
    expect(res.status).toBe(202)
    await waitFor(() => cb.total() >= 1, 30_000, 'the callback')
    // Twice the ack wait more: a redelivery would have produced a second call and callback.
    await sleep(2500)
    expect(cb.total()).toBe(1)
    const status = (await (await fetch(`${f.url}/system/async-function/long-1`)).json()) as { attempts?: number; status?: string }
    expect(status.status).toBe('succeeded')
    expect(status.attempts).toBe(1)
  })

  it('answers 429 with Retry-After at submit when the stream is full, and runs every accepted call', { timeout: 60_000 }, async () => {
    const cb = await callbackReceiver()
    const f = await startFaasdev(['-f', stackFile({ min: 1, max: 1 }, 1), '--queue', 'jetstream', '--data-dir', tempDir(), '--queue-max-messages', '5'])
    const accepted: string[] = []
    let refused = 0
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${f.url}/async-function/work?ms=1000`, { method: 'POST', headers: { 'X-Call-Id': `full-${i}`, 'X-Callback-Url': cb.url } })
      if (res.status === 202) accepted.push(`full-${i}`)
      else {
        expect(res.status).toBe(429)
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
        refused++
      }
    }
    expect(accepted.length).toBe(5)
    expect(refused).toBe(7)
    await waitFor(() => accepted.every((id) => cb.calls.has(id)), 30_000, 'the accepted calls')
    expect(cb.total()).toBe(5)
  })

  it('exits 2 with how to get nats-server when there is none', { timeout: 60_000 }, async () => {
    const f = spawnFaasdev(['-f', stackFile(), '--queue', 'jetstream', '--data-dir', tempDir()], { ...process.env, NATS_SERVER_BIN: '/nonexistent/nats-server' })
    expect(await f.exited).toBe(2)
    expect(f.output()).toMatch(/apt-get install nats-server/)
    expect(f.output()).toMatch(/brew install nats-server/)
  })
})

/** A function whose upstream is down (503) for calls with `?fail` until `recovered` exists; one attempt, then dead-lettered. */
function flakyStack(recovered: string): string {
  return writeStack(
    [
      'version: 1.0',
      'provider:',
      '  name: openfaas',
      'functions:',
      '  orders:',
      '    lang: javascript',
      '    handler: ./orders',
      '    annotations:',
      '      com.openfaas.retry.attempts: "1"',
      '',
    ].join('\n'),
    {
      'orders/handler.js': `import { existsSync } from 'node:fs'
export default async function handle(req) {
  if (new URL(req.url).searchParams.has('fail') && !existsSync(${JSON.stringify(recovered)})) {
    return new Response('payment service unavailable', { status: 503 })
  }
  return { order: await req.text(), by: process.pid }
}
`,
    },
  )
}

describe.skipIf(SKIP_NATS)('two faasdev instances on one NATS server', () => {
  const nats = useNatsServer()

  it('refuses (exit 2) a work stream an older tool made with another retention, saying how to get out of it', { timeout: 60_000 }, async () => {
    const nc = await connect({ servers: nats.url })
    onTestFinished(() => nc.close())
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: 'OF_legacy', subjects: ['legacy.*'], retention: RetentionPolicy.Limits, storage: StorageType.File })
    const f = spawnFaasdev(['-f', stackFile(), '--queue', 'jetstream', '--nats-url', nats.url, '--queue-name', 'legacy', '--data-dir', tempDir()])
    expect(await f.exited).toBe(2)
    expect(f.output()).toMatch(/stream OF_legacy \(the async work queue\).*retention limits \(faasdev needs workqueue\)/)
    expect(f.output()).toMatch(/nats stream rm OF_legacy/)
    // Refused, not changed: the stream and its settings are as they were.
    expect((await jsm.streams.info('OF_legacy')).config.retention).toBe(RetentionPolicy.Limits)
  })

  it('dead letters, call status and replay survive kill -9 and a restart, and every instance sees them', { timeout: 120_000 }, async () => {
    const recovered = join(tempDir(), 'recovered')
    const cb = await callbackReceiver()
    const args = ['-f', flakyStack(recovered), '--queue', 'jetstream', '--nats-url', nats.url, '--queue-name', 'durable']
    const first = await startFaasdev([...args, '--data-dir', tempDir()])
    const post = (base: string, path: string, id: string): Promise<Response> => fetch(`${base}/async-function/orders${path}`, { method: 'POST', headers: { 'X-Call-Id': id, 'X-Callback-Url': cb.url }, body: `order ${id}` })
    expect((await post(first.url, '', 'paid-1')).status).toBe(202)
    expect((await post(first.url, '?fail=1', 'unpaid-1')).status).toBe(202)
    await waitFor(() => cb.calls.has('paid-1') && cb.calls.has('unpaid-1'), 30_000, 'both callbacks')
    await waitFor(async () => ((await (await fetch(`${first.url}/system/queue/dead-letters`)).json()) as unknown[]).length === 1, 10_000, 'the dead letter')
    // Both calls acknowledged (nothing left to redeliver), then killed.
    await waitFor(async () => ((await (await fetch(`${first.url}/system/queue`)).json()) as { functions: { pending: number; inflight: number }[] }).functions.every((f) => f.pending === 0 && f.inflight === 0), 10_000, 'both calls settled')
    first.child.kill('SIGKILL')
    await first.exited

    const a = await startFaasdev([...args, '--data-dir', tempDir()])
    const b = await startFaasdev([...args, '--data-dir', tempDir()])
    for (const f of [a, b]) {
      expect(await (await fetch(`${f.url}/system/async-function/paid-1`)).json()).toMatchObject({ callId: 'paid-1', function: 'orders', status: 'succeeded', attempts: 1, lastStatus: 200, callback: { status: 200 } })
      expect(await (await fetch(`${f.url}/system/async-function/unpaid-1`)).json()).toMatchObject({ status: 'dead-lettered', attempts: 1, lastStatus: 503 })
      const letters = (await (await fetch(`${f.url}/system/queue/dead-letters?function=orders`)).json()) as Record<string, unknown>[]
      expect(letters).toEqual([expect.objectContaining({ callId: 'unpaid-1', function: 'orders', path: '/?fail=1', lastStatus: 503, lastBody: 'payment service unavailable' })])
    }

    // The payment service is back: replayed through B, run by either, seen by both.
    writeFileSync(recovered, '')
    expect((await fetch(`${b.url}/system/queue/dead-letters/unpaid-1/retry`, { method: 'POST' })).status).toBe(202)
    await waitFor(() => (cb.calls.get('unpaid-1') ?? []).some((body) => body.includes('"order":"order unpaid-1"')), 30_000, 'the replayed call back')
    for (const f of [a, b]) {
      await waitFor(async () => ((await (await fetch(`${f.url}/system/async-function/unpaid-1`)).json()) as { status: string }).status === 'succeeded', 10_000, 'succeeded on both')
      expect(await (await fetch(`${f.url}/system/queue/dead-letters`)).json()).toEqual([])
    }
    for (const f of [a, b]) {
      f.child.kill('SIGTERM')
      expect(await f.exited).toBe(0)
    }
  })

  it('share 1,000 calls submitted to one of them: both run calls, each call exactly once', { timeout: 120_000 }, async () => {
    const cb = await callbackReceiver()
    const stack = stackFile({ min: 2, max: 2 }, 4)
    const args = ['-f', stack, '--queue', 'jetstream', '--nats-url', nats.url, '--queue-name', 'shared']
    const a = await startFaasdev([...args, '--data-dir', tempDir()])
    const b = await startFaasdev([...args, '--data-dir', tempDir()])
    const ids = Array.from({ length: 1000 }, (_, i) => `shared-${i}`)
    const statuses = await submitAll(a.url, ids, cb.url, '?ms=20')
    expect(statuses.filter((s) => s === 202).length).toBe(1000)
    await waitFor(() => cb.calls.size === 1000, 90_000, 'every callback')
    await sleep(1500)
    expect(cb.total()).toBe(1000)
    const byPid = new Map<string, number>()
    for (const bodies of cb.calls.values()) for (const pid of bodies) byPid.set(pid, (byPid.get(pid) ?? 0) + 1)
    expect([...byPid.keys()].sort()).toEqual([String(a.child.pid), String(b.child.pid)].sort())
    console.log(`two instances: ${[...byPid.values()].join(' + ')} calls`)
    for (const f of [a, b]) {
      f.child.kill('SIGTERM')
      expect(await f.exited).toBe(0)
    }
  })
})
