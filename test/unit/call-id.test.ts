import { describe, expect, it } from 'vitest'
import { newCallId } from '../../src/gateway/call-id.js'

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('call ids', () => {
  it('are random version 4 UUIDs, as crypto.randomUUID() makes them, and never repeat', () => {
    const ids = new Set<string>()
    // Past several batches of random bytes, so a batch that was not drawn again would repeat ids.
    for (let i = 0; i < 5000; i++) {
      const id = newCallId()
      expect(id).toMatch(UUID_V4)
      ids.add(id)
    }
    expect(ids.size).toBe(5000)
    // Every hex digit outside the fixed version and variant bits takes many values: the bytes are random, not a counter.
    const sample = [...ids].slice(0, 2000)
    for (const at of [0, 7, 15, 21, 35]) expect(new Set(sample.map((id) => id[at])).size).toBe(16)
  })
})
