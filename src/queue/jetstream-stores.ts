/**
 * With the JetStream queue nothing of the async path lives only in memory: the dead letters
 * and the call status go to JetStream beside the work queue, on the same connection.
 */
import type { QueueWorkerOptions } from '../queue-worker/worker.js'
import { JetStreamCallStatus, type JetStreamCallStatusOptions } from './jetstream-call-status.js'
import { JetStreamDeadLetters, type JetStreamDeadLettersOptions } from './jetstream-dead-letters.js'
import type { JetStreamQueue } from './jetstream.js'

export interface JetStreamStoreOptions {
  deadLetters?: Omit<JetStreamDeadLettersOptions, 'queue' | 'log'>
  callStatus?: Omit<JetStreamCallStatusOptions, 'queue' | 'log'>
}

/** The queue-worker's dead-letter and status stores for a JetStream queue (used once it has started). */
export function jetStreamStores(queue: JetStreamQueue, log: (line: string) => void, options: JetStreamStoreOptions = {}): Pick<QueueWorkerOptions, 'deadLetters' | 'callStatus' | 'forgetQueuedAfterMs'> {
  return {
    // Past the ack wait, a call accepted here and not running here is another instance's (or still waiting in the stream): the store answers for it.
    forgetQueuedAfterMs: queue.ackWaitMs,
    deadLetters: new JetStreamDeadLetters({ ...options.deadLetters, queue, log }),
    callStatus: new JetStreamCallStatus({ ...options.callStatus, queue, log }),
  }
}
