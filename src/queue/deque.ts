/**
 * A double-ended queue on a growable ring buffer: O(1) push and shift at both ends.
 * `Array.prototype.shift` is O(n) on large arrays, which makes a deep backlog collapse.
 */
export class Deque<T> {
  private buf: (T | undefined)[]
  private head = 0
  private size = 0

  constructor(initialCapacity = 16) {
    let cap = 16
    while (cap < initialCapacity) cap *= 2
    this.buf = new Array<T | undefined>(cap)
  }

  get length(): number {
    return this.size
  }

  push(value: T): void {
    if (this.size === this.buf.length) this.grow()
    this.buf[(this.head + this.size) & (this.buf.length - 1)] = value
    this.size++
  }

  unshift(value: T): void {
    if (this.size === this.buf.length) this.grow()
    this.head = (this.head - 1 + this.buf.length) & (this.buf.length - 1)
    this.buf[this.head] = value
    this.size++
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined
    const value = this.buf[this.head]
    // Clear the slot so the ring does not keep a taken message alive.
    this.buf[this.head] = undefined
    this.head = (this.head + 1) & (this.buf.length - 1)
    this.size--
    return value
  }

  pop(): T | undefined {
    if (this.size === 0) return undefined
    const i = (this.head + this.size - 1) & (this.buf.length - 1)
    const value = this.buf[i]
    this.buf[i] = undefined
    this.size--
    return value
  }

  peek(): T | undefined {
    return this.size === 0 ? undefined : this.buf[this.head]
  }

  at(index: number): T | undefined {
    if (index < 0 || index >= this.size) return undefined
    return this.buf[(this.head + index) & (this.buf.length - 1)]
  }

  /** Removes every element for which `drop` is true, keeping the order of the others. */
  removeWhere(drop: (value: T) => boolean): number {
    const kept: T[] = []
    let removed = 0
    for (let i = 0; i < this.size; i++) {
      const v = this.at(i) as T
      if (drop(v)) removed++
      else kept.push(v)
    }
    if (removed === 0) return 0
    this.buf.fill(undefined)
    this.head = 0
    this.size = 0
    for (const v of kept) this.push(v)
    return removed
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.size; i++) yield this.at(i) as T
  }

  private grow(): void {
    // Capacity stays a power of two so the index wraps with a mask.
    const next = new Array<T | undefined>(this.buf.length * 2)
    for (let i = 0; i < this.size; i++) next[i] = this.buf[(this.head + i) & (this.buf.length - 1)]
    this.buf = next
    this.head = 0
  }
}
