import { DEFAULT_NAMESPACE } from '../router/router.js'

/** One line of handler output, in OpenFaaS's `/system/logs` shape. */
export interface LogMessage {
  name: string
  namespace: string
  instance: string
  /** RFC 3339 with milliseconds. */
  timestamp: string
  text: string
}

export interface TailOptions {
  /** The last N lines; ≤ 0 or undefined means all that are kept. */
  tail?: number
  /** Only lines at or after this time. */
  since?: Date
}

type Listener = (message: LogMessage) => void

/** Replica names are `FUNCTION-N`: the function is everything before the last dash. */
export function functionOfReplica(replica: string): string {
  const dash = replica.lastIndexOf('-')
  return dash > 0 && /^\d+$/.test(replica.slice(dash + 1)) ? replica.slice(0, dash) : replica
}

/**
 * The last lines each function wrote, bounded per function (a chatty function cannot push
 * out another's lines or grow memory without limit), with subscribers for `follow`.
 */
export class LogBuffer {
  private readonly lines = new Map<string, LogMessage[]>()
  private readonly listeners = new Map<string, Set<Listener>>()

  /** @param perFunction lines kept per function. @default 1000 */
  constructor(readonly perFunction = 1000) {}

  push(replica: string, text: string, now = new Date()): LogMessage {
    const name = functionOfReplica(replica)
    const message: LogMessage = { name, namespace: DEFAULT_NAMESPACE, instance: replica, timestamp: now.toISOString(), text }
    let list = this.lines.get(name)
    if (!list) this.lines.set(name, (list = []))
    list.push(message)
    // Trim in batches so a full buffer does not shift the array on every line.
    if (list.length > this.perFunction + Math.max(16, this.perFunction >> 3)) list.splice(0, list.length - this.perFunction)
    for (const l of this.listeners.get(name) ?? []) l(message)
    return message
  }

  tail(name: string, options: TailOptions = {}): LogMessage[] {
    let list = (this.lines.get(name) ?? []).slice(-this.perFunction)
    if (options.since) {
      const since = options.since.getTime()
      list = list.filter((m) => Date.parse(m.timestamp) >= since)
    }
    if (options.tail !== undefined && options.tail > 0) list = list.slice(-options.tail)
    return list
  }

  /** Calls `listener` for every new line of `name`; returns the unsubscribe function. */
  subscribe(name: string, listener: Listener): () => void {
    let set = this.listeners.get(name)
    if (!set) this.listeners.set(name, (set = new Set()))
    set.add(listener)
    return () => {
      set.delete(listener)
    }
  }
}
