/**
 * Triggers as the OpenFaaS connectors run them: a schedule (cron-connector) and topics
 * (`/system/publish`, and the nats-connector's NATS subjects with JetStream) invoke functions
 * through the async path, so triggered calls are queued, retried and counted like any other.
 */
import { writeFileSync } from 'node:fs'
import { connect, headers as natsHeaders } from '@nats-io/transport-node'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { Runtime, RuntimeOptions } from '../../src/index.js'
import { startRuntime, waitFor } from '../helpers.js'
import { SKIP_NATS, useNatsServer } from '../nats-helper.js'

interface Seen {
  fn: string
  callId?: string
  topic: string | null
  contentType?: string | null
  body?: string
  bodyType?: string
  order?: unknown
  at?: number
}

/** Starts a runtime and collects what its handlers log (one JSON line per call they handle). */
async function start(yaml: string, options: RuntimeOptions = {}): Promise<{ rt: Runtime; seen: Seen[] }> {
  const seen: Seen[] = []
  const rt = await startRuntime(yaml, {
    ...options,
    onOutput: (_replica, _stream, line) => {
      if (line.startsWith('{')) seen.push(JSON.parse(line) as Seen)
    },
  })
  return { rt, seen }
}

const count = (seen: Seen[], fn: string): number => seen.filter((s) => s.fn === fn).length

async function metric(rt: Runtime, line: string): Promise<number | undefined> {
  const text = await (await fetch(`${rt.url}/metrics`)).text()
  const found = text.split('\n').find((l) => l.startsWith(`${line} `))
  return found === undefined ? undefined : Number(found.split(' ')[1])
}

const TOPICS = `
functions:
  billing:
    lang: typescript
    handler: @/trigger-inbox
    annotations:
      topic: orders.created
  shipping:
    lang: typescript
    handler: @/trigger-inbox
    annotations:
      topic: "warehouse.restocked, orders.created"
  audit:
    lang: typescript
    handler: @/trigger-inbox
    annotations:
      topic: warehouse.restocked
  tpl-inbox:
    lang: node20
    handler: @/tpl-inbox
    annotations:
      topic: orders.created
  plain:
    lang: typescript
    handler: @/trigger-inbox
`

/** A function on an `@every 1s` schedule. */
const EVERY_SECOND = `
functions:
  tick:
    lang: typescript
    handler: @/trigger-inbox
    annotations:
      topic: cron-function
      schedule: "@every 1s"
`

const ORDER = { id: 'ord-42', items: [{ sku: 'tea', qty: 2 }] }

