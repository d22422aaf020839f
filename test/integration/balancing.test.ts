/**
 * How calls are shared among the replicas of a function without `max_inflight`: calls that
 * arrive together and are light go to one replica as one message; a caller's successive calls
 * still rotate over the replicas; calls that keep a replica busy are spread.
 */
import { describe, expect, it } from 'vitest'
import type { Runtime } from '../../src/index.js'
import { startRuntime } from '../helpers.js'

const STACK = `version: 1.0
provider:
  name: openfaas
functions:
  whoami:
    lang: node20
    handler: ./whoami
    labels:
      com.openfaas.scale.min: "2"
      com.openfaas.scale.max: "2"
  render:
    lang: node20
    handler: ./render
    labels:
      com.openfaas.scale.min: "2"
      com.openfaas.scale.max: "2"
`

// Says which instance answered, as a handler returning a pod's hostname would on OpenFaaS:
// module state is one per replica.
const WHOAMI = `const { randomUUID } = require('node:crypto')
const instance = randomUUID()

module.exports = async (event, context) => {
  return context.status(200).succeed({ instance, path: event.path })
}
`

// CPU-bound work (a report rendered in process): holds its replica's event loop for 40 ms.
const RENDER = `const { randomUUID } = require('node:crypto')
const instance = randomUUID()

module.exports = async (event, context) => {
  const until = performance.now() + 40
  let rows = 0
  while (performance.now() < until) rows++
  return context.status(200).succeed({ instance, rows })
}
`

const FILES = { 'whoami/handler.js': WHOAMI, 'whoami/package.json': '{"name":"whoami","version":"1.0.0"}', 'render/handler.js': RENDER, 'render/package.json': '{"name":"render","version":"1.0.0"}' }

async function instanceOf(res: Response): Promise<string> {
  expect(res.status).toBe(200)
  return ((await res.json()) as { instance: string }).instance
}

/** One caller's successive calls over HTTP. */
async function sequential(rt: Runtime, name: string, count: number): Promise<string[]> {
  const seen: string[] = []
  for (let i = 0; i < count; i++) seen.push(await instanceOf(await fetch(`${rt.url}/function/${name}`)))
  return seen
}

describe('sharing calls among replicas (no max_inflight)', () => {
  it('a caller’s successive calls rotate over the replicas; light calls arriving together go to one replica', async () => {
    const rt = await startRuntime(STACK, { autoscaleIntervalMs: 0 }, FILES)
    // Each call is alone in its event-loop turn: they alternate, as a Service spreads a client's calls.
    expect(new Set(await sequential(rt, 'whoami', 6)).size).toBe(2)

    // Twenty calls taken in one turn of the gateway's event loop (as under load): one replica
    // takes them all, in one message, rather than two half batches.
    const together = await Promise.all(
      Array.from({ length: 20 }, (_, i) => rt.router.invoke('whoami', { method: 'GET', path: `/orders/${i}`, headers: { host: 'localhost' }, body: null, callId: `together-${i}` })),
    )
    const answers = together.map((r) => JSON.parse(new TextDecoder().decode(r.body)) as { instance: string; path: string })
    expect(answers.map((a) => a.path)).toEqual(Array.from({ length: 20 }, (_, i) => `/orders/${i}`))
    expect(new Set(answers.map((a) => a.instance)).size).toBe(1)

    // The next caller's call, in a later turn, may reach the other replica again.
    expect(new Set(await sequential(rt, 'whoami', 4)).size).toBe(2)
  })

  it('calls that keep a replica busy are spread over the replicas, even when they arrive together', async () => {
    const rt = await startRuntime(STACK, { autoscaleIntervalMs: 0 }, FILES)
    await sequential(rt, 'render', 4)
    const burst = await Promise.all(Array.from({ length: 4 }, () => fetch(`${rt.url}/function/render`).then(instanceOf)))
    expect(new Set(burst).size).toBe(2)
    const inOneTurn = await Promise.all(
      Array.from({ length: 4 }, (_, i) => rt.router.invoke('render', { method: 'GET', path: '/', headers: { host: 'localhost' }, body: null, callId: `render-${i}` })),
    )
    expect(new Set(inOneTurn.map((r) => (JSON.parse(new TextDecoder().decode(r.body)) as { instance: string }).instance)).size).toBe(2)
  })
})
