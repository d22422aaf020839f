/**
 * The queue backend interface that the memory queue and the JetStream queue implement, and
 * that one contract test suite checks. Delivery is pull-based so the queue-worker takes a
 * message for a function only when one of its replicas has a free slot (credit-based
 * dispatch): nothing waits inside the backend on a busy function.
 */

/** One accepted async call, everything needed to invoke it later. */
export interface QueuedCall {
  /** The call id (`X-Call-Id`): the caller's, or generated at submit. */
  id: string
  /** Function name, without namespace. */
  function: string
  method: string
  /** Sub-path after `/async-function/NAME`, starting with `/`, with the raw query string. */
  path: string
  headers: Record<string, string | string[]>
  body: Uint8Array | null
  /** `X-Callback-Url`, already validated as http(s). */
  callbackUrl?: string
  /** Epoch milliseconds at submit. */
  submittedAt: number
  /**
   * Submits carrying the same id within the backend's window are queued once (JetStream's
   * `Nats-Msg-Id`, 2 minutes): how instances sharing a stream run one schedule once. The memory
   * queue, inside one process, has nothing to deduplicate.
   */
  dedupeId?: string
}

/** A message handed to the queue-worker; exactly one of ack / retry / deadLetter settles it. */
export interface QueueMessage {
  call: QueuedCall
  /** Deliveries so far including this one (1 on the first delivery). */
  attempt: number
  /** Done: remove it for good. */
  ack(): Promise<void>
  /** Deliver again after `delayMs`; the attempt count goes up by one. */
  retry(delayMs: number): Promise<void>
  /** Keep the lease alive while a long call runs (JetStream `working()`); a no-op in memory. */
  working(): void
}

export interface QueueStats {
  /** Waiting to be taken (including those waiting for a retry delay). */
  pending: number
  /** Of those, waiting for a retry delay to pass. */
  delayed: number
  /** Taken and not yet settled. */
  inflight: number
}

export interface QueueBackend {
  readonly kind: 'memory' | 'jetstream'
  start(): Promise<void>
  /**
   * Accepts a call; rejects with FaasError `ERR_QUEUE_FULL` (429) when full and drops nothing
   * already accepted. Resolves true when the call was queued now, false when a submit with the
   * same `dedupeId` queued it already (another instance sharing the stream).
   */
  submit(call: QueuedCall): Promise<boolean>
  /** `submit` without the promise, for backends that hold their messages in memory. */
  submitNow?(call: QueuedCall): boolean
  /** The next ready message for a function, FIFO, or undefined when none is ready now. */
  take(fn: string): Promise<QueueMessage | undefined>
  /** `take` without the promise, for backends that hold their messages in memory. */
  takeNow?(fn: string): QueueMessage | undefined
  /** Called when a function may have a message ready (after submit, or when a retry delay passes). */
  onReady(listener: (fn: string) => void): void
  /** Functions that have (or may have) messages. */
  functions(): string[]
  stats(fn: string): QueueStats
  /** Stops delivering and closes; messages taken and not settled return to the queue (or are lost with memory). Idempotent. */
  close(): Promise<void>
}
