import { describe, expect, it, onTestFinished } from 'vitest'
import { basicAuth } from '../../src/gateway/auth.js'
import { createGateway } from '../../src/gateway/app.js'
import { Router } from '../../src/router/router.js'
import { startRuntime } from '../helpers.js'
import { rawGet, rawRequest } from '../raw-http.js'

const STACK = `
functions:
  echo:
    lang: typescript
    handler: @/echo
    environment:
      DB_PASSWORD: hunter2
`
const PASSWORD = 's3cret'
const authorization = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`

/** The protected routes, each spelled the ways a client can spell a path the router still matches (or nearly). */
const SPELLINGS = [
  '/%73ystem/functions',
  '/%73%79%73%74%65%6d/functions',
  '/system/%66unctions',
  '/%73ystem/function/echo',
  '/%73ystem/function/%65cho',
  '/%73ystem/logs?name=echo',
  '/%73ystem/queue',
  '/%73ystem/queue/dead-letters',
  '/%73ystem/info',
  '/%73ystem/ui-snapshot',
  '/%75i/',
  '/%75i',
  '/%75i/index.html',
  '/%55I/',
  '/system%2Ffunctions',
  '/system%2ffunctions',
  '//system/functions',
  '///system//functions',
  '/./system/functions',
  '/system/./functions',
  '/x/../system/functions',
  '/system;x=1/functions',
  '/system/functions;x=1',
  '/system/functions%00',
  '/system%00/functions',
  '/SYSTEM/functions',
  '/System/Functions',
  '/system/functions/',
  '/system/functions#x',
  'http://evil.example/system/functions',
  'HTTP://evil.example/%73ystem/functions?x',
  '/system/faults',
  '/%73ystem/faults',
  '/system/secrets',
  '/%73ystem/secrets',
  '/system/publish/orders',
]

describe('--auth cannot be bypassed by spelling the path another way', () => {
  it('answers 401 to every spelling of a protected path, and leaks nothing', async () => {
    const rt = await startRuntime(STACK, { auth: { password: PASSWORD } })
    for (const target of SPELLINGS) {
      const res = await rawGet(rt.url, target)
      expect(res.status, `${target} → ${res.status} ${res.body.slice(0, 200)}`).toBe(401)
      expect(res.body).not.toContain('hunter2')
      expect(res.headers['www-authenticate']).toBe('Basic realm="Restricted"')
    }
    // The same spellings with credentials reach the route the router matched.
    const listed = await rawGet(rt.url, '/%73ystem/functions', { authorization })
    expect(listed.status).toBe(200)
    expect(listed.body).toContain('hunter2')
    expect((await rawGet(rt.url, '/%75i/', { authorization })).status).toBe(200)
    // Function calls, health and metrics stay open however they are spelled.
    expect((await rawGet(rt.url, '/function/%65cho')).status).toBe(200)
    expect((await rawGet(rt.url, '/%66unction/echo/x')).status).toBe(200)
    expect((await rawGet(rt.url, '/function/echo/../../system/functions')).status).toBe(200)
    expect((await rawGet(rt.url, '/%68ealthz')).status).toBe(200)
  }, 60_000)

  it('an unauthenticated scale request spelled another way scales nothing', async () => {
    const rt = await startRuntime(STACK, { auth: { password: PASSWORD } })
    const { host } = new URL(rt.url)
    const body = JSON.stringify({ serviceName: 'echo', replicas: 3 })
    for (const target of ['/%73ystem/scale-function/echo', '/system/scale-function/%65cho', '//system/scale-function/echo', 'http://x/system/scale-function/echo']) {
      const res = await rawRequest(rt.url, `POST ${target} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
      expect(res.status, target).toBe(401)
    }
    const status = await rawGet(rt.url, '/system/function/echo', { authorization })
    expect((JSON.parse(status.body) as { replicas?: number }).replicas).toBe(1)
  }, 60_000)

  it('protects routes added later under /system/ by any plugin, without each one asking', async () => {
    const app = await createGateway({
      router: new Router(),
      maxBody: 1024,
      version: 'test',
      isReady: () => true,
      plugins: [
        basicAuth({ password: PASSWORD }),
        async (app) => {
          // As a feature plugin would: in its own context, under a prefix.
          await app.register(
            async (sub) => {
              sub.get('/faults', async () => ({ faults: ['leaked'] }))
              sub.post<{ Params: { topic: string } }>('/publish/:topic', async (request) => ({ published: request.params.topic }))
            },
            { prefix: '/system' },
          )
          app.get('/system/widgets', async () => ({ widgets: ['leaked'] }))
        },
      ],
    })
    onTestFinished(() => app.close())
    await app.listen({ port: 0, host: '127.0.0.1' })
    const address = app.server.address()
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
    for (const [method, target] of [
      ['GET', '/system/faults'],
      ['GET', '/%73ystem/faults'],
      ['GET', '/system/%66aults'],
      ['POST', '/system/publish/orders'],
      ['POST', '/%73ystem/publish/orders'],
      ['GET', '/%73ystem/widgets'],
      ['GET', '/system/nothing-here'],
    ] as const) {
      const res = await rawGet(url, target, { 'content-length': '0' }, method)
      expect(res.status, `${method} ${target}`).toBe(401)
      expect(res.body).not.toContain('leaked')
    }
    const ok = await rawGet(url, '/%73ystem/faults', { authorization })
    expect(ok.status).toBe(200)
    expect(ok.body).toContain('leaked')
  })
})
