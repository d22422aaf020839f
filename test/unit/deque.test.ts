import { describe, expect, it } from 'vitest'
import { Deque } from '../../src/queue/deque.js'

describe('Deque', () => {
  it('behaves like an array used as a queue at both ends, across many wrap-arounds and growths', () => {
    const d = new Deque<number>(2)
    const model: number[] = []
    let next = 0
    // A deterministic pseudo-random walk of operations, checked against a plain array.
    let seed = 12345
    const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
    for (let i = 0; i < 20_000; i++) {
      const r = rand()
      if (r < 0.35) {
        d.push(next)
        model.push(next++)
      } else if (r < 0.5) {
        d.unshift(next)
        model.unshift(next++)
      } else if (r < 0.85) expect(d.shift()).toBe(model.shift())
      else expect(d.pop()).toBe(model.pop())
      expect(d.length).toBe(model.length)
      expect(d.peek()).toBe(model[0])
    }
    expect([...d]).toEqual(model)
  })

  it('answers undefined when empty and removes by predicate keeping order', () => {
    const d = new Deque<number>()
    expect(d.shift()).toBeUndefined()
    expect(d.pop()).toBeUndefined()
    expect(d.at(0)).toBeUndefined()
    for (let i = 0; i < 40; i++) d.push(i)
    for (let i = 0; i < 10; i++) d.shift()
    expect(d.removeWhere((v) => v % 3 === 0)).toBe(10)
    expect([...d]).toEqual([...Array(30).keys()].map((i) => i + 10).filter((v) => v % 3 !== 0))
    d.push(99)
    expect(d.at(d.length - 1)).toBe(99)
  })
})
