/**
 * What the queue-worker remembers about async calls: the status of recent calls (for
 * `GET /system/async-function/CALL_ID`), bounded: finished records are forgotten oldest
 * first, so a long-running process does not grow without end. The dead letters' shape is
 * here too; where they are kept is `dead-letters.ts`.
 */
import { Deque } from '../queue/deque.js'
import type { QueuedCall } from '../queue/types.js'
import type { CallbackOutcome } from './callback.js'
import { redactUrl } from '../logs/redact.js'

export type CallStatus = 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'dead-lettered'

/** A call's status as `GET /system/async-function/CALL_ID` shows it. */
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
  callback?: CallbackOutcome
}

/**
 * What is kept per call: times as epoch milliseconds, turned into ISO strings only when the
 * status is read (thousands of calls a second are recorded, few are ever looked at). One
 * class, so every record has the same shape.
 */
export class CallEntry {
  status: CallStatus = 'queued'
  attempts = 0
  maxAttempts: number | undefined = undefined
  lastStatus: number | undefined = undefined
  startedAt: number | undefined = undefined
  finishedAt: number | undefined = undefined
  nextAttemptAt: number | undefined = undefined
  callback: CallbackOutcome | undefined = undefined
  /** Times this record sits in the store's finished list. */
  filed = 0
  /** Epoch ms of the last transition written behind (JetStream), to tell it from a stored copy. */
  updatedAt = 0

  constructor(
    readonly callId: string,
    readonly fn: string,
    readonly submittedAt: number,
    readonly callbackUrl: string | undefined,
  ) {}

  toJSON(): CallRecord {
    const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString())
    const record: CallRecord = { callId: this.callId, function: this.fn, status: this.status, attempts: this.attempts, submittedAt: iso(this.submittedAt) as string }
    if (this.maxAttempts !== undefined) record.maxAttempts = this.maxAttempts
    if (this.lastStatus !== undefined) record.lastStatus = this.lastStatus
    if (this.startedAt !== undefined) record.startedAt = iso(this.startedAt)
    if (this.finishedAt !== undefined) record.finishedAt = iso(this.finishedAt)
    if (this.nextAttemptAt !== undefined) record.nextAttemptAt = iso(this.nextAttemptAt)
    if (this.callbackUrl !== undefined) record.callbackUrl = redactUrl(this.callbackUrl)
    if (this.callback !== undefined) record.callback = this.callback
    return record
  }

  /**
   * `JSON.stringify({ ...this.toJSON(), updatedAt })`, the text a status store keeps, made
   * without the record object: a call is written three times or more, thousands of times a
   * second. Nothing of it is kept on the entry: pieces cached here for a call's later writes
   * outlived the young generation with the entry, and cost more in garbage collection than
   * formatting them again (measured, see bench/RESULTS.md).
   */
  storedJson(): string {
    let s = `{"callId":${JSON.stringify(this.callId)},"function":${JSON.stringify(this.fn)},"status":"${this.status}","attempts":${this.attempts},"submittedAt":"${new Date(this.submittedAt).toISOString()}"`
    if (this.maxAttempts !== undefined) s += `,"maxAttempts":${this.maxAttempts}`
    if (this.lastStatus !== undefined) s += `,"lastStatus":${this.lastStatus}`
    if (this.startedAt !== undefined) s += `,"startedAt":"${new Date(this.startedAt).toISOString()}"`
    if (this.finishedAt !== undefined) s += `,"finishedAt":"${new Date(this.finishedAt).toISOString()}"`
    if (this.nextAttemptAt !== undefined) s += `,"nextAttemptAt":"${new Date(this.nextAttemptAt).toISOString()}"`
    if (this.callbackUrl !== undefined) s += `,"callbackUrl":${JSON.stringify(redactUrl(this.callbackUrl))}`
    if (this.callback !== undefined) s += `,"callback":${JSON.stringify(this.callback)}`
    return `${s},"updatedAt":${this.updatedAt}}`
  }
}

