/**
 * Creating, adopting and upgrading the streams faasdev keeps in JetStream (the work queue,
 * the dead letters, the call-status bucket). A stream that exists is adopted; settings the
 * server can change in place (subjects, bounds, discard policy) are brought to what this
 * faasdev asks for, so a changed `--queue-max-messages` is applied rather than ignored; a
 * setting it cannot change (retention, storage) is refused with what to do, since the only
 * way to change it is to delete the stream and the messages in it.
 */
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream'
import { FaasError } from '../errors.js'

/** Settings faasdev reconciles on an existing stream; the rest are left as the server has them. */
const MUTABLE = ['subjects', 'max_msgs', 'max_bytes', 'max_age', 'discard', 'max_msgs_per_subject', 'allow_rollup_hdrs', 'deny_delete', 'allow_direct'] as const
/** Settings the server refuses to change on an existing stream. */
const FIXED = ['retention', 'storage'] as const

export type DesiredStream = Partial<StreamConfig> & Pick<StreamConfig, 'name' | 'retention' | 'storage' | 'subjects'>

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/**
 * Creates the stream when absent; when present, updates what differs among the mutable
 * settings (logging each change) and refuses, with `ERR_QUEUE_UNAVAILABLE` and a message that
 * says what to do, a stream whose retention or storage differs. `what` names the stream's
 * use in messages (`the work queue`).
 */
export async function reconcileStream(jsm: JetStreamManager, desired: DesiredStream, what: string, log: (line: string) => void): Promise<void> {
  let config: StreamConfig
  try {
    config = (await jsm.streams.info(desired.name)).config
  } catch (err) {
    if (!/stream not found/i.test((err as Error).message)) throw err
    try {
      await jsm.streams.add(desired)
      return
    } catch (addErr) {
      // Another instance created it between our look and our add: adopt theirs below.
      if (!/already in use|already exists/i.test((addErr as Error).message)) throw addErr
      config = (await jsm.streams.info(desired.name)).config
    }
  }
  const fixed = FIXED.filter((k) => desired[k] !== undefined && !same(config[k], desired[k]))
  if (fixed.length > 0) {
    const was = fixed.map((k) => `${k} ${String(config[k])} (faasdev needs ${String(desired[k])})`).join(', ')
    throw new FaasError(
      'ERR_QUEUE_UNAVAILABLE',
      `the JetStream stream ${desired.name} (${what}) was made with other settings, which the server cannot change in place: ${was}. ` +
        `It was probably made by an older faasdev or another tool. Let it drain, then delete it (nats stream rm ${desired.name}) and start faasdev again to create it anew, ` +
        `or give this faasdev another --queue-name.`,
    )
  }
  const changed = MUTABLE.filter((k) => desired[k] !== undefined && !same(config[k], desired[k]))
  if (changed.length === 0) return
  const update: Record<string, unknown> = { ...config }
  for (const k of changed) update[k] = desired[k]
  try {
    await jsm.streams.update(desired.name, update as Partial<StreamConfig>)
  } catch (err) {
    throw new FaasError('ERR_QUEUE_UNAVAILABLE', `cannot update the JetStream stream ${desired.name} (${what}) to ${changed.map((k) => `${k} ${JSON.stringify(desired[k])}`).join(', ')}: ${(err as Error).message}`, { cause: err })
  }
  log(`jetstream: stream ${desired.name} (${what}) updated: ${changed.map((k) => `${k} ${JSON.stringify(config[k])} → ${JSON.stringify(desired[k])}`).join(', ')}`)
}

/**
 * A call id as one subject or KV key token. Letters, digits and `-` stay; every other byte
 * of its UTF-8 form (`_` included) becomes `_` and two hex digits, so two ids never share a
 * token.
 */
export function idToken(id: string): string {
  if (id === '') return '_'
  if (/^[A-Za-z0-9-]+$/.test(id)) return id
  let out = ''
  for (const byte of new TextEncoder().encode(id)) {
    const c = String.fromCharCode(byte)
    out += /[A-Za-z0-9-]/.test(c) ? c : `_${byte.toString(16).padStart(2, '0')}`
  }
  return out
}
