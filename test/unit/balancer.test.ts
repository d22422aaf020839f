import { describe, expect, it } from 'vitest'
import { freeSlots, pickReplica, type ReplicaLoad } from '../../src/pool/balancer.js'

const r = (inflight: number, accepting = true): ReplicaLoad => ({ inflight, accepting })

describe('pickReplica', () => {
  it('picks the least-loaded replica', () => {
    expect(pickReplica([r(3), r(1), r(2)], 0)).toBe(1)
    expect(pickReplica([r(5), r(4), r(0), r(1)], 10)).toBe(2)
  })

  it('rotates among ties from the start index, so an idle pool spreads calls', () => {
    const idle = [r(0), r(0), r(0)]
    expect([0, 1, 2, 3, 4].map((start) => pickReplica(idle, 0, start))).toEqual([0, 1, 2, 0, 1])
    // Ties at a non-zero load also go to the first candidate at or after `start`.
    const busy = [r(2), r(1), r(1), r(2)]
    expect(pickReplica(busy, 0, 0)).toBe(1)
    expect(pickReplica(busy, 0, 2)).toBe(2)
    expect(pickReplica(busy, 0, 3)).toBe(1)
  })

  it('skips replicas at max_inflight and answers -1 when every one is full', () => {
    expect(pickReplica([r(2), r(1)], 2)).toBe(1)
    expect(pickReplica([r(2), r(2)], 2)).toBe(-1)
    // 0 means no limit: a heavily loaded replica still takes calls.
    expect(pickReplica([r(1000)], 0)).toBe(0)
  })

  it('never picks a replica that is not accepting (starting or draining), however idle', () => {
    expect(pickReplica([r(0, false), r(3)], 0)).toBe(1)
    expect(pickReplica([r(0, false), r(0, false)], 0)).toBe(-1)
    expect(pickReplica([], 0)).toBe(-1)
  })
})

describe('freeSlots', () => {
  it('sums free slots of accepting replicas under max_inflight', () => {
    expect(freeSlots([r(1), r(0), r(3)], 3)).toBe(2 + 3 + 0)
    expect(freeSlots([r(1), r(0, false)], 3)).toBe(2)
    expect(freeSlots([r(2), r(2)], 2)).toBe(0)
  })

  it('is Infinity without a limit, but 0 when nothing accepts calls', () => {
    expect(freeSlots([r(50)], 0)).toBe(Infinity)
    expect(freeSlots([r(0, false)], 0)).toBe(0)
    expect(freeSlots([], 0)).toBe(0)
  })
})
