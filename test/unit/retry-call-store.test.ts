import { describe, expect, it } from 'vitest'
import { CallStore } from '../../src/queue-worker/calls.js'
import { MemoryDeadLetters } from '../../src/queue-worker/dead-letters.js'
import { sampleCall } from '../contract/queue-contract.js'

describe('call status store and dead letters (bounded)', () => {
  it('forgets the oldest finished calls beyond its bound, never the unfinished ones', () => {
    const store = new CallStore(3)
    const calls = Array.from({ length: 6 }, (_, i) => sampleCall('f', { id: `c${i}` }))
    for (const c of calls) store.queued(c)
    store.update('c5', { status: 'running', attempts: 1 })
    for (const id of ['c0', 'c1', 'c2', 'c3']) store.update(id, { status: 'succeeded', attempts: 1, lastStatus: 200 })
    // c0 finished first and is over the bound of 3 finished records.
    expect(store.get('c0')).toBeUndefined()
    expect(store.get('c1')?.status).toBe('succeeded')
    expect(store.unfinished().map((r) => r.callId).sort()).toEqual(['c4', 'c5'])
    // Re-queued (a replay), a call counts as unfinished again and is not evicted.
    store.queued(calls[1]!)
    store.update('c4', { status: 'failed' })
    store.update('c5', { status: 'dead-lettered' })
    expect(store.get('c1')?.status).toBe('queued')
    expect(store.get('c2')).toBeUndefined()
    expect(store.get('c3')?.status).toBe('succeeded')
  })

  it('a submit resuming after a delivery of its call (JetStream: delivered before the publish ack) keeps the running record', () => {
    const store = new CallStore()
    const call = sampleCall('f', { id: 'early' })
    // The delivery made the record, as attempt() does, and the call is running.
    const running = store.ensure(call)
    running.status = 'running'
    expect(store.accepted(call, undefined, undefined)).toBe(running)
    running.status = 'succeeded'
    store.settled(running)
    expect(store.get('early')?.status).toBe('succeeded')
    // A call id used again after its call finished gets a fresh record.
    const before = store.entry('early')
    const again = store.accepted(call, before, before?.status)
    expect(again).not.toBe(running)
    expect(store.get('early')?.status).toBe('queued')
  })

  it('keeps dead letters up to a bound, reporting each one dropped', async () => {
    const dropped: string[] = []
    const letters = new MemoryDeadLetters(2, (l) => dropped.push(l.call.id))
    for (const id of ['a', 'b', 'c']) await letters.add({ call: sampleCall(id === 'c' ? 'g' : 'f', { id }), attempts: 3, lastStatus: 503, lastHeaders: [], lastBody: new Uint8Array(), deadLetteredAt: Date.now() })
    expect(dropped).toEqual(['a'])
    expect((await letters.list()).map((l) => l.call.id)).toEqual(['b', 'c'])
    expect(letters.counts().get('f')).toBe(1)
    expect((await letters.list('g')).map((l) => l.call.id)).toEqual(['c'])
    const b = await letters.get('b')
    expect(b?.call.id).toBe('b')
    // Read, not removed: a replay removes it only once its call is queued again.
    expect((await letters.get('b'))?.call.id).toBe('b')
    expect(letters.counts().get('f')).toBe(1)
    // A newer letter of the same call (dead-lettered again) is not removed in place of the one read.
    const again = { ...(b as NonNullable<typeof b>), deadLetteredAt: Date.now() + 1 }
    await letters.add(again)
    expect(await letters.remove(b as NonNullable<typeof b>)).toBe(false)
    expect(await letters.remove(again)).toBe(true)
    expect(await letters.remove(again)).toBe(false)
    expect(await letters.get('b')).toBeUndefined()
    expect([...letters.counts()]).toEqual([['g', 1]])
  })
})