/** Fields a status change may set; times in epoch milliseconds. */
export type CallPatch = Partial<Pick<CallEntry, 'status' | 'attempts' | 'maxAttempts' | 'lastStatus' | 'startedAt' | 'finishedAt' | 'nextAttemptAt' | 'callback'>>

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
  private readonly records = new Map<string, CallEntry>()
  /**
   * Records in the order they finished, oldest first. A deque, not a Map: evicting a Map's
   * oldest key walks past every key deleted before it, which made each finished call cost
   * more the longer the process ran. A record filed again (a replayed call) is skipped when
   * its older filing comes up.
   */
  private readonly finished = new Deque<CallEntry>()

  private sweptAt = Date.now()

  /**
   * `forgetQueuedAfterMs`: with a shared queue, a call accepted here may run on another
   * instance and never settle here. Its entry, `queued` (or `retrying`, handed back to the
   * stream) with no change here for that long, is forgotten; the status store answers for it.
   * Undefined: every call runs here and settles, nothing is forgotten.
   */
  constructor(
    private readonly maxFinished = 10_000,
    private readonly forgetQueuedAfterMs?: number,
  ) {}

  /** A call's status, as the API shows it. */
  get(id: string): CallRecord | undefined {
    return this.records.get(id)?.toJSON()
  }

  /** The live record of a call, for the queue-worker to update. */
  entry(id: string): CallEntry | undefined {
    return this.records.get(id)
  }

  queued(call: QueuedCall): CallEntry {
    const entry = new CallEntry(call.id, call.function, call.submittedAt, call.callbackUrl)
    this.records.set(call.id, entry)
    return entry
  }

  /** The record of a call, created when another process (a shared JetStream) accepted it. */
  ensure(call: QueuedCall): CallEntry {
    return this.records.get(call.id) ?? this.queued(call)
  }

  /**
   * The record of a call just put on the queue, given the record (and its status) from before
   * the submit. A delivery here can come before the submit's ack resumes (JetStream): it made
   * or took over the record, which is then the live one and is kept. Otherwise a fresh
   * `queued` record, replacing a finished call's of the same id.
   */
  accepted(call: QueuedCall, prior: CallEntry | undefined, priorStatus: CallStatus | undefined): CallEntry {
    this.forgetStale()
    const current = this.records.get(call.id)
    if (current && (current !== prior || current.status !== priorStatus || !isTerminal(current.status))) return current
    return this.queued(call)
  }

  /** Undoes `queued(call)` when the call did not go on the queue after all, unless a delivery here took the record over. */
  restore(entry: CallEntry, prior: CallEntry | undefined): void {
    if (this.records.get(entry.callId) !== entry || entry.status !== 'queued') return
    if (prior) this.records.set(entry.callId, prior)
    else this.records.delete(entry.callId)
  }

  /** Forgets entries of calls run elsewhere (see the constructor); walks the records at most once per bound. */
  private forgetStale(now = Date.now()): void {
    const bound = this.forgetQueuedAfterMs
    if (bound === undefined || now - this.sweptAt < bound) return
    this.sweptAt = now
    for (const [id, e] of this.records) {
      if (e.status !== 'queued' && e.status !== 'retrying') continue
      const since = Math.max(e.updatedAt || e.submittedAt, e.nextAttemptAt ?? 0)
      if (now - since > bound) this.records.delete(id)
    }
  }

  update(id: string, patch: CallPatch): void {
    const entry = this.records.get(id)
    if (!entry) return
    Object.assign(entry, patch)
    if (isTerminal(entry.status)) this.settled(entry)
  }

  /** Files a record that reached a final status among the recent ones, forgetting the oldest beyond the bound. */
  settled(entry: CallEntry): void {
    if (this.records.get(entry.callId) !== entry) return
    entry.filed++
    this.finished.push(entry)
    while (this.finished.length > this.maxFinished) {
      const oldest = this.finished.shift() as CallEntry
      oldest.filed--
      if (oldest.filed === 0 && isTerminal(oldest.status) && this.records.get(oldest.callId) === oldest) this.records.delete(oldest.callId)
    }
  }

  /** Calls accepted and not finished. */
  unfinished(): CallRecord[] {
    this.forgetStale()
    const out: CallRecord[] = []
    for (const r of this.records.values()) if (!isTerminal(r.status)) out.push(r.toJSON())
    return out
  }
}
