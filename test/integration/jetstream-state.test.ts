/**
 * Dead letters and call status kept in JetStream, against a real nats-server: two runtimes
 * sharing one cluster see the same statuses and dead letters and replay each other's; the
 * stores' bounds are applied when they change; a stream made with other settings is
 * migrated or refused with what to do.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createRuntime, type Runtime } from '../../src/index.js'
import { JetStreamQueue } from '../../src/queue/jetstream.js'
import { JetStreamCallStatus } from '../../src/queue/jetstream-call-status.js'
import { JetStreamDeadLetters } from '../../src/queue/jetstream-dead-letters.js'
import { CallEntry } from '../../src/queue-worker/calls.js'
import { sampleCall } from '../contract/queue-contract.js'
import { waitFor, writeStack } from '../helpers.js'
import { SKIP_NATS, useNatsServer } from '../nats-helper.js'
import { natsTap } from '../nats-tap.js'
import { callbackServer, submit } from './async-helpers.js'

/** A user's handler: fails with 503 while its upstream is down (no RECOVERED_FILE), says which instance ran it. */
const HANDLER = `import { existsSync } from 'node:fs'

export default async function handle(req) {
  const instance = process.env.INSTANCE
  await new Promise((r) => setTimeout(r, 100))
  if (new URL(req.url).searchParams.has('fail') && !existsSync(process.env.RECOVERED_FILE)) {
    return new Response(\`upstream unavailable (\${instance})\`, { status: 503 })
  }
  return \`done by \${instance}\`
}
`

const STACK = `version: 1.0
provider:
  name: openfaas
functions:
  work:
    lang: javascript
    handler: ./work
    environment:
      INSTANCE: \${INSTANCE}
      RECOVERED_FILE: \${RECOVERED_FILE}
      max_inflight: "2"
    annotations:
      com.openfaas.retry.attempts: "1"
`

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'faasdev-state-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const json = async <T>(url: string): Promise<T> => (await fetch(url)).json() as Promise<T>

interface Letter {
  callId: string
  function: string
  lastStatus: number
  lastBody: string
  path: string
}

