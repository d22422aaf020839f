/**
 * What the queue-worker remembers about async calls: the status of recent calls (for
 * `GET /system/async-function/CALL_ID`) and the dead letters. Both are bounded: finished
 * records are forgotten oldest first, so a long-running process does not grow without end.
 */
import type { QueuedCall } from '../queue/types.js'

export type CallStatus = 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'dead-lettered'

export interface CallRecord {
  callId: string
  function: string
  status: CallStatus
  /** Attempts made so far (internal saturation never counts). */
  attempts: number
  maxAttempts?: number
  lastStatus?: number
  submittedAt: string
  startedAt?: string
  finishedAt?: string
  /** When a retrying call is due again. */
  nextAttemptAt?: string
  callbackUrl?: string
  /** Status of the callback POST once done, or the error that made it give up. */
  callback?: { status?: number; error?: string; attempts: number }
}

export interface DeadLetter {
  call: QueuedCall
  attempts: number
  lastStatus: number
  lastHeaders: [string, string][]
  lastBody: Uint8Array
  deadLetteredAt: number
}

const TERMINAL: ReadonlySet<CallStatus> = new Set(['succeeded', 'failed', 'dead-lettered'])

export function isTerminal(status: CallStatus): boolean {
  return TERMINAL.has(status)
}

export class CallStore {
  private readonly records = new Map<string, CallRecord>()
  /** Finished call ids in the order they finished; Map keeps insertion order. */
  private readonly finished = new Map<string, true>()

  constructor(private readonly maxFinished = 10_000) {}

  get(id: string): CallRecord | undefined {
    return this.records.get(id)
  }

  queued(call: QueuedCall): CallRecord {
    this.finished.delete(call.id)
    const record: CallRecord = { callId: call.id, function: call.function, status: 'queued', attempts: 0, submittedAt: new Date(call.submittedAt).toISOString() }
    if (call.callbackUrl) record.callbackUrl = call.callbackUrl
    this.records.set(call.id, record)
    return record
  }

  /** The record of a call, created when another process (a shared JetStream) accepted it. */
  ensure(call: QueuedCall): CallRecord {
    return this.records.get(call.id) ?? this.queued(call)
  }

  update(id: string, patch: Partial<CallRecord>): void {
    const record = this.records.get(id)
    if (!record) return
    Object.assign(record, patch)
    if (isTerminal(record.status)) {
      this.finished.delete(id)
      this.finished.set(id, true)
      while (this.finished.size > this.maxFinished) {
        const oldest = this.finished.keys().next().value as string
        this.finished.delete(oldest)
        this.records.delete(oldest)
      }
    }
  }

  /** Calls accepted and not finished. */
  unfinished(): CallRecord[] {
    return [...this.records.values()].filter((r) => !isTerminal(r.status))
  }
}

export class DeadLetters {
  private readonly letters = new Map<string, DeadLetter>()

  constructor(
    private readonly max = 10_000,
    private readonly onEvict: (letter: DeadLetter) => void = () => undefined,
  ) {}

  add(letter: DeadLetter): void {
    this.letters.delete(letter.call.id)
    this.letters.set(letter.call.id, letter)
    while (this.letters.size > this.max) {
      const oldest = this.letters.values().next().value as DeadLetter
      this.letters.delete(oldest.call.id)
      this.onEvict(oldest)
    }
  }

  take(id: string): DeadLetter | undefined {
    const letter = this.letters.get(id)
    this.letters.delete(id)
    return letter
  }

  list(fn?: string): DeadLetter[] {
    const all = [...this.letters.values()]
    return fn ? all.filter((l) => l.call.function === fn) : all
  }

  count(fn: string): number {
    let n = 0
    for (const l of this.letters.values()) if (l.call.function === fn) n++
    return n
  }
}
