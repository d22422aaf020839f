/**
 * Where dead letters are kept: calls whose last attempt still failed with a retry code, with
 * their request and last result, until they are replayed. In memory with the memory queue;
 * in a JetStream stream with the JetStream queue (`../queue/jetstream-dead-letters.ts`), so
 * they survive a restart and every instance sharing the cluster sees the same ones.
 */
import type { DeadLetter } from './calls.js'

export interface DeadLetterStore {
  /** Creates or adopts what the store needs (a stream). */
  start(): Promise<void>
  /** Keeps a letter (replacing one of the same call and function); resolves once it is stored, rejects when it could not be. */
  add(letter: DeadLetter): Promise<void>
  /** Removes a letter and returns it whole, for replay; undefined when there is none (or another instance took it first). */
  take(id: string): Promise<DeadLetter | undefined>
  /** The letters, oldest first, all or one function's. A store may leave the request body out (`call.body` null): `take` returns it. */
  list(fn?: string): Promise<DeadLetter[]>
  /** Letters per function, as last known: synchronous, for stats that are read often. */
  counts(): ReadonlyMap<string, number>
  close(): Promise<void>
}

/** Dead letters in process memory: bounded, the oldest dropped (and reported) beyond `max`. Lost with the process. */
export class MemoryDeadLetters implements DeadLetterStore {
  private readonly letters = new Map<string, DeadLetter>()
  private readonly perFunction = new Map<string, number>()

  constructor(
    private readonly max = 10_000,
    private readonly onEvict: (letter: DeadLetter) => void = () => undefined,
  ) {}

  async start(): Promise<void> {}

  async add(letter: DeadLetter): Promise<void> {
    this.remove(letter.call.id)
    this.letters.set(letter.call.id, letter)
    this.perFunction.set(letter.call.function, (this.perFunction.get(letter.call.function) ?? 0) + 1)
    while (this.letters.size > this.max) {
      const oldest = this.letters.values().next().value as DeadLetter
      this.remove(oldest.call.id)
      this.onEvict(oldest)
    }
  }

  async take(id: string): Promise<DeadLetter | undefined> {
    return this.remove(id)
  }

  async list(fn?: string): Promise<DeadLetter[]> {
    const all = [...this.letters.values()]
    return fn ? all.filter((l) => l.call.function === fn) : all
  }

  counts(): ReadonlyMap<string, number> {
    return this.perFunction
  }

  async close(): Promise<void> {}

  private remove(id: string): DeadLetter | undefined {
    const letter = this.letters.get(id)
    if (!letter) return undefined
    this.letters.delete(id)
    const n = (this.perFunction.get(letter.call.function) ?? 1) - 1
    if (n <= 0) this.perFunction.delete(letter.call.function)
    else this.perFunction.set(letter.call.function, n)
    return letter
  }
}
