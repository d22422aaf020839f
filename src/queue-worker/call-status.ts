/**
 * Where call status is kept beyond this process's memory (a JetStream KV bucket, in
 * `../queue/jetstream-call-status.ts`), so a restart or another instance sharing the cluster
 * still answers `GET /system/async-function/CALL_ID`. The queue-worker's in-memory
 * `CallStore` stays the cache every transition is made in; this store is written behind it.
 * With the memory queue there is none.
 */
import type { CallEntry, CallRecord } from './calls.js'

/** A status as stored: the API's record and when it last changed (epoch ms), to tell the newer of two copies. */
export type StoredCallRecord = CallRecord & { updatedAt: number }

export interface CallStatusStore {
  /** Creates or adopts what the store needs (a bucket). */
  start(): Promise<void>
  /**
   * A transition of `entry`: written later, never awaited by the caller, so the submit path
   * takes no extra round trip. The entry is read when the write goes out, so several
   * transitions close together make one write. `ifAbsent`: only when nothing is stored for
   * the call yet (a submit, which must not overwrite a `running` written by the instance
   * that already took the call).
   */
  write(entry: CallEntry, ifAbsent?: boolean): void
  /** Sends the call's latest transition now and resolves once it is stored (or failed and was logged): before an ack. */
  settled(id: string): Promise<void>
  /** Sends the call's latest transition now, not waiting for it to be stored. */
  sendNow(id: string): void
  /** True while a transition of the call is not yet stored: the cached entry is the newest. */
  pending(id: string): boolean
  /** The stored status, or undefined when none is stored. */
  read(id: string): Promise<StoredCallRecord | undefined>
  /** Stores what is pending; idempotent. */
  close(): Promise<void>
}