describe('schedules', () => {
  it('an @every 1s schedule invokes its function about every second, through the async queue', async () => {
    const { rt, seen } = await start(EVERY_SECOND)
    const started = Date.now()
    await waitFor(() => count(seen, 'tick') >= 3, 15_000, () => `3 scheduled calls, got ${count(seen, 'tick')}`)
    const ticks = seen.filter((s) => s.fn === 'tick')
    // The cron-connector's request: a POST with no body, X-Topic naming its topic.
    expect(ticks.every((t) => t.topic === 'cron-function' && t.body === '')).toBe(true)
    expect(new Set(ticks.map((t) => t.callId)).size).toBe(ticks.length)
    // On time, with room for a loaded machine: the first within ~1s, then about a second apart.
    expect((ticks[0]?.at ?? 0) - started).toBeLessThan(4000)
    for (let i = 1; i < 3; i++) {
      const gap = (ticks[i]?.at ?? 0) - (ticks[i - 1]?.at ?? 0)
      expect(gap).toBeGreaterThan(300)
      expect(gap).toBeLessThan(3000)
    }
    // Through the queue: each one was an async call the queue-worker took and finished.
    const record = await rt.queueWorker.status(ticks[0]?.callId ?? '')
    expect(record).toMatchObject({ function: 'tick', status: 'succeeded', attempts: 1, lastStatus: 200 })
    expect(await metric(rt, 'faasdev_trigger_fired_total{function_name="tick.openfaas-fn",topic="cron-function"}')).toBeGreaterThanOrEqual(3)
    expect(await metric(rt, 'queue_worker_messages_processed_total{queue_name="faas-request"}')).toBeGreaterThanOrEqual(3)

    const [next] = (await (await fetch(`${rt.url}/system/triggers`)).json()) as { name: string; schedule: string; nextRun: string }[]
    expect(next).toMatchObject({ name: 'tick', topics: ['cron-function'], schedule: '@every 1s' })
    expect(Math.abs(Date.parse(next?.nextRun ?? '') - Date.now())).toBeLessThan(3000)
  })

  it('a run that comes round while the previous one still runs is queued, not dropped', async () => {
    const { rt, seen } = await start(`
functions:
  report:
    lang: typescript
    handler: @/trigger-inbox
    environment:
      max_inflight: 1
      work_ms: 2500
    labels:
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "1"
    annotations:
      topic: cron-function
      schedule: "@every 1s"
`, { graceMs: 200 })
    // Three runs due while the first one still works: they wait in the queue.
    await waitFor(() => rt.queueWorker.stats().some((q) => q.name === 'report' && q.pending >= 1 && q.inflight === 1), 15_000, () => `a queued run behind a running one, got ${JSON.stringify(rt.queueWorker.stats())}`)
    await waitFor(() => count(seen, 'report') >= 2, 20_000, 'two runs done')
    const runs = seen.filter((s) => s.fn === 'report')
    // One at a time (max_inflight 1), each a distinct scheduled call.
    expect((runs[1]?.at ?? 0) - (runs[0]?.at ?? 0)).toBeGreaterThanOrEqual(2000)
    expect(rt.queueWorker.counters.submitted).toBeGreaterThan(count(seen, 'report'))
  })

  it('trigger(name) submits the scheduled call now; a failing run is retried like any async call', async () => {
    const log: string[] = []
    const { rt, seen } = await start(`
functions:
  nightly:
    lang: typescript
    handler: @/trigger-inbox
    environment:
      fail_first: "true"
    annotations:
      topic: cron-function
      schedule: "0 3 * * *"
      com.openfaas.retry.min_wait: 50ms
      com.openfaas.retry.max_wait: 100ms
  plain:
    lang: typescript
    handler: @/trigger-inbox
`, { env: { ...process.env, FAASDEV_LOG_LEVEL: 'debug' }, log: (line) => log.push(line) })
    const [id] = await rt.trigger('nightly')
    await waitFor(() => count(seen, 'nightly') === 1, 15_000, 'the triggered run')
    await rt.idle()
    expect(await rt.queueWorker.status(id ?? '')).toMatchObject({ status: 'succeeded', attempts: 2, lastStatus: 200 })
    expect(seen[0]).toMatchObject({ fn: 'nightly', callId: id, topic: 'cron-function' })
    // One debug line for the fire, none for its two attempts.
    expect(log.filter((l) => l.startsWith('trigger: '))).toEqual([`trigger: cron-function → nightly (call ${id})`])
    await expect(rt.trigger('plain')).rejects.toMatchObject({ code: 'ERR_NO_SCHEDULE' })
    const [status] = (await (await fetch(`${rt.url}/system/triggers`)).json()) as { nextRun: string }[]
    // The next 03:00 is still the next run: triggering did not move it.
    expect(new Date(status?.nextRun ?? '').getHours()).toBe(3)
  })
})

