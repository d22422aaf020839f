/**
 * The replica's side of fault injection: what a call marked with a fault meets before (or
 * instead of) the handler. Each effect is the real thing, so the main thread sees what it
 * would see if a handler did it: a slow start, a hang, an uncaught error, an exhausted heap.
 */
import type { ReplicaFault } from '../protocol.js'
import type { CallInput, CallOutput } from './entry.js'

/** Kept at module level so nothing the oom fault allocates can be collected. */
const hoard: unknown[] = []

/** Resolves with the call's answer, or undefined when the handler should run after all (latency). */
export async function meetFault(fault: ReplicaFault, input: CallInput): Promise<CallOutput | undefined> {
  switch (fault.kind) {
    case 'latency':
      await new Promise((resolve) => setTimeout(resolve, fault.ms))
      return undefined
    case 'timeout':
      // Hangs without blocking the event loop until exec_timeout aborts the call: the main
      // thread has answered 504 by then, and the replica lives on as after a slow handler.
      await new Promise((resolve) => input.signal.addEventListener('abort', resolve, { once: true }))
      return { status: 504, headers: [], body: new Uint8Array() }
    case 'crash':
      // Uncaught, as a handler's stray throw would be: the worker thread dies with it.
      setImmediate(() => {
        throw new Error(`fault injected: crash (call ${input.message.callId})`)
      })
      return new Promise<never>(() => undefined)
    case 'oom':
      for (;;) hoard.push(new Array(1 << 16).fill(Math.random()))
  }
}
