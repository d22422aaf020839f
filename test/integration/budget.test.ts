/**
 * The machine budget of worker threads (`--max-replicas-total`): labels keep their meaning,
 * but replicas above a function's floor start only while all functions together stay within
 * it; the rest are held back, said once in the log, in `describe` and on the dashboard.
 */
import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Runtime } from '../../src/index.js'
import { defaultBurstBudget } from '../../src/pool/budget.js'
import { startRuntime, waitFor } from '../helpers.js'

const BIN = resolve(import.meta.dirname, '../../bin/faasdev.js')

const STACK = `
functions:
  api:
    lang: javascript
    handler: ./api
    labels:
      com.openfaas.scale.max: 10
  worker:
    lang: javascript
    handler: ./api
  batch:
    lang: javascript
    handler: ./api
    labels:
      com.openfaas.scale.min: 2
      com.openfaas.scale.max: 4
`

const FILES = { 'api/handler.js': 'export default async () => new Response("ok")\n' }

async function scale(rt: Runtime, name: string, replicas: number): Promise<void> {
  const res = await fetch(`${rt.url}/system/scale-function/${name}`, { method: 'POST', body: JSON.stringify({ serviceName: name, replicas }) })
  expect(res.status).toBe(202)
}

function describeCli(url: string, name: string): Promise<string> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [BIN, 'describe', name, '--gateway', url], { env: { ...process.env, OPENFAAS_URL: '', FAASDEV_PASSWORD: '', NO_COLOR: '1' } })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c))
    child.on('error', reject)
    child.on('close', () => done(out))
  })
}

describe('machine budget of worker threads', () => {
  it('caps the threads of all functions together, holds the rest back visibly, and lets them start when threads are freed', async () => {
    const logs: string[] = []
    const rt = await startRuntime(STACK, { autoscaleIntervalMs: 0, maxReplicasTotal: 5, spareReplicas: 0, log: (l) => logs.push(l) }, FILES)
    expect(rt.stats().replicaBudget).toEqual({ total: 5, used: 4 })

    // api asks for 10 (its labels allow it), the budget leaves it 2: 1 + 2 (batch's floor) + 2 = 5.
    await scale(rt, 'api', 10)
    await waitFor(() => rt.stats().functions.api?.ready === 2, 20_000, 'api at 2 ready replicas')
    await new Promise((r) => setTimeout(r, 300))
    expect(rt.stats().functions.api).toMatchObject({ desired: 10, replicas: 2, ready: 2, heldBack: 8 })
    expect(rt.stats().replicaBudget).toEqual({ total: 5, used: 5 })
    for (let i = 0; i < 5; i++) expect((await fetch(`${rt.url}/function/api`)).status).toBe(200)

    const status = (await (await fetch(`${rt.url}/system/function/api`)).json()) as Record<string, unknown>
    expect(status).toMatchObject({ replicas: 10, availableReplicas: 2, heldBack: { replicas: 8, replicaBudget: 5 } })
    expect(await describeCli(rt.url, 'api')).toMatch(/^Held back:\s+8 replica\(s\), by the machine budget of 5 worker threads/m)
    const ui = (await (await fetch(`${rt.url}/system/ui-snapshot`)).json()) as { functions: { name: string; heldBack?: number; status: string }[] }
    expect(ui.functions.find((f) => f.name === 'api')).toMatchObject({ heldBack: 8, status: 'ready' })

    // Asked again: still capped, and said only once.
    await scale(rt, 'api', 9)
    await scale(rt, 'api', 10)
    expect(logs.filter((l) => l.includes('held back')).length).toBe(1)
    expect(logs.find((l) => l.includes('held back'))).toMatch(/^api: held back at 2 of 10 replicas by the machine budget of 5 worker threads/)

    // worker goes to zero: its thread goes to api.
    await scale(rt, 'worker', 0)
    await waitFor(() => rt.stats().functions.api?.ready === 3, 20_000, 'api to take the freed thread')
    expect(rt.stats().functions.api?.heldBack).toBe(7)

    // A floor is never held back: batch's min of 2 runs even with the budget spent.
    await scale(rt, 'batch', 4)
    await new Promise((r) => setTimeout(r, 300))
    expect(rt.stats().functions.batch).toMatchObject({ ready: 2, heldBack: 2 })
    // And a function at zero still wakes up for a call.
    expect((await fetch(`${rt.url}/function/worker`)).status).toBe(200)
  })

  it('by default allows the functions’ floors plus a burst from the cores and memory', async () => {
    expect(defaultBurstBudget(2, 8 * 1024 ** 3)).toBe(16)
    expect(defaultBurstBudget(16, 1024 ** 3)).toBe(4) // memory-bound: 512 MiB / 128 MiB
    expect(defaultBurstBudget(1, 128 * 1024 ** 2)).toBe(2)
    const rt = await startRuntime(STACK, { autoscaleIntervalMs: 0, spareReplicas: 0 }, FILES)
    // Floors: api 1, worker 1, batch 2.
    expect(rt.stats().replicaBudget.total).toBe(4 + defaultBurstBudget())
  })

  it('lets every function reach its labels when the budget allows it', async () => {
    const rt = await startRuntime(STACK, { autoscaleIntervalMs: 0, maxReplicasTotal: 20, spareReplicas: 0 }, FILES)
    await scale(rt, 'api', 10)
    await waitFor(() => rt.stats().functions.api?.ready === 10, 30_000, 'api at 10 ready replicas')
    expect(rt.stats().functions.api?.heldBack).toBeUndefined()
  })
})
