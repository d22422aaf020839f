import { describe, expect, it } from 'vitest'
import { redactUrl } from '../../src/logs/redact.js'
import { JetStreamQueue } from '../../src/queue/jetstream.js'
import { startRuntime, waitFor } from '../helpers.js'
import { callbackServer, submit } from './async-helpers.js'

const SECRET = 'hunter2-s3cret'

const STACK = `
functions:
  echo:
    lang: typescript
    handler: @/echo
  broken:
    lang: typescript
    handler: @/throws
`

describe('credentials in URLs are masked wherever faasdev prints or keeps a URL', () => {
  it('a failing callback to http://user:pass@host logs, stores and answers the URL without the password, and still sends it', async () => {
    const lines: string[] = []
    const rt = await startRuntime(STACK, {
      log: (line) => lines.push(line),
      retry: { maxAttempts: 1 },
      callback: { attempts: 2, initialWaitMs: 10 },
    })
    // A receiver that is down for good: every try answers 503.
    const cb = await callbackServer(503)
    const url = cb.url.replace('http://', `http://ci-bot:${SECRET}@`)

    // A call that succeeds whose callback fails, and one dead-lettered whose callback fails.
    expect((await submit(rt.url, 'echo', { 'x-callback-url': url, 'x-call-id': 'ok-1' }, 'x')).status).toBe(202)
    expect((await submit(rt.url, 'broken', { 'x-callback-url': url, 'x-call-id': 'dead-1' }, 'x')).status).toBe(202)
    await rt.idle()
    await waitFor(() => lines.filter((l) => l.includes('callback for')).length === 2, 10_000, () => `two callback failures logged, got:\n${lines.join('\n')}`)

    // The receiver was really sent the credentials, as Basic auth.
    expect(cb.received.length).toBe(4)
    for (const r of cb.received) expect(r.headers.authorization).toBe(`Basic ${Buffer.from(`ci-bot:${SECRET}`).toString('base64')}`)

    const masked = cb.url.replace('http://', 'http://ci-bot:***@')
    expect(lines.some((l) => l.includes(`to ${masked} failed after 2 attempt(s): status 503`)), lines.join('\n')).toBe(true)
    expect(lines.join('\n')).not.toContain(SECRET)

    for (const id of ['ok-1', 'dead-1']) {
      const text = await (await fetch(`${rt.url}/system/async-function/${id}`)).text()
      expect(text).not.toContain(SECRET)
      expect(JSON.parse(text)).toMatchObject({ callbackUrl: masked, callback: { status: 503, attempts: 2 } })
    }
    const letters = await (await fetch(`${rt.url}/system/queue/dead-letters`)).text()
    expect(JSON.parse(letters)).toMatchObject([{ callId: 'dead-1', callbackUrl: masked }])
    expect(letters).not.toContain(SECRET)
    const queue = await (await fetch(`${rt.url}/system/queue`)).text()
    expect(queue).not.toContain(SECRET)
  })

  it('a refused X-Callback-Url is not echoed back with its password', async () => {
    const rt = await startRuntime(STACK)
    const res = await submit(rt.url, 'echo', { 'x-callback-url': `ftp://deploy:${SECRET}@files.example.com/drop` })
    expect(res.status).toBe(400)
    const body = await res.text()
    expect(body).toContain('ftp://deploy:***@files.example.com/drop')
    expect(body).not.toContain(SECRET)
  })

  it('--nats-url credentials stay out of the error when the server cannot be reached', async () => {
    const queue = new JetStreamQueue({ url: `nats://app:${SECRET}@127.0.0.1:1,nats://${SECRET}@127.0.0.1:2`, maxBody: 1024, log: () => undefined })
    const err = (await queue.start().then(() => queue.close(), (e: unknown) => e)) as Error
    expect(err).toBeInstanceOf(Error)
    expect(err.message).toContain('nats://app:***@127.0.0.1:1,nats://***@127.0.0.1:2')
    expect(err.message).not.toContain(SECRET)
  })

  it('redactUrl masks the password (or a lone token) of every URL in a text and leaves the rest', () => {
    expect(redactUrl('http://user:pass@host:8080/cb?x=1')).toBe('http://user:***@host:8080/cb?x=1')
    // A password holding an unescaped `@`, as the URL parser reads it.
    expect(redactUrl('to http://u:p@ss@h/x?mail=a@b failed')).toBe('to http://u:***@h/x?mail=a@b failed')
    expect(redactUrl('nats://tok3n@n1:4222,nats://a:b@n2:4222,nats://n3:4222')).toBe('nats://***@n1:4222,nats://a:***@n2:4222,nats://n3:4222')
    expect(redactUrl('HTTPS://Admin:x@Example.com')).toBe('HTTPS://Admin:***@Example.com')
    expect(redactUrl('mail bob@example.com about http://host/a@b')).toBe('mail bob@example.com about http://host/a@b')
  })
})
