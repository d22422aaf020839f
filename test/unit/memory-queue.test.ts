import { describe, expect, it } from 'vitest'
import { MemoryQueue } from '../../src/queue/memory.js'
import { queueContract, sampleCall } from '../contract/queue-contract.js'

queueContract('memory', (limits) => new MemoryQueue(limits))

describe('memory queue', () => {
  it('keeps taking from a deep backlog at constant cost (ring buffer, not Array.shift)', async () => {
    const q = new MemoryQueue({ maxMessages: 300_000 })
    await q.start()
    const call = sampleCall('deep', { body: null })
    for (let i = 0; i < 200_000; i++) await q.submit({ ...call, id: String(i) })
    const started = performance.now()
    let n = 0
    for (;;) {
      const msg = q.takeNow('deep')
      if (!msg) break
      if (msg.call.id !== String(n)) throw new Error(`out of order at ${n}: ${msg.call.id}`)
      n++
      await msg.ack()
    }
    expect(n).toBe(200_000)
    // Array.shift on 200k elements takes seconds; the ring takes well under one.
    expect(performance.now() - started).toBeLessThan(2000)
    expect(q.totals()).toEqual({ messages: 0, bytes: 0 })
    await q.close()
  })

  it('counts retried-with-delay messages against the bounds until acknowledged', async () => {
    const q = new MemoryQueue({ maxMessages: 1 })
    await q.start()
    await q.submit(sampleCall('b'))
    const msg = q.takeNow('b')
    await msg?.retry(10_000)
    await expect(q.submit(sampleCall('b'))).rejects.toMatchObject({ code: 'ERR_QUEUE_FULL' })
    await q.close()
  })
})
