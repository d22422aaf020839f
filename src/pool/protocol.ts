/**
 * The one message protocol between the main thread and a replica (worker thread).
 * Several calls are in flight per replica over the worker's own message port; each
 * carries an id the answer echoes. Results come back over a port of their own
 * (`ReplicaData.answers`); everything else (ready, ping/pong) over the worker's port.
 */
import type { MessagePort } from 'node:worker_threads'
import type { HandlerStyle } from '../config/stack.js'
import type { WireCalls, WireResults } from './wire.js'

export interface ReplicaData {
  functionName: string
  replicaName: string
  style: HandlerStyle
  lang: string
  secrets: Record<string, string>
  /** Bytes a response may have; a handler's stream is cut off as soon as it passes them. @default no limit */
  maxResponse?: number
  /**
   * Where the replica sends its results, and a count it raises after each send: with both, the
   * main thread can take a result synchronously (`receiveMessageOnPort`) while it waits for it.
   */
  answers: MessagePort
  answered: SharedArrayBuffer
}

export type Headers = Record<string, string | string[]>

/** One call, as the replica reads it (it crosses as part of a {@link CallsMessage}). */
export interface InvokeMessage {
  id: number
  method: string
  /** Sub-path after `/function/NAME`, always starting with `/`, with the raw query string. */
  path: string
  headers: Headers
  body: Uint8Array | null
  callId: string
  /** An injected fault this call meets inside the replica (`src/faults/`). */
  fault?: ReplicaFault
}

/** The faults whose effect happens inside the replica, so it is the real one. */
export type ReplicaFault = { kind: 'latency'; ms: number } | { kind: 'timeout' | 'crash' | 'oom' }

export interface AbortMessage {
  t: 'abort'
  id: number
}

export interface PingMessage {
  t: 'ping'
  seq: number
}

/**
 * The calls of one event-loop turn sent as one message: one wake-up of the worker thread
 * and one serialisation for all of them instead of one each (`wire.ts` says how they are laid out).
 */
export interface CallsMessage {
  t: 'calls'
  calls: WireCalls
}

export type ToWorker = CallsMessage | AbortMessage | PingMessage

/**
 * Turns a spare worker into a replica of one function: its environment and secrets arrive
 * only here (never at the spare's start), then the bundle is imported.
 */
export interface AssignMessage {
  t: 'assign'
  data: ReplicaData
  /** The replica's whole `process.env` (a worker's env is its own copy, replaced in place). */
  env: Record<string, string>
  /** `file:` URL of the bundle. */
  url: string
}

/** A spare is past its warm-up and waits for an {@link AssignMessage}. */
export interface SpareReadyMessage {
  t: 'spare-ready'
}

export interface ReadyMessage {
  t: 'ready'
}

/** What a call answered, as the replica sends it back (with its id, and its time in the replica). */
export interface CallOutput {
  status: number
  headers: [string, string][]
  /**
   * A string when the handler answered with text (a string or a JSON value): sent as is, it
   * costs no ArrayBuffer to make, move and free per call, and the gateway writes it out whole.
   */
  body: Uint8Array | string
  /** The response passed `maxResponse`: nothing of it is sent, the platform answers 502. */
  tooLarge?: true
}

export interface PongMessage {
  t: 'pong'
  seq: number
  /** Event-loop utilisation since the previous pong, 0…1 (for cpu-based scaling). */
  elu: number
}

/**
 * Results finished in the same burst of microtasks, sent as one message over the replica's
 * result port (`wire.ts` says how they are laid out). Each carries how long its call took in
 * the replica, from its message being read to its result, in ms.
 */
export interface ResultsMessage {
  t: 'results'
  results: WireResults
}

/** What a replica sends on the worker's own port. */
export type FromWorker = ReadyMessage | PongMessage
