import { describe, expect, it } from 'vitest'
import { decideFault } from '../../src/faults/decide.js'
import { describeFault, parseFaultSpec, type Fault } from '../../src/faults/spec.js'
import { FaultStore } from '../../src/faults/store.js'

const fault = (over: Partial<Fault>): Fault => ({ id: 'x', function: 'a', kind: 'crash', count: 1, remaining: 1, probability: 1, createdAt: '', ...over })
const never = (): number => {
  throw new Error('no roll expected')
}

describe('decideFault', () => {
  it('takes the oldest active fault of the function for the stage', () => {
    const faults = [fault({ id: '1', function: 'b' }), fault({ id: '2', kind: 'callback' }), fault({ id: '3', remaining: 0 }), fault({ id: '4' }), fault({ id: '5' })]
    expect(decideFault(faults, 'invoke', 'a', never)?.id).toBe('4')
    expect(decideFault(faults, 'callback', 'a', never)?.id).toBe('2')
    expect(decideFault(faults, 'invoke', 'c', never)).toBeUndefined()
  })

  it('rolls once per fault below probability 1 and moves on when the roll misses', () => {
    const faults = [fault({ id: '1', probability: 0.3 }), fault({ id: '2', probability: 0.6 })]
    const rolls = [0.5, 0.5]
    expect(decideFault(faults, 'invoke', 'a', () => rolls.shift() as number)?.id).toBe('2')
    expect(rolls).toEqual([])
    expect(decideFault(faults, 'invoke', 'a', () => 0.99)).toBeUndefined()
    expect(decideFault([fault({ probability: 0 })], 'invoke', 'a', () => 0)).toBeUndefined()
  })
})

describe('FaultStore', () => {
  const lookup = (name: string) => (name === 'a' || name === 'a.openfaas-fn' ? { name: 'a', execTimeoutMs: 0 } : undefined)

  it('spends a fault per call that meets it and forgets it when spent', () => {
    const met: string[] = []
    const store = new FaultStore({ lookup, onInjected: (fn, kind) => met.push(`${fn}:${kind}`) })
    const f = store.inject({ function: 'a.openfaas-fn', kind: 'error', count: 2 })
    expect(f).toMatchObject({ function: 'a', status: 500, remaining: 2 })
    expect(store.take('callback', 'a')).toBeUndefined()
    expect(store.take('invoke', 'a')).toMatchObject({ remaining: 1 })
    expect(store.take('invoke', 'a')).toMatchObject({ remaining: 0 })
    expect(store.take('invoke', 'a')).toBeUndefined()
    expect(store.list()).toEqual([])
    expect(met).toEqual(['a:error', 'a:error'])
  })

  it('refuses a timeout fault for a function without exec_timeout, naming the field', () => {
    const store = new FaultStore({ lookup })
    expect(() => store.inject({ function: 'a', kind: 'timeout' })).toThrow(/^kind: a timeout fault needs an exec_timeout on a/)
    expect(() => store.get('nope')).toThrow(/no active fault/)
  })
})

describe('parseFaultSpec and describeFault', () => {
  it('fills the defaults and says what a fault does', () => {
    const { spec } = parseFaultSpec({ function: 'a', kind: 'error' }, () => ({ name: 'a', execTimeoutMs: 1000 }))
    expect(spec).toEqual({ function: 'a', kind: 'error', count: 1, probability: 1, status: 500 })
    expect(describeFault(fault({ kind: 'latency', ms: 200, count: 3, remaining: 2, probability: 0.25 }))).toBe('latency 200 ms (2 of 3 left, p=0.25)')
  })
})
