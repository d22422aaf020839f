/**
 * Warm spare replicas: pre-started workers that belong to no function until one needs a
 * replica. A replica started from one serves its own function's env and secrets, never
 * another's, and a spare holds neither before it is assigned.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { MessageChannel } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { assignSpare } from '../../src/pool/spares.js'
import type { Runtime } from '../../src/index.js'
import { startRuntime, waitFor } from '../helpers.js'

/** What a user's handler might look at: its env, its secrets, another function's, its heap. */
const WHOAMI = `import { readFileSync } from 'node:fs'
import { getHeapStatistics } from 'node:v8'
import { threadId } from 'node:worker_threads'
const secret = (name) => { try { return readFileSync('/var/openfaas/secrets/' + name, 'utf8') } catch (err) { return err.code } }
export default async function handle() {
  return {
    thread: threadId,
    name: process.env.OPENFAAS_NAME,
    region: process.env.REGION ?? null,
    dbUrl: process.env.DB_URL ?? null,
    apiKey: secret('api-key'),
    dbPassword: secret('db-password'),
    heapMb: Math.round(getHeapStatistics().heap_size_limit / 1024 ** 2),
  }
}
`

const STACK = `
functions:
  billing:
    lang: javascript
    handler: ./whoami
    environment:
      DB_URL: postgres://billing@db/billing
    secrets: [db-password]
  geo:
    lang: javascript
    handler: ./whoami
    environment:
      REGION: eu-west-1
    secrets: [api-key]
`

const SMALL = `${STACK}  small:
    lang: javascript
    handler: ./whoami
    limits:
      memory: 64Mi
`

const FILES = { 'whoami/handler.js': WHOAMI, '.secrets/db-password': 'hunter2', '.secrets/api-key': 'k-42' }

async function scale(rt: Runtime, name: string, replicas: number): Promise<void> {
  const res = await fetch(`${rt.url}/system/scale-function/${name}`, { method: 'POST', body: JSON.stringify({ serviceName: name, replicas }) })
  expect(res.status).toBe(202)
  await waitFor(() => rt.stats().functions[name]?.ready === replicas, 20_000, `${name} at ${replicas} ready replicas`)
}

/** Calls a function until `threads` different replicas have answered; returns their answers. */
async function answers(rt: Runtime, name: string, threads: number): Promise<Record<string, unknown>[]> {
  const seen = new Map<unknown, Record<string, unknown>>()
  await waitFor(async () => {
    const res = await fetch(`${rt.url}/function/${name}`)
    expect(res.status).toBe(200)
    const body = (await res.json()) as Record<string, unknown>
    seen.set(body.thread, body)
    return seen.size >= threads
  }, 20_000, `${threads} replicas of ${name} answering`)
  return [...seen.values()]
}

