/**
 * The queue backend contract: every `QueueBackend` (memory, JetStream) must pass these tests,
 * so a behaviour checked on memory predicts the same on JetStream. Usage in a test file:
 *
 *     queueContract('memory', (limits) => new MemoryQueue(limits))
 *
 * `makeBackend` returns a backend that is not started yet; the suite starts it and closes
 * it at the end of each test. It must honour `limits` (refuse with ERR_QUEUE_FULL beyond them).
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { FaasError } from '../../src/errors.js'
import type { QueueBackend, QueuedCall, QueueMessage } from '../../src/queue/types.js'

export interface ContractLimits {
  /** Accepted and not yet acknowledged messages, across functions. */
  maxMessages: number
  /** Their total size in bytes (bodies dominate; a backend may count its own framing too). */
  maxBytes: number
}

export type BackendFactory = (limits: ContractLimits) => QueueBackend | Promise<QueueBackend>

const ROOMY: ContractLimits = { maxMessages: 10_000, maxBytes: 64 * 1024 * 1024 }

let seq = 0
/** A call with every field filled in, so the round trip checks each one. */
export function sampleCall(fn: string, overrides: Partial<QueuedCall> = {}): QueuedCall {
  seq++
  return {
    id: `call-${process.pid}-${Date.now()}-${seq}`,
    function: fn,
    method: 'POST',
    path: `/sub/${seq}?q=${seq}&x=a%20b`,
    headers: { 'content-type': 'application/octet-stream', 'x-call-id': `call-${seq}`, 'x-multi': ['a', 'b'] },
    body: new Uint8Array([0, 1, 2, 255, seq & 0xff]),
    callbackUrl: 'http://127.0.0.1:9/callback',
    submittedAt: Date.now(),
    ...overrides,
  }
}

