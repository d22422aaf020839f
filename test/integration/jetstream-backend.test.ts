/**
 * The JetStream backend against a real nats-server, beyond the shared contract: leases kept
 * past the ack wait, two instances sharing one consumer, the owned server's life cycle
 * (stale server after a crash, missing binary), and body sizes.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { FaasError } from '../../src/errors.js'
import { JetStreamQueue, type JetStreamQueueOptions } from '../../src/queue/jetstream.js'
import { NatsServer } from '../../src/queue/nats-server.js'
import type { QueueMessage } from '../../src/queue/types.js'
import { sampleCall } from '../contract/queue-contract.js'
import { SKIP_NATS, useNatsServer } from '../nats-helper.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function takeWithin(q: JetStreamQueue, fn: string, ms = 5000): Promise<QueueMessage> {
  const deadline = Date.now() + ms
  for (;;) {
    const m = await q.take(fn)
    if (m) return m
    if (Date.now() > deadline) throw new Error(`no message for ${fn} within ${ms} ms`)
    await sleep(10)
  }
}

/** Waits until the function's pull loop holds `count` messages (they then share one read buffer). */
async function waitForBuffered(q: JetStreamQueue, fn: string, count: number): Promise<void> {
  expect(await q.take(fn)).toBeUndefined()
  const deadline = Date.now() + 5000
  while (q.stats(fn).pending < count || Date.now() < deadline - 4500) await sleep(20)
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'faasdev-js-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe.skipIf(SKIP_NATS)('JetStream backend', () => {
  const nats = useNatsServer({ maxPayload: 12 * 1024 * 1024 })
  let n = 0
  const open = async (options: JetStreamQueueOptions = {}): Promise<JetStreamQueue> => {
    const q = new JetStreamQueue({ url: nats.url, log: () => undefined, ...options })
    onTestFinished(() => q.close())
    await q.start()
    return q
  }

  it('keeps the lease of a message held 3.5x the ack wait: no other instance gets it, one delivery', async () => {
    const queueName = `lease${++n}`
    const a = await open({ queueName, ackWaitMs: 1000 })
    const b = await open({ queueName, ackWaitMs: 1000 })
    await a.submit(sampleCall('slow'))
    const msg = await takeWithin(a, 'slow')
    expect(msg.attempt).toBe(1)
    const deadline = Date.now() + 3500
    while (Date.now() < deadline) {
      expect(await b.take('slow')).toBeUndefined()
      await sleep(100)
    }
    await msg.ack()
    await sleep(1500)
    expect(await a.take('slow')).toBeUndefined()
    expect(await b.take('slow')).toBeUndefined()
  })

  it('queues a call submitted by two instances under one dedupe id once, and says which submit queued it', async () => {
    const queueName = `dedupe${++n}`
    const a = await open({ queueName })
    const b = await open({ queueName })
    const call = sampleCall('tick', { id: 'tick-1', dedupeId: 'tick:1' })
    expect(await a.submit(call)).toBe(true)
    expect(await b.submit(call)).toBe(false)
    const msg = await takeWithin(a, 'tick')
    await msg.ack()
    await sleep(500)
    expect(await a.take('tick')).toBeUndefined()
    expect(await b.take('tick')).toBeUndefined()
  })

  it('answers a submit no stream stores (the stream deleted under it) with a coded error, and one over the server max_payload too', async () => {
    const q = await open({ queueName: `gone${++n}`, maxBody: 1024 })
    await q.client.jsm.streams.delete(q.stream)
    const refused = await q.submit(sampleCall('lost')).then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(refused).toBeInstanceOf(FaasError)
    expect(refused).toMatchObject({ code: 'ERR_QUEUE_UNAVAILABLE' })
    expect((refused as Error).message).toMatch(/no JetStream stream/)
    const big = await q.submit(sampleCall('lost', { body: new Uint8Array(13 * 1024 * 1024) })).then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(big).toMatchObject({ code: 'ERR_BODY_TOO_LARGE' })
  })

  it('shares one function between two instances: each call taken exactly once, both take some', async () => {
    const queueName = `share${++n}`
    const a = await open({ queueName })
    const b = await open({ queueName })
    const ids: string[] = []
    for (let i = 0; i < 300; i++) {
      const c = sampleCall('shared')
      ids.push(c.id)
      await a.submit(c)
    }
    const got = { a: [] as string[], b: [] as string[] }
    const work = async (q: JetStreamQueue, into: string[]): Promise<void> => {
      const deadline = Date.now() + 20_000
      while (got.a.length + got.b.length < ids.length && Date.now() < deadline) {
        const m = await q.take('shared')
        if (!m) {
          await sleep(5)
          continue
        }
        into.push(m.call.id)
        // A little work per call, so the other instance has time to pull its share.
        await sleep(2)
        await m.ack()
      }
    }
    await Promise.all([work(a, got.a), work(b, got.b)])
    const all = [...got.a, ...got.b]
    expect(all.length).toBe(ids.length)
    expect(new Set(all).size).toBe(ids.length)
    expect(got.a.length).toBeGreaterThan(0)
    expect(got.b.length).toBeGreaterThan(0)
  })

  it('gives back buffered and unsettled messages on close, at once', async () => {
    const queueName = `giveback${++n}`
    const a = await open({ queueName, ackWaitMs: 60_000 })
    for (let i = 0; i < 5; i++) await a.submit(sampleCall('gb'))
    await takeWithin(a, 'gb')
    await a.close()
    const b = await open({ queueName, ackWaitMs: 60_000 })
    const started = Date.now()
    for (let i = 0; i < 5; i++) await (await takeWithin(b, 'gb', 10_000)).ack()
    // Far below the 60 s ack wait: nothing waited for a lease to expire.
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it('hands out bodies that may be transferred to a worker thread without breaking the messages behind them', async () => {
    const q = await open({ queueName: `transfer${++n}` })
    for (let i = 0; i < 6; i++) await q.submit(sampleCall('tr', { body: new TextEncoder().encode(`body-${i}`) }))
    await waitForBuffered(q, 'tr', 6)
    for (let i = 0; i < 6; i++) {
      const m = await takeWithin(q, 'tr')
      expect(new TextDecoder().decode(m.call.body as Uint8Array)).toBe(`body-${i}`)
      // What the replica does with a request body: move it to the worker thread.
      structuredClone(m.call.body, { transfer: [(m.call.body as Uint8Array).buffer] })
      await m.ack()
    }
  })

  it('carries bodies up to --max-body, and refuses a server whose max_payload is smaller', async () => {
    const q = await open({ queueName: `big${++n}`, maxBody: 10 * 1024 * 1024 })
    const body = new Uint8Array(10 * 1024 * 1024).map((_, i) => i % 251)
    await q.submit(sampleCall('big', { body }))
    const msg = await takeWithin(q, 'big')
    expect(msg.call.body?.length).toBe(body.length)
    expect(Buffer.compare(Buffer.from(msg.call.body as Uint8Array), Buffer.from(body))).toBe(0)
    await msg.ack()

    const tooBig = new JetStreamQueue({ url: nats.url, queueName: `big${++n}`, maxBody: 32 * 1024 * 1024, log: () => undefined })
    onTestFinished(() => tooBig.close())
    const err = await tooBig.start().then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(FaasError)
    expect((err as Error).message).toMatch(/max_payload/)
    expect((err as Error).message).toMatch(/--max-body/)
  })
})

describe.skipIf(SKIP_NATS)('owned nats-server', () => {
  it('keeps accepted calls across a restart on the same data dir, and stops a server left by a killed faasdev', async () => {
    const dataDir = tempDir()
    const first = new JetStreamQueue({ dataDir, maxBody: 1024 * 1024, log: () => undefined })
    onTestFinished(() => first.close())
    await first.start()
    const ids: string[] = []
    for (let i = 0; i < 20; i++) {
      const c = sampleCall('durable')
      ids.push(c.id)
      await first.submit(c)
    }
    const stalePid = first.ownedServer?.pid as number
    expect(readFileSync(join(dataDir, 'nats', 'nats-server.pid'), 'utf8').trim()).toBe(String(stalePid))
    // As after kill -9 of faasdev: nothing closed, the server still runs and holds the store.
    const second = new JetStreamQueue({ dataDir, maxBody: 1024 * 1024, log: () => undefined })
    onTestFinished(() => second.close())
    await second.start()
    expect(isAlive(stalePid)).toBe(false)
    expect(second.ownedServer?.pid).not.toBe(stalePid)
    const got: string[] = []
    while (got.length < ids.length) {
      const m = await takeWithin(second, 'durable')
      got.push(m.call.id)
      await m.ack()
    }
    expect(got).toEqual(ids)
    const pid = second.ownedServer?.pid as number
    await second.close()
    expect(isAlive(pid)).toBe(false)
  })

  it('refuses a data dir whose nats-server belongs to a faasdev that is still running', async () => {
    const dataDir = tempDir()
    // Stands for the other faasdev: a live node process named in the owner file.
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
    onTestFinished(() => void other.kill('SIGKILL'))
    mkdirSync(join(dataDir, 'nats'), { recursive: true })
    writeFileSync(join(dataDir, 'nats', 'owner.pid'), `${other.pid}\n`)
    const q = new JetStreamQueue({ dataDir, maxBody: 1024 * 1024, log: () => undefined })
    const err = await q.start().then(() => undefined, (e: unknown) => e)
    expect((err as FaasError).code).toBe('ERR_QUEUE_UNAVAILABLE')
    expect((err as Error).message).toMatch(/in use by another faasdev/)
    await q.close()
    // Once that faasdev is gone (killed), the data dir is free again.
    other.kill('SIGKILL')
    await new Promise((r) => other.once('exit', r))
    const again = new JetStreamQueue({ dataDir, maxBody: 1024 * 1024, log: () => undefined })
    onTestFinished(() => again.close())
    await again.start()
  })

  it('fails with how to get nats-server when there is no binary', async () => {
    const q = new JetStreamQueue({ dataDir: tempDir(), env: { PATH: '', NATS_SERVER_BIN: '/nonexistent/nats-server' }, log: () => undefined })
    const err = await q.start().then(() => undefined, (e: unknown) => e)
    expect((err as FaasError).code).toBe('ERR_QUEUE_UNAVAILABLE')
    expect((err as Error).message).toMatch(/apt-get install nats-server/)
    expect((err as Error).message).toMatch(/brew install nats-server/)
    await q.close()
  })

  it('NatsServer.close is idempotent and removes its pid file', async () => {
    const dir = tempDir()
    const s = new NatsServer({ dataDir: dir, maxPayload: 1024 * 1024, log: () => undefined })
    await s.start()
    expect(s.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/)
    await Promise.all([s.close(), s.close()])
    expect(() => readFileSync(join(dir, 'nats', 'nats-server.pid'))).toThrow()
  })
})
