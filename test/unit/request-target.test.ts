import { describe, expect, it } from 'vitest'
import { isProtectedRoute, looksProtected, originForm, subPath } from '../../src/gateway/request-target.js'

describe('reading a request target as the router does', () => {
  it('drops an absolute-form origin', () => {
    expect(originForm('/a/b?c')).toBe('/a/b?c')
    expect(originForm('http://h.example:8080/a/b?c')).toBe('/a/b?c')
    expect(originForm('HTTPS://h.example?c')).toBe('/?c')
  })

  it('slices the sub-path after the first two segments, however they are spelled', () => {
    const cases: [string, string][] = [
      ['/function/hello', '/'],
      ['/function/hello?x=1', '/?x=1'],
      ['/function/hello/', '/'],
      ['/function/hello/abc?x=1', '/abc?x=1'],
      ['/function/hel%6co/abc?x=1', '/abc?x=1'],
      ['/%66unction/hello/abc', '/abc'],
      ['/function/hello.openfaas-fn/a/b', '/a/b'],
      ['/function/hello/a%2Fb/../c', '/a%2Fb/../c'],
      ['/function/hello//evil.example/x', '//evil.example/x'],
      ['http://h/function/hello/abc?x', '/abc?x'],
      ['/async-function/hello/abc?x=1', '/abc?x=1'],
      // find-my-way ends the path at `#` as at `?`: what follows is the query, and a later `#` is data.
      ['/function/hello/abc#frag', '/abc?frag'],
      ['/function/hello#x', '/?x'],
      ['/function/hello/abc?x=1#y', '/abc?x=1%23y'],
    ]
    for (const [url, expected] of cases) expect(subPath(url), url).toBe(expected)
  })

  it('protects routes registered under /system/ and /ui, whatever else is added there', () => {
    for (const p of ['/system/functions', '/system/function/:name', '/system/faults/:id', '/system/publish/:topic', '/ui', '/ui/', '/ui/:file', '/system']) expect(isProtectedRoute(p), p).toBe(true)
    for (const p of ['/function/:name', '/function/:name/*', '/async-function/:name', '/healthz', '/metrics', '/', '/systems', '/uix']) expect(isProtectedRoute(p), p).toBe(false)
  })

  it('reads an unmatched path as protected under any spelling of /system or /ui', () => {
    for (const url of ['/system', '/system/nope', '/%73ystem/x', '/%2573ystem/x', '/SYSTEM/x', '//system/x', '/./system', '/x/../system/y', '/system;a=1/x', '/sys%00tem/x', '/system%2Fx', '\\system\\x', 'http://h/ui/x', '/UI', '/system/..']) {
      expect(looksProtected(url), url).toBe(true)
    }
    for (const url of ['/', '/healthz', '/function/x/system', '/systems', '/uix/a', '/favicon.ico', '/x/system']) expect(looksProtected(url), url).toBe(false)
  })
})
