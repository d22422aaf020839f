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
  /**
   * A letter whole (request body included), for replay, left in place; undefined when there
   * is none. Rejects with a coded error when the store cannot be read or the letter decoded.
   */
  get(id: string): Promise<DeadLetter | undefined>
  /**
   * Removes the letter `get` returned, once its call is back on the queue; a newer letter of
   * the same call (dead-lettered again since) stays. False when it was gone already.
   */
  remove(letter: DeadLetter): Promise<boolean>
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
    this.drop(letter.call.id)
    this.letters.set(letter.call.id, letter)
    this.perFunction.set(letter.call.function, (this.perFunction.get(letter.call.function) ?? 0) + 1)
    while (this.letters.size > this.max) {
      const oldest = this.letters.values().next().value as DeadLetter
      this.drop(oldest.call.id)
      this.onEvict(oldest)
    }
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    return this.letters.get(id)
  }

  async remove(letter: DeadLetter): Promise<boolean> {
    if (this.letters.get(letter.call.id) !== letter) return false
    this.drop(letter.call.id)
    return true
  }

  async list(fn?: string): Promise<DeadLetter[]> {
    const all = [...this.letters.values()]
    return fn ? all.filter((l) => l.call.function === fn) : all
  }

  counts(): ReadonlyMap<string, number> {
    return this.perFunction
  }

  async close(): Promise<void> {}

  private drop(id: string): DeadLetter | undefined {
    const letter = this.letters.get(id)
    if (!letter) return undefined
    this.letters.delete(id)
    const n = (this.perFunction.get(letter.call.function) ?? 1) - 1
    if (n <= 0) this.perFunction.delete(letter.call.function)
    else this.perFunction.set(letter.call.function, n)
    return letter
  }
}
