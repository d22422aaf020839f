import { randomUUID } from 'node:crypto'
import { FaasError } from '../errors.js'
import { decideFault, type FaultStage } from './decide.js'
import { parseFaultSpec, type Fault, type FaultKind, type FaultTarget } from './spec.js'

export interface FaultStoreOptions {
  /** Resolves a function name for validation; undefined when no such function runs. */
  lookup: (name: string) => FaultTarget | undefined
  /** A call met a fault (for `faasdev_faults_injected_total`). */
  onInjected?: (fn: string, kind: FaultKind) => void
  /** @default Math.random */
  random?: () => number
}

/** The active faults of one runtime. Spent faults leave the list. */
export class FaultStore {
  private faults: Fault[] = []

  constructor(private readonly options: FaultStoreOptions) {}

  /** Validates and adds a fault; a bad field throws a 400 FaasError naming it. */
  inject(input: unknown): Fault {
    const { spec } = parseFaultSpec(input, this.options.lookup)
    const fault: Fault = {
      id: randomUUID(),
      function: spec.function,
      kind: spec.kind,
      count: spec.count,
      remaining: spec.count,
      probability: spec.probability,
      ...(spec.ms !== undefined ? { ms: spec.ms } : {}),
      ...(spec.status !== undefined ? { status: spec.status } : {}),
      createdAt: new Date().toISOString(),
    }
    this.faults.push(fault)
    return { ...fault }
  }

  /** Active faults, oldest first, of one function or all. */
  list(fn?: string): Fault[] {
    return this.faults.filter((f) => fn === undefined || f.function === fn).map((f) => ({ ...f }))
  }

  get(id: string): Fault {
    const fault = this.faults.find((f) => f.id === id)
    if (!fault) throw new FaasError('ERR_FAULT_NOT_FOUND', `no active fault with id ${id}\n`, { internal: 'gateway' })
    return { ...fault }
  }

  /** Removes one fault (404 when it is not active), or every fault; returns how many went. */
  clear(id?: string): number {
    if (id === undefined) {
      const n = this.faults.length
      this.faults = []
      return n
    }
    this.get(id)
    this.faults = this.faults.filter((f) => f.id !== id)
    return 1
  }

  /**
   * The fault this call meets at this stage, if any, spending one of its count; none when
   * `admits` (asked only once a fault is due) says the call will not go ahead.
   */
  take(stage: FaultStage, fn: string, admits?: (fault: Fault) => boolean): Fault | undefined {
    if (this.faults.length === 0) return undefined
    const fault = decideFault(this.faults, stage, fn, this.options.random ?? Math.random)
    if (!fault || (admits && !admits(fault))) return undefined
    fault.remaining--
    if (fault.remaining <= 0) this.faults = this.faults.filter((f) => f !== fault)
    this.options.onInjected?.(fn, fault.kind)
    return { ...fault }
  }
}