describe('topics', () => {
  it('POST /system/publish/TOPIC delivers the message once to every function subscribed to it', async () => {
    const log: string[] = []
    const { rt, seen } = await start(TOPICS, { log: (line) => log.push(line) })
    const res = await fetch(`${rt.url}/system/publish/orders.created`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ORDER) })
    expect(res.status).toBe(202)
    const answer = (await res.json()) as { topic: string; calls: { function: string; callId: string }[] }
    expect(answer.topic).toBe('orders.created')
    expect(answer.calls.map((c) => c.function).sort()).toEqual(['billing', 'shipping', 'tpl-inbox'])
    await waitFor(() => seen.length >= 3, 15_000, () => `3 deliveries, got ${JSON.stringify(seen)}`)
    await rt.idle()
    expect(seen.map((s) => s.fn).sort()).toEqual(['billing', 'shipping', 'tpl-inbox'])
    for (const s of seen.filter((x) => x.fn !== 'tpl-inbox')) {
      expect(s).toMatchObject({ topic: 'orders.created', contentType: 'application/json', body: JSON.stringify(ORDER) })
      expect(s.callId).toBe(answer.calls.find((c) => c.function === s.fn)?.callId)
    }
    // A node20 template handler gets the JSON body parsed, as from the nats-connector.
    expect(seen.find((s) => s.fn === 'tpl-inbox')).toMatchObject({ topic: 'orders.created', bodyType: 'object', order: ORDER })
    for (const c of answer.calls) expect(await rt.queueWorker.status(c.callId)).toMatchObject({ status: 'succeeded', attempts: 1 })
    expect(await metric(rt, 'faasdev_trigger_fired_total{function_name="billing.openfaas-fn",topic="orders.created"}')).toBe(1)

    // A second topic reaches its own subscribers only; shipping listens to both.
    seen.length = 0
    const restock = await fetch(`${rt.url}/system/publish/warehouse.restocked`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'sku=tea' })
    expect(restock.status).toBe(202)
    await waitFor(() => seen.length >= 2, 15_000, 'the restock deliveries')
    await rt.idle()
    expect(seen.map((s) => `${s.fn}:${s.body}`).sort()).toEqual(['audit:sku=tea', 'shipping:sku=tea'])
    // Fires are logged at debug level only: nothing at the default level.
    expect(log.filter((l) => l.startsWith('trigger: '))).toEqual([])
    // What listens to what is said once, at start.
    expect(log.filter((l) => l.includes('triggered by')).sort()).toEqual(['audit: triggered by topic warehouse.restocked', 'billing: triggered by topic orders.created', 'shipping: triggered by topics warehouse.restocked, orders.created', 'tpl-inbox: triggered by topic orders.created'])
  })

  it('a topic nobody listens to is 404 naming it; a malformed one is 400', async () => {
    const { rt } = await start(TOPICS)
    const none = await fetch(`${rt.url}/system/publish/orders.cancelled`, { method: 'POST', body: 'x' })
    expect(none.status).toBe(404)
    expect(await none.text()).toMatch(/no function subscribes to topic "orders\.cancelled"/)
    const bad = await fetch(`${rt.url}/system/publish/orders.*`, { method: 'POST', body: 'x' })
    expect(bad.status).toBe(400)
    expect((await fetch(`${rt.url}/system/publish/orders.created`)).status).toBe(404)
    expect(rt.queueWorker.counters.submitted).toBe(0)
  })

  it('--auth covers /system/publish and /system/triggers', async () => {
    const { rt } = await start(TOPICS, { auth: { password: 'pw-triggers' } })
    expect((await fetch(`${rt.url}/system/publish/orders.created`, { method: 'POST', body: '{}' })).status).toBe(401)
    expect((await fetch(`${rt.url}/system/triggers`)).status).toBe(401)
    const authorization = `Basic ${Buffer.from('admin:pw-triggers').toString('base64')}`
    const ok = await fetch(`${rt.url}/system/publish/orders.created`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: '{}' })
    expect(ok.status).toBe(202)
    await rt.idle()
  })
})

describe('reload', () => {
  it('picks up added, changed and removed triggers', async () => {
    const log: string[] = []
    const { rt, seen } = await start(`
functions:
  inbox:
    lang: typescript
    handler: @/trigger-inbox
`, { log: (line) => log.push(line) })
    const triggers = async (): Promise<unknown> => (await fetch(`${rt.url}/system/triggers`)).json()
    expect(await triggers()).toEqual([])
    expect((await fetch(`${rt.url}/system/publish/mail.received`, { method: 'POST', body: 'x' })).status).toBe(404)

    writeFileSync(
      rt.config.file,
      `
functions:
  inbox:
    lang: typescript
    handler: ${rt.config.functions[0]?.handlerDir}
    annotations:
      topic: "mail.received,cron-function"
      schedule: "@every 1s"
`,
    )
    await rt.reload()
    expect(await triggers()).toMatchObject([{ name: 'inbox', topics: ['mail.received', 'cron-function'], schedule: '@every 1s' }])
    expect(log.filter((l) => /^inbox: (triggered|no triggers)/.test(l))).toEqual([expect.stringMatching(/^inbox: triggered by topic mail\.received and schedule "@every 1s" \(next run \d{4}-.*Z\)$/)])
    expect((await fetch(`${rt.url}/system/publish/mail.received`, { method: 'POST', body: 'hi' })).status).toBe(202)
    await waitFor(() => seen.some((s) => s.topic === 'mail.received') && seen.some((s) => s.topic === 'cron-function'), 15_000, () => `a published and a scheduled call, got ${JSON.stringify(seen)}`)

    // Changed: the schedule moves to a time that is hours away.
    writeFileSync(rt.config.file, `\nfunctions:\n  inbox:\n    lang: typescript\n    handler: ${rt.config.functions[0]?.handlerDir}\n    annotations:\n      topic: cron-function\n      schedule: "0 0 1 1 *"\n`)
    await rt.reload()
    const [changed] = (await triggers()) as { schedule: string; nextRun: string; topics: string[] }[]
    expect(changed).toMatchObject({ schedule: '0 0 1 1 *', topics: ['cron-function'] })
    expect(Date.parse(changed?.nextRun ?? '') - Date.now()).toBeGreaterThan(60_000)
    expect((await fetch(`${rt.url}/system/publish/mail.received`, { method: 'POST', body: 'x' })).status).toBe(404)
    await rt.idle()
    const scheduled = seen.filter((s) => s.topic === 'cron-function').length
    await new Promise((r) => setTimeout(r, 2500))
    expect(seen.filter((s) => s.topic === 'cron-function').length).toBe(scheduled)

    // Removed.
    writeFileSync(rt.config.file, `\nfunctions:\n  inbox:\n    lang: typescript\n    handler: ${rt.config.functions[0]?.handlerDir}\n`)
    await rt.reload()
    expect(await triggers()).toEqual([])
    expect(log.filter((l) => /^inbox: (triggered|no triggers)/.test(l)).at(-1)).toBe('inbox: no triggers any more')
    await expect(rt.trigger('inbox')).rejects.toMatchObject({ code: 'ERR_NO_SCHEDULE' })
  })
})

