/**
 * A call that is alone in flight is waited for by polling the replica's result port, not by
 * sleeping until its message wakes the gateway. These check what that must not change: the
 * answer, whichever way it arrives; an answer sent just before the replica ends; and calls
 * that are not alone or not light.
 */
import { describe, expect, it } from 'vitest'
import type { Runtime } from '../../src/index.js'
import { startRuntime, waitFor } from '../helpers.js'

const STACK = `version: 1.0
provider:
  name: openfaas
functions:
  one-shot:
    lang: node20
    handler: ./one-shot
  counter:
    lang: node20
    handler: ./counter
  resize:
    lang: node20
    handler: ./resize
`

// A job runner written as a one-shot script: it answers, then ends its process.
const ONE_SHOT = `module.exports = async (event, context) => {
  setImmediate(() => process.exit(0))
  return context.status(200).succeed({ done: event.query.job })
}
`

// Counts its calls in module state (one count per replica).
const COUNTER = `let calls = 0

module.exports = async (event, context) => {
  calls++
  return context.status(200).headers({ 'x-calls': String(calls) }).succeed(event.body)
}
`

// Takes a few ms of CPU per call, longer than a lone call is polled for.
const RESIZE = `module.exports = async (event, context) => {
  const until = performance.now() + 3
  let px = 0
  while (performance.now() < until) px++
  return context.status(200).succeed({ width: Number(event.query.w), px: px > 0 })
}
`

const FILES = {
  'one-shot/handler.js': ONE_SHOT,
  'one-shot/package.json': '{"name":"one-shot","version":"1.0.0"}',
  'counter/handler.js': COUNTER,
  'counter/package.json': '{"name":"counter","version":"1.0.0"}',
  'resize/handler.js': RESIZE,
  'resize/package.json': '{"name":"resize","version":"1.0.0"}',
}

/** How often one-shot's replica ended and was replaced, from /metrics. */
async function restarts(rt: Runtime): Promise<number> {
  const text = await (await fetch(`${rt.url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith('faasdev_replica_restarts_total{') && l.includes('function_name="one-shot.openfaas-fn"'))
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0
}

describe('a call alone in flight', () => {
  it('gets the answer a replica sent just before it exited, not a 502', async () => {
    const rt = await startRuntime(STACK, { autoscaleIntervalMs: 0 }, FILES)
    for (let job = 1; job <= 5; job++) {
      // Each call meets a new replica: the previous one ended itself.
      await waitFor(async () => (await restarts(rt)) === job - 1 && rt.stats().functions['one-shot']?.ready === 1, 10_000, `replica ${job} of one-shot`)
      const res = await fetch(`${rt.url}/function/one-shot?job=${job}`)
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ done: String(job) })
    }
  })

  it('answers light calls one after another, and light calls in parallel, each with its own body', async () => {
    const rt = await startRuntime(STACK, { autoscaleIntervalMs: 0 }, FILES)
    for (let i = 1; i <= 50; i++) {
      const res = await fetch(`${rt.url}/function/counter`, { method: 'POST', body: `order-${i}` })
      expect(res.status).toBe(200)
      expect(res.headers.get('x-calls')).toBe(String(i))
      expect(await res.text()).toBe(`order-${i}`)
    }
    const parallel = await Promise.all(Array.from({ length: 30 }, (_, i) => fetch(`${rt.url}/function/counter`, { method: 'POST', body: `batch-${i}` }).then((r) => r.text())))
    expect(parallel).toEqual(Array.from({ length: 30 }, (_, i) => `batch-${i}`))
  })

  it('answers calls that take longer than the poll, alone and beside light ones', async () => {
    const rt = await startRuntime(STACK, { autoscaleIntervalMs: 0 }, FILES)
    for (let w = 1; w <= 5; w++) expect(await (await fetch(`${rt.url}/function/resize?w=${w}`)).json()).toEqual({ width: w, px: true })
    const mixed = await Promise.all([
      fetch(`${rt.url}/function/resize?w=640`).then((r) => r.json()),
      fetch(`${rt.url}/function/counter`, { method: 'POST', body: 'beside' }).then((r) => r.text()),
    ])
    expect(mixed).toEqual([{ width: 640, px: true }, 'beside'])
  })
})