describe.skipIf(SKIP_NATS)('dead letters and call status in JetStream', () => {
  const nats = useNatsServer()
  let n = 0

  /** Two runtimes on one stack and one queue name, as two machines would run them. */
  async function twoInstances(extra: { ackWaitMs?: number; natsUrl?: string } = {}): Promise<{ a: Runtime; b: Runtime; recovered: string; queueName: string }> {
    const dir = tempDir()
    const recovered = join(dir, 'recovered')
    const stack = writeStack(STACK, { 'work/handler.js': HANDLER })
    const queueName = `state${++n}`
    const start = async (instance: string): Promise<Runtime> => {
      const rt = await createRuntime({
        stack,
        port: 0,
        watch: false,
        queue: 'jetstream',
        natsUrl: nats.url,
        queueName,
        dataDir: join(dir, instance),
        env: { ...process.env, INSTANCE: instance, RECOVERED_FILE: recovered },
        log: () => undefined,
        onOutput: () => undefined,
        ...extra,
      })
      onTestFinished(() => rt.close())
      await rt.start()
      return rt
    }
    return { a: await start('a'), b: await start('b'), recovered, queueName }
  }

  /** A connection of the test's own to the instances' streams, to damage or fill them as an operator or a flood would. */
  async function sideConnection(queueName: string): Promise<JetStreamQueue> {
    const q = new JetStreamQueue({ url: nats.url, queueName, log: () => undefined })
    onTestFinished(() => q.close())
    await q.start()
    return q
  }

  it('a call submitted to A and run by B shows its status on both; a dead letter made by B is listed by both and replayed through A', { timeout: 90_000 }, async () => {
    const { a, b, recovered } = await twoInstances()
    const cb = await callbackServer()
    const ids = Array.from({ length: 30 }, (_, i) => `ok-${i}`)
    for (const id of ids) expect((await submit(a.url, 'work', { 'x-call-id': id, 'x-callback-url': cb.url })).status).toBe(202)
    await waitFor(() => cb.received.length >= ids.length, 30_000, 'every callback')
    const runBy = new Map(cb.received.map((r) => [String(r.headers['x-call-id']), r.body]))
    const byB = ids.filter((id) => runBy.get(id) === 'done by b')
    expect(byB.length).toBeGreaterThan(0)
    for (const id of [byB[0] as string, ids.find((id) => runBy.get(id) === 'done by a') ?? (ids[0] as string)]) {
      for (const rt of [a, b]) {
        await waitFor(async () => (await json<{ status?: string }>(`${rt.url}/system/async-function/${id}`)).status === 'succeeded', 10_000, `${id} succeeded on ${rt === a ? 'A' : 'B'}`)
        expect(await json(`${rt.url}/system/async-function/${id}`)).toMatchObject({ callId: id, function: 'work', status: 'succeeded', attempts: 1, lastStatus: 200, callback: { status: 200 } })
      }
    }

    const failing = Array.from({ length: 12 }, (_, i) => `dead-${i}`)
    for (const id of failing) expect((await submit(a.url, 'work?fail=1', { 'x-call-id': id })).status).toBe(202)
    const lettersOf = (rt: Runtime, query = ''): Promise<Letter[]> => json<Letter[]>(`${rt.url}/system/queue/dead-letters${query}`)
    await waitFor(async () => (await lettersOf(a)).length === failing.length, 30_000, 'every dead letter')
    const letters = await lettersOf(b)
    expect(letters.map((l) => l.callId).sort()).toEqual([...failing].sort())
    expect(letters[0]).toMatchObject({ function: 'work', lastStatus: 503, path: '/?fail=1' })
    expect(await lettersOf(a, '?function=work.openfaas-fn')).toHaveLength(failing.length)
    expect(await lettersOf(a, '?function=other')).toEqual([])
    const madeByB = letters.find((l) => l.lastBody === 'upstream unavailable (b)')
    expect(madeByB).toBeDefined()
    const id = (madeByB as Letter).callId
    for (const rt of [a, b]) {
      expect(await json(`${rt.url}/system/async-function/${id}`)).toMatchObject({ status: 'dead-lettered', attempts: 1, lastStatus: 503 })
      await waitFor(async () => (await json<{ functions: { name: string; deadLettered: number }[] }>(`${rt.url}/system/queue`)).functions.find((f) => f.name === 'work')?.deadLettered === failing.length, 10_000, 'the dead-letter count')
    }

    // The upstream is back: A replays B's letter, and whoever runs it, both see it succeed.
    writeFileSync(recovered, '')
    const replay = await fetch(`${a.url}/system/queue/dead-letters/${id}/retry`, { method: 'POST' })
    expect(replay.status).toBe(202)
    expect(replay.headers.get('x-call-id')).toBe(id)
    for (const rt of [a, b]) await waitFor(async () => (await json<{ status?: string }>(`${rt.url}/system/async-function/${id}`)).status === 'succeeded', 20_000, `the replayed call to succeed on ${rt === a ? 'A' : 'B'}`)
    expect((await lettersOf(b)).map((l) => l.callId)).not.toContain(id)
    expect(await lettersOf(a)).toHaveLength(failing.length - 1)
    expect((await fetch(`${b.url}/system/queue/dead-letters/${id}/retry`, { method: 'POST' })).status).toBe(404)
    // A stops: the calls it accepted that B finished are not reported as left unfinished.
    await a.close()
    expect(a.unfinishedCalls).toEqual([])
  })

  it('acknowledges a finished call only once the server has answered the write of its final status', { timeout: 60_000 }, async () => {
    // Both instances reach the server through a relay that lists what each of their connections
    // publishes and what the server delivers to it, each before passing it on: an ack sent
    // because the server answered a write is listed after that answer. (A third connection
    // subscribed to both would not do: NATS does not order two publishers' messages between
    // them, and the answer and the ack come from two.)
    const tap = await natsTap(nats.url)
    const { queueName, a } = await twoInstances({ natsUrl: tap.url })
    const cb = await callbackServer()
    // With a callback and without one: without, nothing else comes between the final status and the ack.
    const ids = Array.from({ length: 20 }, (_, i) => `acked-${i}`)
    for (const [i, id] of ids.entries()) expect((await submit(a.url, 'work', { 'x-call-id': id, ...(i % 2 ? { 'x-callback-url': cb.url } : {}) })).status).toBe(202)
    const timeline = (): { kind: 'stored' | 'acked'; id: string; problem?: string }[] => {
      const events: { kind: 'stored' | 'acked'; id: string; problem?: string }[] = []
      // Final writes not answered yet, per connection, in the order sent. The server stores one
      // connection's writes in that order, so its answer to one (a write with a reply subject)
      // covers those before it.
      const unanswered = new Map<number, { id: string; reply: string | undefined }[]>()
      const deliveries = new Map<string, string>()
      for (const f of tap.frames) {
        const sent = unanswered.get(f.conn) ?? []
        unanswered.set(f.conn, sent)
        if (f.dir === 'out' && f.subject.startsWith(`$KV.OF_${queueName}_calls.`)) {
          const record = JSON.parse(f.payload) as { callId: string; status: string }
          if (['succeeded', 'failed', 'dead-lettered'].includes(record.status)) sent.push({ id: record.callId, reply: f.reply })
        } else if (f.dir === 'out' && f.subject.startsWith(`$JS.ACK.OF_${queueName}.`)) {
          if (f.payload === '+ACK') events.push({ kind: 'acked', id: deliveries.get(f.subject) ?? f.subject })
        } else if (f.dir === 'in') {
          const answered = sent.findIndex((w) => w.reply === f.subject)
          if (answered >= 0) {
            const failed = f.payload.includes('"error"') || /^NATS\/1\.0 \d/.test(f.headers)
            for (const w of sent.splice(0, answered + 1)) events.push({ kind: 'stored', id: w.id, ...(failed ? { problem: f.payload || f.headers } : {}) })
            continue
          }
          const call = /^Faasdev-Call:\s*(.*?)\r?$/im.exec(f.headers)?.[1]
          if (call && f.reply) deliveries.set(f.reply, (JSON.parse(call) as { id: string }).id)
        }
      }
      return events
    }
    await waitFor(() => ids.every((id) => timeline().some((e) => e.kind === 'acked' && e.id === id)), 30_000, () => `every call acknowledged, saw ${JSON.stringify(timeline())}`)
    expect(cb.received).toHaveLength(ids.length / 2)
    const events = timeline()
    for (const id of ids) {
      const stored = events.findIndex((e) => e.kind === 'stored' && e.id === id)
      const acked = events.findIndex((e) => e.kind === 'acked' && e.id === id)
      expect(stored, `the final status of ${id} written and answered (itself or a later write of the same connection)`).toBeGreaterThanOrEqual(0)
      expect(events[stored]?.problem, `the final status of ${id} stored`).toBeUndefined()
      expect(stored, `${id} acknowledged after its final status was stored: ${JSON.stringify(events)}`).toBeLessThan(acked)
    }
  })

  it('two instances replaying one dead letter at once submit it once', { timeout: 60_000 }, async () => {
    const { a, b, recovered } = await twoInstances()
    const cb = await callbackServer()
    expect((await submit(b.url, 'work?fail=1', { 'x-call-id': 'twice', 'x-callback-url': cb.url })).status).toBe(202)
    await waitFor(async () => (await json<Letter[]>(`${a.url}/system/queue/dead-letters`)).length === 1, 20_000, 'the dead letter')
    writeFileSync(recovered, '')
    const answers = await Promise.all([a, b].map((rt) => fetch(`${rt.url}/system/queue/dead-letters/twice/retry`, { method: 'POST' }).then((r) => r.status)))
    expect(answers.sort()).toEqual([202, 404])
    await waitFor(() => cb.received.some((r) => r.body.startsWith('done by')), 20_000, 'the replayed call')
    await Promise.all([a.idle(), b.idle()])
    expect(cb.received.filter((r) => r.body.startsWith('done by'))).toHaveLength(1)
  })

  it('a dead letter that cannot be decoded is refused with a coded error and left in place, never dropped', { timeout: 60_000 }, async () => {
    const { a, queueName } = await twoInstances()
    const q = await sideConnection(queueName)
    // A letter damaged in the stream (written by an older or foreign writer): its call header is not JSON.
    const stream = `OF_${queueName}_dead`
    const { headers } = await import('@nats-io/transport-node')
    const h = headers()
    h.set('Faasdev-Call', '{not json')
    h.set('Faasdev-Dead', JSON.stringify({ v: 1, a: 3, s: 503, h: [], b: '', t: Date.now() }))
    await q.client.js.publish(`${queueName}_dead.work.broken-1`, new TextEncoder().encode('{"order":1}'), { headers: h })
    const res = await fetch(`${a.url}/system/queue/dead-letters/broken-1/retry`, { method: 'POST' })
    expect(res.status).toBe(500)
    expect(await res.text()).toMatch(/dead letter broken-1 .* cannot be decoded; it is left in place/)
    const info = await q.client.jsm.streams.info(stream, { subjects_filter: `${queueName}_dead.>` })
    expect(Object.keys(info.state.subjects ?? {})).toEqual([`${queueName}_dead.work.broken-1`])
  })

  it('a replay refused by a full queue answers 429 and keeps the letter, which replays once there is room', { timeout: 60_000 }, async () => {
    const { a, recovered, queueName } = await twoInstances()
    const cb = await callbackServer()
    expect((await submit(a.url, 'work?fail=1', { 'x-call-id': 'full-1', 'x-callback-url': cb.url })).status).toBe(202)
    await waitFor(async () => (await json<Letter[]>(`${a.url}/system/queue/dead-letters`)).length === 1, 20_000, 'the dead letter')
    writeFileSync(recovered, '')
    // The work stream at its bound (as a flood would leave it): a message for a function nobody serves.
    const q = await sideConnection(queueName)
    const { jsm } = q.client
    const held = (await jsm.streams.info(`OF_${queueName}`)).state.messages
    await jsm.streams.update(`OF_${queueName}`, { max_msgs: held + 1 })
    await q.client.js.publish(`${queueName}.parked`, new TextEncoder().encode('x'))
    const refused = await fetch(`${a.url}/system/queue/dead-letters/full-1/retry`, { method: 'POST' })
    expect(refused.status).toBe(429)
    expect((await json<Letter[]>(`${a.url}/system/queue/dead-letters`)).map((l) => l.callId)).toEqual(['full-1'])
    expect(await json(`${a.url}/system/async-function/full-1`)).toMatchObject({ status: 'dead-lettered' })
    await jsm.streams.purge(`OF_${queueName}`, { filter: `${queueName}.parked` })
    await jsm.streams.update(`OF_${queueName}`, { max_msgs: 100_000 })
    expect((await fetch(`${a.url}/system/queue/dead-letters/full-1/retry`, { method: 'POST' })).status).toBe(202)
    await waitFor(() => cb.received.some((r) => r.body.startsWith('done by')), 20_000, 'the replayed call')
    expect(await json<Letter[]>(`${a.url}/system/queue/dead-letters`)).toEqual([])
  })

  it('a call queued by both instances under one dedupe id (a schedule) is counted and tracked once, and no instance keeps entries of calls the other ran', { timeout: 60_000 }, async () => {
    const { a, b } = await twoInstances({ ackWaitMs: 1000 })
    const call = (id: string): Parameters<Runtime['queueWorker']['submit']>[0] => ({ id, function: 'work', method: 'POST', path: '/', headers: {}, body: null, submittedAt: Date.now(), dedupeId: id })
    for (let i = 0; i < 10; i++) {
      await a.queueWorker.submit(call(`tick-${i}`))
      await b.queueWorker.submit(call(`tick-${i}`))
    }
    // Each run was queued once, by A's submit (the first): B's were duplicates, neither counted nor tracked (B keeps an entry only of a tick it runs).
    expect(a.queueWorker.counters.submitted).toBe(10)
    expect(b.queueWorker.counters.submitted).toBe(0)
    // Calls submitted to A, some of them run by B.
    const ids = Array.from({ length: 20 }, (_, i) => `mixed-${i}`)
    for (const id of ids) expect((await submit(a.url, 'work', { 'x-call-id': id })).status).toBe(202)
    await waitFor(() => a.queueWorker.counters.processed + b.queueWorker.counters.processed >= 30, 30_000, 'every call run')
    expect(b.queueWorker.counters.processed).toBeGreaterThan(0)
    // Past the ack wait, A keeps no `queued` entry of the calls B ran, and still answers for them from the store.
    await waitFor(() => a.queueWorker.calls.unfinished().length === 0 && b.queueWorker.calls.unfinished().length === 0, 10_000, () => `no entry left unfinished, got ${JSON.stringify(a.queueWorker.calls.unfinished().map((r) => r.callId))}`)
    for (const id of [...ids, 'tick-0']) for (const rt of [a, b]) expect(await json(`${rt.url}/system/async-function/${id}`)).toMatchObject({ callId: id, status: 'succeeded' })
    await a.close()
    expect(a.unfinishedCalls).toEqual([])
  })

  describe('stores', () => {
    const logs: string[] = []
    const open = async (queueName: string): Promise<JetStreamQueue> => {
      const q = new JetStreamQueue({ url: nats.url, queueName, log: (l) => logs.push(l) })
      onTestFinished(() => q.close())
      await q.start()
      return q
    }
    const letter = (id: string, fn = 'f'): Parameters<JetStreamDeadLetters['add']>[0] => ({
      call: sampleCall(fn, { id }),
      attempts: 3,
      lastStatus: 502,
      lastHeaders: [['content-type', 'text/plain']],
      lastBody: new TextEncoder().encode(`bad gateway for ${id}`),
      deadLetteredAt: Date.now(),
    })

    it('keep dead letters up to their bound, dropping and logging the oldest, and apply a changed bound', async () => {
      const q = await open(`bound${++n}`)
      const small = new JetStreamDeadLetters({ queue: q, maxMessages: 3, log: (l) => logs.push(l) })
      await small.start()
      const added = ['d1', 'd2', 'd3', 'd4 with/odd.chars_'].map((id) => letter(id, id === 'd2' ? 'g' : 'f'))
      for (const l of added) await small.add(l)
      expect(logs.some((l) => l.includes('dead letter d1 (f) dropped'))).toBe(true)
      const list = await small.list()
      expect(list.map((l) => l.call.id)).toEqual(['d2', 'd3', 'd4 with/odd.chars_'])
      expect(list[2]).toMatchObject({ attempts: 3, lastStatus: 502, lastHeaders: [['content-type', 'text/plain']] })
      expect(new TextDecoder().decode(list[2]?.lastBody)).toBe('bad gateway for d4 with/odd.chars_')
      expect((await small.list('g')).map((l) => l.call.id)).toEqual(['d2'])
      const read = await small.get('d4 with/odd.chars_')
      // Read whole: the request (body included) comes back for the replay, and the letter stays until it is removed.
      expect(read?.call).toEqual(added[3]?.call)
      expect((await small.get('d4 with/odd.chars_'))?.call).toEqual(added[3]?.call)
      expect(await small.remove(read as NonNullable<typeof read>)).toBe(true)
      expect(await small.remove(read as NonNullable<typeof read>)).toBe(false)
      expect(await small.get('d4 with/odd.chars_')).toBeUndefined()

      const larger = new JetStreamDeadLetters({ queue: q, maxMessages: 5, maxBytes: 1024 * 1024, log: (l) => logs.push(l) })
      await larger.start()
      const info = await q.client.jsm.streams.info(larger.stream)
      expect(info.config.max_msgs).toBe(5)
      expect(info.config.max_bytes).toBe(1024 * 1024)
      expect(logs.some((l) => l.includes(`stream ${larger.stream}`) && l.includes('max_msgs 3 → 5'))).toBe(true)
      // The letters kept before the change are still there.
      expect((await larger.list()).map((l) => l.call.id)).toEqual(['d2', 'd3'])
    })

    it('keep call status across instances; a submit never overwrites a newer status; a changed TTL is applied', async () => {
      const queueName = `status${++n}`
      const qa = await open(queueName)
      const qb = await open(queueName)
      const sa = new JetStreamCallStatus({ queue: qa, flushMs: 10, log: (l) => logs.push(l) })
      const sb = new JetStreamCallStatus({ queue: qb, flushMs: 10, ttlMs: 3600_000, log: (l) => logs.push(l) })
      await sa.start()
      await sb.start()
      onTestFinished(async () => {
        await sa.close()
        await sb.close()
      })
      const call = sampleCall('f', { id: 'call/1' })
      // B took the call and wrote `running` before A's `queued` (written only if absent) went out.
      const onB = new CallEntry(call.id, call.function, call.submittedAt, call.callbackUrl)
      onB.status = 'running'
      onB.attempts = 1
      onB.updatedAt = Date.now()
      sb.write(onB)
      await sb.settled(call.id)
      const onA = new CallEntry(call.id, call.function, call.submittedAt, call.callbackUrl)
      onA.updatedAt = Date.now()
      sa.write(onA, true)
      await sa.settled(call.id)
      expect(await sa.read(call.id)).toMatchObject({ callId: 'call/1', status: 'running', attempts: 1 })
      onB.status = 'succeeded'
      onB.lastStatus = 200
      sb.write(onB)
      await waitFor(async () => (await sa.read(call.id))?.status === 'succeeded', 5000, 'the status written behind')
      expect(await sa.read('unknown')).toBeUndefined()
      const info = await qa.client.jsm.streams.info(`KV_${sb.bucket}`)
      expect(info.config.max_age).toBe(3600_000 * 1e6)
      expect(info.config.max_msgs_per_subject).toBe(1)
      expect(logs.some((l) => l.includes(`stream KV_${sb.bucket} (call status) updated: max_age`))).toBe(true)
    })

    it('write transitions on the way without waiting, readable from another instance at once, a late guarded `queued` never overwriting them', async () => {
      const queueName = `status${++n}`
      const qa = await open(queueName)
      const qb = await open(queueName)
      const sa = new JetStreamCallStatus({ queue: qa, flushMs: 10, log: (l) => logs.push(l) })
      const sb = new JetStreamCallStatus({ queue: qb, flushMs: 10, log: (l) => logs.push(l) })
      await sa.start()
      await sb.start()
      onTestFinished(async () => {
        await sa.close()
        await sb.close()
      })
      const call = sampleCall('f', { id: 'call 2' })
      const onA = new CallEntry(call.id, call.function, call.submittedAt, call.callbackUrl)
      onA.updatedAt = Date.now()
      sa.write(onA, true)
      // Gathered, then published without an answer: B reads it from the bucket.
      await waitFor(async () => (await sb.read(call.id))?.status === 'queued', 5000, 'queued, read on B')
      const onB = new CallEntry(call.id, call.function, call.submittedAt, call.callbackUrl)
      onB.status = 'running'
      onB.attempts = 1
      onB.updatedAt = Date.now()
      sb.write(onB)
      await waitFor(async () => (await sa.read(call.id))?.status === 'running', 5000, 'running, read on A')
      // A's submit of the same id again (a second `queued`, guarded), then an answered write on
      // the same connection: once that is answered, the guarded one was handled before it.
      sa.write(onA, true)
      await new Promise((r) => setTimeout(r, 50))
      expect(sa.pending(call.id)).toBe(false)
      const other = new CallEntry('other', 'f', Date.now(), undefined)
      sa.write(other)
      await sa.settled('other')
      expect(await sb.read(call.id)).toMatchObject({ status: 'running', attempts: 1 })
      expect(await sb.read('other')).toMatchObject({ status: 'queued' })
      expect(logs.filter((l) => l.includes('cannot store the status'))).toEqual([])
    })

    it('adopt a work stream made with other changeable settings, and refuse one whose retention cannot change, saying what to do', async () => {
      const { jsm } = (await open(`probe${++n}`)).client
      await jsm.streams.add({ name: 'OF_older1', subjects: ['older1.>'], retention: RetentionPolicy.Workqueue, storage: StorageType.File, discard: DiscardPolicy.Old, max_msgs: 10 })
      logs.length = 0
      const migrated = await open('older1')
      const info = await migrated.client.jsm.streams.info('OF_older1')
      expect(info.config).toMatchObject({ subjects: ['older1.*'], discard: DiscardPolicy.New, max_msgs: 100_000 })
      expect(logs.some((l) => l.includes('stream OF_older1') && l.includes('max_msgs 10 → 100000'))).toBe(true)

      await jsm.streams.add({ name: 'OF_older2', subjects: ['older2.*'], retention: RetentionPolicy.Limits, storage: StorageType.File })
      const refused = new JetStreamQueue({ url: nats.url, queueName: 'older2', log: () => undefined })
      onTestFinished(() => refused.close())
      const err = await refused.start().then(() => undefined, (e: unknown) => e as Error)
      expect(err?.message).toMatch(/OF_older2.*retention limits \(faasdev needs workqueue\)/)
      expect(err?.message).toMatch(/nats stream rm OF_older2/)
      expect(err?.message).toMatch(/--queue-name/)
    })
  })
})