describe.skipIf(SKIP_NATS)('topics over NATS (--queue jetstream)', () => {
  const nats = useNatsServer()

  it('a message any NATS client publishes on a subscribed subject reaches every subscribed function once', async () => {
    const { rt, seen } = await start(TOPICS, { queue: 'jetstream', natsUrl: nats.url, queueName: 'trg-a' })
    const nc = await connect({ servers: nats.url })
    onTestFinished(() => nc.close())
    const h = natsHeaders()
    h.set('Content-Type', 'application/json')
    nc.publish('orders.created', JSON.stringify(ORDER), { headers: h })
    nc.publish('nobody.listens', 'ignored')
    await nc.flush()
    await waitFor(() => seen.length >= 3, 20_000, () => `3 deliveries, got ${JSON.stringify(seen)}`)
    await rt.idle()
    await new Promise((r) => setTimeout(r, 300))
    expect(seen.map((s) => s.fn).sort()).toEqual(['billing', 'shipping', 'tpl-inbox'])
    expect(seen.find((s) => s.fn === 'billing')).toMatchObject({ topic: 'orders.created', contentType: 'application/json', body: JSON.stringify(ORDER) })
    expect(seen.find((s) => s.fn === 'tpl-inbox')).toMatchObject({ bodyType: 'object', order: ORDER })
  })

  it("a topic under the queue's own subjects is not subscribed on NATS, so a triggered call cannot trigger itself", async () => {
    const log: string[] = []
    const { rt, seen } = await start(
      `
functions:
  billing:
    lang: typescript
    handler: @/trigger-inbox
    annotations:
      topic: trg-c.billing
`,
      { queue: 'jetstream', natsUrl: nats.url, queueName: 'trg-c', log: (line) => log.push(line) },
    )
    expect(log.filter((l) => l.includes('not subscribed on NATS'))).toHaveLength(1)
    const res = await fetch(`${rt.url}/system/publish/trg-c.billing`, { method: 'POST', body: 'once' })
    expect(res.status).toBe(202)
    await waitFor(() => seen.length >= 1, 20_000, 'the delivery')
    await rt.idle()
    await new Promise((r) => setTimeout(r, 500))
    expect(seen.map((s) => s.body)).toEqual(['once'])
    expect(rt.queueWorker.counters.submitted).toBe(1)
  })

  it('two instances sharing the queue run each scheduled run once between them', async () => {
    const a = await start(EVERY_SECOND, { queue: 'jetstream', natsUrl: nats.url, queueName: 'trg-d' })
    const b = await start(EVERY_SECOND, { queue: 'jetstream', natsUrl: nats.url, queueName: 'trg-d' })
    const all = (): Seen[] => [...a.seen, ...b.seen]
    await waitFor(() => all().length >= 4, 20_000, () => `4 runs, got ${all().length}`)
    await Promise.all([a.rt.close(), b.rt.close()])
    // Both instances planned every run; each one ran once, under the call id naming its time.
    const ids = all().map((s) => s.callId ?? '')
    expect(ids.every((id) => /^cron-tick-\d+000$/.test(id))).toBe(true)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('two instances sharing the server handle each NATS message once between them', async () => {
    const a = await start(TOPICS, { queue: 'jetstream', natsUrl: nats.url, queueName: 'trg-b' })
    const b = await start(TOPICS, { queue: 'jetstream', natsUrl: nats.url, queueName: 'trg-b' })
    const nc = await connect({ servers: nats.url })
    onTestFinished(() => nc.close())
    for (let i = 0; i < 4; i++) nc.publish('warehouse.restocked', `restock-${i}`)
    await nc.flush()
    const all = (): Seen[] => [...a.seen, ...b.seen]
    await waitFor(() => all().length >= 8, 20_000, () => `8 deliveries, got ${all().length}`)
    await Promise.all([a.rt.idle(), b.rt.idle()])
    await new Promise((r) => setTimeout(r, 500))
    // Four messages, two subscribers each: eight calls, not sixteen.
    expect(all().map((s) => `${s.fn}:${s.body}`).sort()).toEqual(['audit', 'shipping'].flatMap((fn) => [0, 1, 2, 3].map((i) => `${fn}:restock-${i}`)).sort())
  })
})