async function waitUntil<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Registers the contract suite for one backend under `describe(`queue contract: NAME`)`. */
export function queueContract(name: string, makeBackend: BackendFactory): void {
  // Function names unique per test: a shared backend (JetStream) must not leak between tests.
  let fnSeq = 0
  const fnName = (base: string): string => `${base}${++fnSeq}x${process.pid % 1000}`

  async function open(limits: ContractLimits = ROOMY): Promise<QueueBackend> {
    const q = await makeBackend(limits)
    onTestFinished(() => q.close())
    await q.start()
    return q
  }

  const take = (q: QueueBackend, fn: string, what = `a message for ${fn}`): Promise<QueueMessage> => waitUntil(() => q.take(fn), 5000, what)

  describe(`queue contract: ${name}`, () => {
    it('keeps every field of a call: method, sub-path with query, headers, body bytes, callback URL, time', async () => {
      const q = await open()
      const fn = fnName('fields')
      const call = sampleCall(fn)
      // True: queued now (false is kept for a submit a shared stream deduplicated).
      expect(await q.submit(call)).toBe(true)
      const msg = await take(q, fn)
      expect(msg.attempt).toBe(1)
      expect(msg.call.id).toBe(call.id)
      expect(msg.call.function).toBe(fn)
      expect(msg.call.method).toBe('POST')
      expect(msg.call.path).toBe(call.path)
      expect(msg.call.headers).toEqual(call.headers)
      expect(msg.call.body && [...msg.call.body]).toEqual([...(call.body as Uint8Array)])
      expect(msg.call.callbackUrl).toBe(call.callbackUrl)
      expect(msg.call.submittedAt).toBe(call.submittedAt)
      await msg.ack()
    })

    it('keeps a call without body or callback', async () => {
      const q = await open()
      const fn = fnName('empty')
      const { callbackUrl: _omit, ...rest } = sampleCall(fn, { body: null, method: 'PUT', path: '/' })
      await q.submit(rest)
      const msg = await take(q, fn)
      expect(msg.call.body === null || msg.call.body.length === 0).toBe(true)
      expect(msg.call.callbackUrl).toBeUndefined()
      expect(msg.call.method).toBe('PUT')
      await msg.ack()
    })

    it('delivers FIFO within a function and keeps functions apart', async () => {
      const q = await open()
      const a = fnName('a')
      const b = fnName('b')
      const ids: string[] = []
      for (let i = 0; i < 20; i++) {
        const call = sampleCall(i % 2 ? a : b)
        if (i % 2) ids.push(call.id)
        await q.submit(call)
      }
      const got: string[] = []
      while (got.length < 10) {
        const msg = await take(q, a)
        expect(msg.call.function).toBe(a)
        got.push(msg.call.id)
        await msg.ack()
      }
      expect(got).toEqual(ids)
      expect(q.functions()).toContain(b)
      const fromB = await take(q, b)
      expect(fromB.call.function).toBe(b)
      await fromB.ack()
    })

    it('answers undefined when nothing is ready, and does not hand out a message twice', async () => {
      const q = await open()
      const fn = fnName('none')
      expect(await q.take(fn)).toBeUndefined()
      await q.submit(sampleCall(fn))
      const msg = await take(q, fn)
      expect(await q.take(fn)).toBeUndefined()
      await msg.ack()
      expect(await q.take(fn)).toBeUndefined()
    })

    it('tells onReady listeners which function has work after a submit', async () => {
      const q = await open()
      const fn = fnName('ready')
      const seen: string[] = []
      q.onReady((f) => seen.push(f))
      await q.submit(sampleCall(fn))
      await waitUntil(() => seen.includes(fn) || undefined, 5000, 'onReady')
      const msg = await take(q, fn)
      await msg.ack()
    })

    it('counts pending and in-flight messages, and forgets acknowledged ones', async () => {
      const q = await open()
      const fn = fnName('stats')
      for (let i = 0; i < 3; i++) await q.submit(sampleCall(fn))
      await waitUntil(() => q.stats(fn).pending === 3 || undefined, 5000, 'pending 3')
      const msg = await take(q, fn)
      await waitUntil(() => (q.stats(fn).pending === 2 && q.stats(fn).inflight === 1) || undefined, 5000, 'pending 2 inflight 1')
      await msg.ack()
      await waitUntil(() => q.stats(fn).inflight === 0 || undefined, 5000, 'inflight 0')
      for (let i = 0; i < 2; i++) await (await take(q, fn)).ack()
      await waitUntil(() => (q.stats(fn).pending === 0 && q.stats(fn).inflight === 0) || undefined, 5000, 'empty')
    })

    it('redelivers a retried message only after its delay, with the attempt count raised', async () => {
      const q = await open()
      const fn = fnName('retry')
      const call = sampleCall(fn)
      await q.submit(call)
      const first = await take(q, fn)
      const readyAgain: string[] = []
      q.onReady((f) => readyAgain.push(f))
      const retriedAt = Date.now()
      await first.retry(400)
      await waitUntil(() => q.stats(fn).delayed === 1 || undefined, 2000, 'delayed 1')
      expect(q.stats(fn).pending).toBe(1)
      expect(await q.take(fn)).toBeUndefined()
      const second = await take(q, fn, 'the retried message')
      expect(Date.now() - retriedAt).toBeGreaterThanOrEqual(350)
      expect(second.call.id).toBe(call.id)
      expect(second.attempt).toBe(2)
      expect(second.call.body && [...second.call.body]).toEqual([...(call.body as Uint8Array)])
      expect(readyAgain).toContain(fn)
      await second.retry(0)
      const third = await take(q, fn, 'the message retried without delay')
      expect(third.attempt).toBe(3)
      await third.ack()
    })

    it('refuses with ERR_QUEUE_FULL (429, Retry-After) at the message limit and drops nothing accepted', async () => {
      const q = await open({ maxMessages: 3, maxBytes: 64 * 1024 * 1024 })
      const fn = fnName('full')
      const accepted: string[] = []
      for (let i = 0; i < 3; i++) {
        const c = sampleCall(fn)
        await q.submit(c)
        accepted.push(c.id)
      }
      const err = await q.submit(sampleCall(fn)).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(FaasError)
      expect((err as FaasError).code).toBe('ERR_QUEUE_FULL')
      expect((err as FaasError).statusCode).toBe(429)
      expect(Number((err as FaasError).headers['Retry-After'])).toBeGreaterThan(0)
      const got: string[] = []
      for (let i = 0; i < 3; i++) {
        const msg = await take(q, fn)
        got.push(msg.call.id)
        await msg.ack()
      }
      expect(got).toEqual(accepted)
      // Room again once acknowledged.
      await waitUntil(async () => q.submit(sampleCall(fn)).then(() => true, () => undefined), 5000, 'room after ack')
    })

    it('refuses with ERR_QUEUE_FULL at the byte limit', async () => {
      const q = await open({ maxMessages: 10_000, maxBytes: 4096 })
      const fn = fnName('bytes')
      await q.submit(sampleCall(fn, { body: new Uint8Array(2500) }))
      const err = await q.submit(sampleCall(fn, { body: new Uint8Array(2500) })).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect((err as FaasError | undefined)?.code).toBe('ERR_QUEUE_FULL')
      const msg = await take(q, fn)
      expect(msg.call.body?.length).toBe(2500)
      await msg.ack()
    })

    it('refuses submits with ERR_CLOSED once closed, and close is idempotent', async () => {
      const q = await makeBackend(ROOMY)
      await q.start()
      const fn = fnName('closed')
      await q.close()
      await q.close()
      const err = await q.submit(sampleCall(fn)).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect((err as FaasError | undefined)?.code).toBe('ERR_CLOSED')
      expect(await q.take(fn)).toBeUndefined()
    })
  })
}
