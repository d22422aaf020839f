import { MessageChannel } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import type { InvokeMessage, ReplicaData } from '../../src/pool/protocol.js'
import { callNodeTemplateHandler } from '../../src/pool/worker/node-template.js'

const data: ReplicaData = { functionName: 'f', replicaName: 'f-1', style: 'node-template', lang: 'node20', secrets: {}, answers: new MessageChannel().port2, answered: new SharedArrayBuffer(4) }

/** What `event.body` a node20 handler sees for a call with these headers and bytes. */
async function bodyOf(headers: InvokeMessage['headers'], body: string | null, lang = 'node20'): Promise<unknown> {
  let seen: unknown = 'not called'
  const handler = async (event: { body: unknown }): Promise<void> => {
    seen = event.body
  }
  const message: InvokeMessage = { id: 1, method: 'POST', path: '/', headers, body: body === null ? null : new TextEncoder().encode(body), callId: 'c' }
  await callNodeTemplateHandler(handler as (...args: unknown[]) => unknown, { message, data: { ...data, lang }, signal: new AbortController().signal })
  return seen
}

describe('node template: is there a body', () => {
  it('decides from the bytes, so a body without framing headers is parsed', async () => {
    expect(await bodyOf({ 'content-type': 'application/json' }, '{"a":1}')).toEqual({ a: 1 })
    expect(await bodyOf({ 'content-type': 'text/plain' }, 'words')).toBe('words')
    expect(await bodyOf({ 'content-type': 'application/json' }, '{"a":1}', 'node22')).toEqual({ a: 1 })
  })

  it('still tells an empty body (Content-Length: 0) from none, as body-parser does', async () => {
    expect(await bodyOf({ 'content-type': 'text/plain', 'content-length': '0' }, null)).toBe('')
    expect(await bodyOf({ 'content-type': 'text/plain' }, null)).toEqual({})
    expect(await bodyOf({ 'content-type': 'text/plain' }, null, 'node22')).toBeUndefined()
  })
})