describe('spare replicas', () => {
  it('keeps a spare ready, starts replicas from it, and each gets only its own function’s env and secrets', async () => {
    const rt = await startRuntime(STACK, { autoscaleIntervalMs: 0 }, FILES)
    await waitFor(() => rt.stats().spares.ready === 1, 20_000, 'a spare to be ready')
    expect(rt.stats().spares).toMatchObject({ ready: 1, size: 1, taken: 0 })
    const metrics = await (await fetch(`${rt.url}/metrics`)).text()
    expect(metrics).toMatch(/^faasdev_spare_replicas\{state="ready"\} 1$/m)

    await scale(rt, 'billing', 2)
    expect(rt.stats().spares.taken).toBe(1)
    for (const a of await answers(rt, 'billing', 2)) {
      expect(a).toMatchObject({ name: 'billing', dbUrl: 'postgres://billing@db/billing', region: null, dbPassword: 'hunter2', apiKey: 'ENOENT' })
    }

    // The spare taken is replaced in the background; the next function's replica starts from the new one.
    await waitFor(() => rt.stats().spares.ready === 1, 20_000, 'the spare to be replaced')
    await scale(rt, 'geo', 2)
    expect(rt.stats().spares.taken).toBe(2)
    for (const a of await answers(rt, 'geo', 2)) {
      expect(a).toMatchObject({ name: 'geo', region: 'eu-west-1', dbUrl: null, apiKey: 'k-42', dbPassword: 'ENOENT' })
    }
    const after = await (await fetch(`${rt.url}/metrics`)).text()
    expect(after).toMatch(/^faasdev_spare_replicas_taken_total 2$/m)
  })

  it('keeps spares per heap size in use: a function with limits.memory starts from a spare with its heap limit', async () => {
    const rt = await startRuntime(SMALL, { autoscaleIntervalMs: 0 }, FILES)
    // A default-heap spare cannot serve a 64Mi function: its first replica asked for spares of that size.
    await waitFor(() => rt.stats().spares.ready === 2, 20_000, 'a default and a 64Mi spare')
    await scale(rt, 'small', 2)
    expect(rt.stats().spares.taken).toBe(1)
    const all = await answers(rt, 'small', 2)
    // V8 adds the young generation to the old-space limit; the default heap is gigabytes.
    for (const a of all) expect(a.heapMb as number).toBeLessThan(200)
    // The default-heap spare is still there for the others.
    await scale(rt, 'geo', 2)
    expect(rt.stats().spares.taken).toBe(2)

    // No function has a 64Mi limit any more: its spares stop, the default one stays.
    writeFileSync(rt.config.file, STACK)
    await rt.reload()
    await waitFor(() => {
      const s = rt.stats().spares
      return s.ready === 1 && s.starting === 0
    }, 20_000, () => `only the default spare to remain (${JSON.stringify(rt.stats().spares)})`)
  })

  it('holds no function’s env, secrets or data before it is assigned', async () => {
    const rt = await startRuntime(STACK, { autoscaleIntervalMs: 0 }, FILES)
    await scale(rt, 'billing', 2)
    await waitFor(() => rt.stats().spares.ready === 1, 20_000, 'a spare made after billing ran')
    const spare = rt.spares.take()
    expect(spare).toBeDefined()
    if (!spare) return
    // A probe that reports what the thread holds when it is handed a function (here, none).
    const dir = mkdtempSync(join(tmpdir(), 'faasdev-probe-'))
    writeFileSync(
      join(dir, 'probe.mjs'),
      `import { existsSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
parentPort.postMessage({ t: 'probe', workerData: workerData ?? null, env: { ...process.env }, secretsDir: existsSync('/var/openfaas/secrets') })
`,
    )
    const report = new Promise<Record<string, unknown>>((resolve) => spare.on('message', (m: Record<string, unknown>) => m.t === 'probe' && resolve(m)))
    const answers = new MessageChannel()
    assignSpare(spare, { data: { functionName: 'probe', replicaName: 'probe-1', style: 'fetch', lang: 'javascript', secrets: {}, answers: answers.port2, answered: new SharedArrayBuffer(4) }, env: { PROBE: '1' }, url: pathToFileURL(join(dir, 'probe.mjs')).href })
    try {
      expect(await report).toEqual({ t: 'probe', workerData: null, env: { PROBE: '1' }, secretsDir: false })
    } finally {
      await spare.terminate()
      answers.port1.close()
    }
  })

  it('reports a handler that throws while loading in a replica started from a spare, as for any replica', async () => {
    // Throws at load once a flag file exists: the first replica loads, the next one does not.
    const flaky = `import { existsSync } from 'node:fs'
if (existsSync(process.env.BROKEN_FLAG)) throw new Error('cannot connect to the database at load')
export default async () => 'ok'
`
    const flag = join(mkdtempSync(join(tmpdir(), 'faasdev-flag-')), 'broken')
    const rt = await startRuntime(`functions:\n  flaky:\n    lang: javascript\n    handler: ./flaky\n    environment:\n      BROKEN_FLAG: ${flag}\n`, { autoscaleIntervalMs: 0 }, { 'flaky/handler.js': flaky })
    await waitFor(() => rt.stats().spares.ready === 1, 20_000, 'a spare to be ready')
    writeFileSync(flag, '')
    const res = await fetch(`${rt.url}/system/scale-function/flaky`, { method: 'POST', body: JSON.stringify({ serviceName: 'flaky', replicas: 2 }) })
    expect(res.status).toBe(202)
    await waitFor(() => /cannot connect to the database at load/.test(rt.stats().functions.flaky?.lastError ?? ''), 20_000, 'the load error to be reported')
    expect(rt.stats().spares.taken).toBeGreaterThanOrEqual(1)
    // The replica that loaded keeps serving.
    expect(await (await fetch(`${rt.url}/function/flaky`)).text()).toBe('ok')
  })

  it('starts no spare with --spare-replicas 0, and replicas still start', async () => {
    const rt = await startRuntime(STACK, { autoscaleIntervalMs: 0, spareReplicas: 0 }, FILES)
    await scale(rt, 'geo', 2)
    await answers(rt, 'geo', 2)
    expect(rt.stats().spares).toEqual({ ready: 0, starting: 0, size: 0, taken: 0 })
  })
})
