import { describe, expect, it } from 'vitest'
import { startRuntime, waitFor } from '../helpers.js'
import { rawGet, rawRequest } from '../raw-http.js'
import { callbackServer } from './async-helpers.js'

const STACK = `
functions:
  where:
    lang: typescript
    handler: @/where
  hello:
    lang: typescript
    handler: @/echo
  tpl:
    lang: node20
    handler: @/template
`

interface Seen {
  url: string
  copyUrl: string
  host: string
  path: string
  search: string
}

const json = <T>(body: string): T => JSON.parse(body) as T

describe('the Host header never steers the URL a handler sees', () => {
  it('keeps the path and query of the request whatever the Host says, and never answers 500', async () => {
    const rt = await startRuntime(STACK)
    for (const host of ['evil.example/zzz?', 'evil.example/zzz#', 'a b', 'user:pass@evil.example', 'evil.example\\x', '1.2.3.999', 'h:99999', '[zz]', '%65vil', '']) {
      const res = await rawGet(rt.url, '/function/where/items/7?id=42', { host })
      expect(res.status, `Host: ${host} → ${res.status} ${res.body}`).toBeLessThan(500)
      if (res.status === 400) continue
      expect(res.status).toBe(200)
      const seen = json<Seen>(res.body)
      expect(seen.path, `Host: ${host}`).toBe('/items/7')
      expect(seen.search, `Host: ${host}`).toBe('?id=42')
      expect(seen.host, `Host: ${host}`).not.toContain('evil')
      expect(seen.copyUrl).toBe(seen.url)
    }
    // A well-formed Host is kept, so handlers can still build absolute links.
    for (const [host, origin] of [
      ['api.example.com', 'http://api.example.com'],
      ['API.example.com:8443', 'http://api.example.com:8443'],
      ['[::1]:8080', 'http://[::1]:8080'],
      ['my_box.local', 'http://my_box.local'],
    ]) {
      const seen = json<Seen>((await rawGet(rt.url, '/function/where/items/7?id=42', { host: host ?? '' })).body)
      expect(seen.url).toBe(`${origin}/items/7?id=42`)
    }
    // A path that looks like an authority stays a path.
    const seen = json<Seen>((await rawGet(rt.url, '/function/where//evil.example/items/7?id=1')).body)
    expect(seen.path).toBe('//evil.example/items/7')
    expect(seen.search).toBe('?id=1')
  }, 60_000)

  it('gives a template handler event.path and event.query from the request path alone', async () => {
    const rt = await startRuntime(STACK)
    for (const [target, path, query] of [
      ['/function/tpl//evil.example/x?y=1', '//evil.example/x', { y: '1' }],
      ['/function/tpl/\\evil.example/x?y=2', '/\\evil.example/x', { y: '2' }],
      ['/function/tpl/a/../b?y=3', '/a/../b', { y: '3' }],
      ['/function/tpl/orders/42', '/orders/42', {}],
    ] as const) {
      const res = await rawGet(rt.url, target, { host: 'evil.example/zzz?' })
      expect(res.status, target).toBe(200)
      expect(json<{ path: string; query: unknown }>(res.body), target).toMatchObject({ path, query })
    }
  }, 60_000)
})

describe('a percent-encoded function name keeps the sub-path', () => {
  it('slices the sub-path from the path as the router matched it', async () => {
    const rt = await startRuntime(STACK)
    for (const [target, path, search] of [
      ['/function/hel%6co/abc?x=1', '/abc', '?x=1'],
      ['/function/%68%65%6c%6c%6f/abc/def?x=1&y=2', '/abc/def', '?x=1&y=2'],
      ['/function/hel%6co?x=1', '/', '?x=1'],
      ['/function/hel%6co', '/', ''],
      ['/function/hello.openfaas-fn/abc?x=1', '/abc', '?x=1'],
      ['/function/hel%6co.openfaas-fn/abc?x=1', '/abc', '?x=1'],
      ['/%66unction/hello/abc?x=1', '/abc', '?x=1'],
      ['http://any.example/function/hel%6co/abc?x=1', '/abc', '?x=1'],
      ['/function/hello/a%2Fb?x=1', '/a%2Fb', '?x=1'],
      ['/function/hello/abc#frag', '/abc', '?frag'],
    ] as const) {
      const res = await rawGet(rt.url, target)
      expect(res.status, `${target} → ${res.body}`).toBe(200)
      expect(json<{ path: string; query: string }>(res.body), target).toMatchObject({ path, query: search })
    }
  }, 60_000)

  it('does the same for async calls', async () => {
    const rt = await startRuntime(STACK)
    const cb = await callbackServer()
    const { host } = new URL(rt.url)
    const res = await rawRequest(rt.url, `POST /async-function/hel%6co/abc?x=1 HTTP/1.1\r\nHost: ${host}\r\nX-Callback-Url: ${cb.url}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
    expect(res.status).toBe(202)
    await waitFor(() => cb.received.length > 0, 20_000, 'the callback')
    expect(json<{ path: string; query: string }>(cb.received[0]?.body ?? '')).toMatchObject({ path: '/abc', query: '?x=1' })
  }, 60_000)
})
