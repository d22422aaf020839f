import { describe, expect, it } from 'vitest'
import { startRuntime } from '../helpers.js'

/** What the `template` fixture (an unmodified node20-template handler) answers with. */
interface Echo {
  body: unknown
  bodyType: string
  method: string
  path: string
  query: Record<string, unknown>
  contentType: string
}

const stack = (lang = 'node20', environment: Record<string, string> = {}): string => `
functions:
  tpl:
    lang: ${lang}
    handler: @/template
    environment: ${JSON.stringify(environment)}
  ctx:
    lang: ${lang}
    handler: @/tpl-context
  cb:
    lang: ${lang}
    handler: @/tpl-callback
`

describe('OpenFaaS node template handlers', () => {
  it('parses the body by content type, as the template\'s body-parser setup does', async () => {
    const rt = await startRuntime(stack('node20', { MAX_JSON_SIZE: '1kb' }))
    const call = async (init: RequestInit, path = ''): Promise<Response> => fetch(`${rt.url}/function/tpl${path}`, { method: 'POST', ...init })

    const json = await call({ body: JSON.stringify({ name: 'ada', n: [1, 2] }), headers: { 'content-type': 'application/json; charset=utf-8' } })
    expect(json.status).toBe(200)
    expect(await json.json()).toMatchObject({ body: { name: 'ada', n: [1, 2] }, bodyType: 'object', contentType: 'application/json; charset=utf-8' })

    const text = await call({ body: 'plain words', headers: { 'content-type': 'text/csv' } })
    expect(await text.json()).toMatchObject({ body: 'plain words', bodyType: 'string' })

    // No Content-Type: the template sets text/plain before parsing, and the handler sees it.
    const untyped = await call({ body: new Blob([new TextEncoder().encode('no type here')]) })
    expect(await untyped.json()).toMatchObject({ body: 'no type here', bodyType: 'string', contentType: 'text/plain' })

    const bytes = await call({ body: new Uint8Array([0, 1, 2, 255]), headers: { 'content-type': 'application/octet-stream' } })
    expect(await bytes.json()).toMatchObject({ body: { type: 'Buffer', data: [0, 1, 2, 255] }, bodyType: 'buffer' })

    const form = await call({ body: 'a=1&b=two&a=3', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expect(await form.json()).toMatchObject({ body: { a: ['1', '3'], b: 'two' }, bodyType: 'object' })

    // body-parser 1 (node18/node20) leaves `{}` for types it does not parse, and for no body.
    const other = await call({ body: '<x/>', headers: { 'content-type': 'application/xml' } })
    expect(await other.json()).toMatchObject({ body: {}, bodyType: 'object' })
    const get = await fetch(`${rt.url}/function/tpl`)
    expect(await get.json()).toMatchObject({ body: {}, method: 'GET' })

    const emptyJson = await call({ body: '', headers: { 'content-type': 'application/json' } })
    expect(await emptyJson.json()).toMatchObject({ body: {}, bodyType: 'object' })

    const invalid = await call({ body: '{"name": ', headers: { 'content-type': 'application/json' } })
    expect(invalid.status).toBe(400)
    expect(await invalid.text()).toMatch(/SyntaxError/)
    // Strict JSON, as body-parser's default: only objects and arrays.
    const scalar = await call({ body: '"just a string"', headers: { 'content-type': 'application/json' } })
    expect(scalar.status).toBe(400)
    const blank = await call({ body: '  ', headers: { 'content-type': 'application/json' } })
    expect(blank.status).toBe(400)

    const oversize = await call({ body: JSON.stringify({ pad: 'x'.repeat(2000) }), headers: { 'content-type': 'application/json' } })
    expect(oversize.status).toBe(413)
    const fits = await call({ body: JSON.stringify({ pad: 'x'.repeat(900) }), headers: { 'content-type': 'application/json' } })
    expect(fits.status).toBe(200)
    // text/* keeps body-parser's fixed 100kb limit whatever MAX_JSON_SIZE says.
    const bigText = await call({ body: 'y'.repeat(101 * 1024), headers: { 'content-type': 'text/plain' } })
    expect(bigText.status).toBe(413)
    const okText = await call({ body: 'y'.repeat(50 * 1024), headers: { 'content-type': 'text/plain' } })
    expect(okText.status).toBe(200)
  })

  it('gives the handler event.query, event.path, event.method and event.headers', async () => {
    const rt = await startRuntime(stack())
    const res = await fetch(`${rt.url}/function/tpl.openfaas-fn/orders/42?expand=items&tag=a&tag=b`, { method: 'PATCH', body: 'x', headers: { 'content-type': 'text/plain', 'X-Custom': 'Yes' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-template')).toBe('node20')
    const echo = (await res.json()) as Echo
    expect(echo).toMatchObject({ method: 'PATCH', path: '/orders/42', query: { expand: 'items', tag: ['a', 'b'] }, body: 'x' })

    const root = (await (await fetch(`${rt.url}/function/tpl?x=1`, { method: 'DELETE' })).json()) as Echo
    expect(root).toMatchObject({ method: 'DELETE', path: '/', query: { x: '1' } })

    const headers = await fetch(`${rt.url}/function/ctx?mode=status-read`, { headers: { 'X-Custom': 'Yes' } })
    expect(await headers.json()).toEqual({ before: 200, after: 201 })
    expect(headers.status).toBe(201)
  })

  it('parses nested query strings and urlencoded bodies as qs does (Express 4), and flat ones on node22 (Express 5)', async () => {
    const query = 'filter[name]=ada&filter[age]=36&ids[]=1&ids[]=2&list[1]=b&list[0]=a&deep[a][b][c][d][e][f][g]=x&plain=1'
    const node20 = await startRuntime(stack())
    const echo = (await (await fetch(`${node20.url}/function/tpl?${query}`)).json()) as Echo
    expect(echo.query).toEqual({
      filter: { name: 'ada', age: '36' },
      ids: ['1', '2'],
      list: ['a', 'b'],
      deep: { a: { b: { c: { d: { e: { '[f][g]': 'x' } } } } } },
      plain: '1',
    })
    const form = (await (await fetch(`${node20.url}/function/tpl`, { method: 'POST', body: 'user[name]=ada&user[tags][]=x&user[tags][]=y', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).json()) as Echo
    expect(form.body).toEqual({ user: { name: 'ada', tags: ['x', 'y'] } })
    const polluted = (await (await fetch(`${node20.url}/function/tpl?__proto__[x]=1&a[__proto__][y]=2`)).json()) as Echo
    expect(polluted.query).toEqual({ a: {} })
    await node20.close()

    const node22 = await startRuntime(stack('node22'))
    const flat = (await (await fetch(`${node22.url}/function/tpl?filter[name]=ada&ids=1&ids=2`)).json()) as Echo
    expect(flat.query).toEqual({ 'filter[name]': 'ada', ids: ['1', '2'] })
  })

  it('follows context: status(), headers() replacing the map, succeed() and fail()', async () => {
    const rt = await startRuntime(stack())
    const fn = async (query: string): Promise<Response> => fetch(`${rt.url}/function/ctx?${query}`)

    const replaced = await fn('mode=replace-headers')
    expect(replaced.status).toBe(202)
    expect(replaced.headers.get('x-second')).toBe('2')
    expect(replaced.headers.get('x-first')).toBeNull()
    expect(await replaced.json()).toEqual({ headers: { 'x-second': '2' } })

    const status = await fetch(`${rt.url}/function/tpl?status=201`)
    expect(status.status).toBe(201)
    const text = await fetch(`${rt.url}/function/tpl?text=1`)
    expect([text.status, await text.text()]).toEqual([201, 'plain text'])

    const failed = await fetch(`${rt.url}/function/tpl?fail=fail`)
    expect([failed.status, await failed.text()]).toEqual([500, 'failed on purpose'])
    const failStatus = await fn('mode=fail-status')
    expect(failStatus.status).toBe(418)
    expect(failStatus.headers.get('x-dropped')).toBeNull()
    expect(await failStatus.text()).toBe('Error: teapot')
  })

  it('answers 500 for a thrown error or rejected promise (a deliberate fix: the template answers 200)', async () => {
    const rt = await startRuntime(stack())
    const thrown = await fetch(`${rt.url}/function/tpl?fail=throw`)
    expect([thrown.status, await thrown.text()]).toEqual([500, 'Error: boom'])
    // A status the handler set before throwing is kept, as the template's error path does.
    const afterStatus = await fetch(`${rt.url}/function/ctx?mode=reject-after-status`)
    expect([afterStatus.status, await afterStatus.text()]).toEqual([409, 'Error: conflict'])
    // A non-async handler that throws synchronously would crash the template's process; here it is a 500.
    const sync = await fetch(`${rt.url}/function/cb?throw=1`)
    expect([sync.status, await sync.text()]).toEqual([500, 'Error: thrown synchronously'])
    // The replica survives all of these.
    expect((await fetch(`${rt.url}/function/tpl?ok=1`)).status).toBe(200)
  })

  it('sends results by type: object and array as application/json (a deliberate fix), string as text/html, Buffer as octet-stream', async () => {
    const rt = await startRuntime(stack())
    const fn = async (mode: string): Promise<Response> => fetch(`${rt.url}/function/ctx?mode=${mode}`)

    const object = await fn('object')
    expect(object.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(await object.json()).toEqual({ ok: true, list: [1, 2] })
    const array = await fn('array')
    expect(array.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(await array.json()).toEqual([1, 'two'])

    const string = await fn('string')
    expect(string.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(await string.text()).toBe('hello <b>world</b>')

    const buffer = await fn('buffer')
    expect(buffer.headers.get('content-type')).toBe('application/octet-stream')
    expect([...new Uint8Array(await buffer.arrayBuffer())]).toEqual([1, 2, 3, 250])

    // Express adds the charset to a string body whose type the handler chose.
    const typed = await fn('custom-type')
    expect(typed.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(await typed.text()).toBe('typed by the handler')
    // Types of the handler's own, with the charset Express adds, and the exact UTF-8 bytes.
    const csv = await fn('csv')
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    expect(csv.headers.get('content-disposition')).toBe('attachment; filename="report.csv"')
    const csvBytes = Buffer.from('sku,qty\nA-1,2\nB-ü,3\n')
    expect(csv.headers.get('content-length')).toBe(String(csvBytes.byteLength))
    expect(Buffer.from(await csv.arrayBuffer()).equals(csvBytes)).toBe(true)
    const vendor = await fn('vendor-json')
    expect(vendor.headers.get('content-type')).toBe('application/vnd.api+json; charset=utf-8')
    expect(await vendor.json()).toEqual({ data: [{ type: 'orders', id: '1' }] })

    const empty = await fn('undefined')
    expect([empty.status, await empty.text()]).toEqual([200, ''])
  })

  it('passes the legacy third callback(err, result) argument', async () => {
    const rt = await startRuntime(stack())
    const ok = await fetch(`${rt.url}/function/cb`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ via: 'callback', body: { a: 1 } })
    const err = await fetch(`${rt.url}/function/cb?err=1`)
    expect([err.status, await err.text()]).toEqual([500, 'Error: callback error'])
  })

  it('gives a Buffer for every type with RAW_BODY=true, bounded by MAX_RAW_SIZE', async () => {
    const rt = await startRuntime(stack('node20', { RAW_BODY: 'true', MAX_RAW_SIZE: '2kb' }))
    const json = await fetch(`${rt.url}/function/tpl`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } })
    const echo = (await json.json()) as Echo
    expect(echo.bodyType).toBe('buffer')
    expect(Buffer.from((echo.body as { data: number[] }).data).toString()).toBe('{"a":1}')
    const text = (await (await fetch(`${rt.url}/function/tpl`, { method: 'POST', body: 'abc', headers: { 'content-type': 'text/plain' } })).json()) as Echo
    expect(text.bodyType).toBe('buffer')
    const big = await fetch(`${rt.url}/function/tpl`, { method: 'POST', body: 'z'.repeat(3000), headers: { 'content-type': 'text/plain' } })
    expect(big.status).toBe(413)
  })

  it('node22 (body-parser 2) leaves the body undefined for types it does not parse', async () => {
    const rt = await startRuntime(stack('node22'))
    const other = (await (await fetch(`${rt.url}/function/tpl`, { method: 'POST', body: '<x/>', headers: { 'content-type': 'application/xml' } })).json()) as Echo
    expect(other.bodyType).toBe('undefined')
    expect('body' in other).toBe(false)
    const json = (await (await fetch(`${rt.url}/function/tpl`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } })).json()) as Echo
    expect(json).toMatchObject({ body: { a: 1 }, bodyType: 'object' })
    const get = (await (await fetch(`${rt.url}/function/tpl`)).json()) as Echo
    expect(get.bodyType).toBe('undefined')
  })
})
