/**
 * Property-based fuzzing of a running `faasdev up --auth` over raw sockets: generated paths,
 * headers, methods and bodies, as an attacker would send them. Bounded (a few thousand
 * requests); a failure prints the seed and the command that replays it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { resolve } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseQs } from '../../src/pool/worker/node-template.js'
import { checkProperty } from '../fuzz.js'
import { waitFor, writeStack } from '../helpers.js'
import { rawGet, rawRequest, type RawResponse } from '../raw-http.js'

const FILE = 'test/integration/fuzz-gateway.test.ts'
const BIN = resolve(import.meta.dirname, '../../bin/faasdev.js')
const PASSWORD = 'fuzz-s3cret'
const SECRET_ENV = 'hunter2-in-env'
const authorization = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`
const STACK = `
functions:
  where:
    lang: typescript
    handler: @/where
    environment:
      DB_PASSWORD: ${SECRET_ENV}
  tpl:
    lang: node20
    handler: @/template
`

let child: ChildProcess | undefined
let url = ''
let stderr = ''

beforeAll(async () => {
  const proc = spawn(process.execPath, [BIN, 'up', '-f', writeStack(STACK), '--port', '0', '--no-watch', '--auth', '--autoscale-interval', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', FAASDEV_PASSWORD: PASSWORD },
  })
  child = proc
  let stdout = ''
  proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()))
  proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)))
  await waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`faasdev exited ${proc.exitCode}:\n${stderr}`)
    url = /gateway listening on (http:\/\/\S+)/.exec(stdout)?.[1] ?? ''
    return url !== ''
  }, 60_000, 'faasdev up to listen')
}, 90_000)

afterAll(async () => {
  if (!child || child.exitCode !== null) return
  const exited = new Promise((r) => child?.once('exit', r))
  child.kill('SIGKILL')
  await exited
})

/** After each property: the process is alive and healthy, and nothing was scaled behind auth's back. */
async function stillHealthy(): Promise<void> {
  expect(child?.exitCode, stderr).toBeNull()
  expect((await rawGet(url, '/healthz')).status).toBe(200)
  const status = await rawGet(url, '/system/function/where', { authorization })
  expect(status.status).toBe(200)
  expect((JSON.parse(status.body) as { replicas?: number }).replicas).toBe(1)
}

const hex = (c: string): string => c.charCodeAt(0).toString(16).padStart(2, '0')

/** One way to write a character of a path: as is, percent-encoded (either hex case, once or twice), or in the other letter case. */
function spell(c: string, how: number): string {
  switch (how) {
    case 1:
      return `%${hex(c).toUpperCase()}`
    case 2:
      return `%${hex(c)}`
    case 3:
      return c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()
    case 4:
      return `%25${hex(c)}`
    default:
      return c
  }
}

/** One way to write a `/`: as is, doubled, with a dot segment, with a `..` detour, encoded, as `\\`, or with a `;param` before it. */
const SLASHES = ['/', '//', '/./', '/x/../', '%2F', '%2f', '\\', ';p=1/', '/%2e/', '/%00/']

const PROTECTED: [method: string, path: string][] = [
  ['GET', '/system/functions'],
  ['GET', '/system/function/where'],
  ['GET', '/system/logs'],
  ['GET', '/system/queue'],
  ['GET', '/system/queue/dead-letters'],
  ['GET', '/system/info'],
  ['GET', '/system/namespaces'],
  ['GET', '/system/ui-snapshot'],
  ['GET', '/system/async-function/abc'],
  ['POST', '/system/scale-function/where'],
  ['POST', '/system/queue/dead-letters/abc/retry'],
  ['GET', '/ui/'],
  ['GET', '/ui/app.js'],
  ['GET', '/ui'],
  ['GET', '/system/faults'],
  ['POST', '/system/faults'],
  ['DELETE', '/system/faults'],
  ['GET', '/system/function/where?namespace=openfaas-fn'],
  ['POST', '/system/publish/orders'],
  ['GET', '/system/secrets'],
]

const protectedRequest = fc
  .constantFrom(...PROTECTED)
  .chain(([method, path]) =>
    fc.record({
      method: fc.oneof({ weight: 4, arbitrary: fc.constant(method) }, fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH')),
      chars: fc.array(fc.nat(12), { minLength: path.length, maxLength: path.length }),
      path: fc.constant(path),
      prefix: fc.constantFrom('', '', '', 'http://evil.example', 'HTTP://127.0.0.1:1', 'https://x'),
      suffix: fc.constantFrom('', '', '/', '?name=where', '#x', ';jsessionid=1', '%00', '/.', '?'),
      credentials: fc.constantFrom(undefined, 'Basic ', `Basic ${Buffer.from(`admin:${PASSWORD}x`).toString('base64')}`, `Basic ${Buffer.from(`root:${PASSWORD}`).toString('base64')}`, 'Basic !!!', `Bearer ${PASSWORD}`, `basic ${Buffer.from(`admin:`).toString('base64')}`),
    }),
  )
  .map(({ method, chars, path, prefix, suffix, credentials }) => {
    let target = ''
    for (let i = 0; i < path.length; i++) {
      const c = path[i] as string
      const how = chars[i] ?? 0
      if (c === '/') target += i === 0 && how >= SLASHES.length ? '/' : i === 0 ? (['/', '//', '/./', '/x/../', '/%2e/'][how % 5] as string) : (SLASHES[how % SLASHES.length] as string)
      else target += spell(c, how > 4 ? 0 : how)
    }
    return { method, target: `${prefix}${target}${suffix}`, credentials }
  })

const body = JSON.stringify({ serviceName: 'where', replicas: 3 })

function send(method: string, target: string, headers: [string, string][], payload = ''): Promise<RawResponse> {
  const { host } = new URL(url)
  const head = [`${method} ${target} HTTP/1.1`, ...(headers.some(([k]) => k.toLowerCase() === 'host') ? [] : [`Host: ${host}`]), 'Connection: close', ...headers.map(([k, v]) => `${k}: ${v}`)]
  const framing = payload === '' ? [] : [`Content-Length: ${Buffer.byteLength(payload, 'latin1')}`]
  return rawRequest(url, Buffer.from(`${[...head, ...framing].join('\r\n')}\r\n\r\n${payload}`, 'latin1'))
}

describe('gateway fuzzing', () => {
  it('no spelling of a protected route answers 2xx without credentials', async () => {
    const property = fc.asyncProperty(protectedRequest, async ({ method, target, credentials }) => {
      const headers: [string, string][] = [['Content-Type', 'application/json']]
      if (credentials !== undefined) headers.push(['Authorization', credentials])
      const res = await send(method, target, headers, method === 'GET' || method === 'HEAD' ? '' : body)
      const shown = `${method} ${target} → ${res.status} ${res.body.slice(0, 120)}`
      expect(res.status >= 200 && res.status < 300, shown).toBe(false)
      expect(res.status, shown).not.toBe(500)
      expect(res.body, shown).not.toContain(SECRET_ENV)
    })
    await checkProperty('no spelling of a protected route answers 2xx without credentials', FILE, property, 1200)
    await stillHealthy()
  }, 120_000)

  it('never answers 500 to a malformed request', async () => {
    // Mostly what Node's parser lets through (so the gateway, not the parser, answers), now and then what it refuses.
    const rare = (chars: string): fc.Arbitrary<string> => fc.constantFrom(...chars.split(''))
    const targetText = fc.string({
      unit: fc.oneof(
        { weight: 200, arbitrary: rare('abcXYZ019-._~!$&\'()*+,;=:@/?#[]"<>\\^`{|}') },
        { weight: 20, arbitrary: fc.constantFrom('%41', '%2F', '%2e', '%00', '%25', '%C3%A9', '%ff', '%u0041', '%', '%z') },
        rare(' \t\u0000\u007f\u00e9'),
      ),
      maxLength: 40,
    })
    const printable = fc.string({ unit: fc.oneof({ weight: 400, arbitrary: rare('abcXYZ019-._~!$&\'()*+,;=:@/?#[]%"<>\\^`{|} \t\u00e9\u00ff') }, rare('\u0000\u007f')), maxLength: 40 })
    const token = fc.string({ unit: fc.constantFrom(...'abcdefxyzABC-_!#$%&\'*+.^`|~09'.split('')), minLength: 1, maxLength: 12 })
    const headerName = fc.oneof(
      fc.constantFrom('Host', 'Content-Type', 'X-Callback-Url', 'X-Call-Id', 'Authorization', 'Accept', 'Cookie', 'Expect', 'X-Forwarded-Host', 'Range', 'Accept-Encoding', 'If-None-Match', 'Origin'),
      token,
    )
    const headerValue = fc.oneof(
      printable.map((s) => s.replace(/[\r\n]/g, '')),
      fc.constantFrom('', ' ', 'evil.example/zzz?', 'a b', '100-continue', 'application/json', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'http://user:pw@127.0.0.1:1/cb', 'Basic x', '[::1]', '\u00ff\u00fe', 'x'.repeat(2000)),
    )
    const request = fc.record({
      method: fc.oneof({ weight: 20, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'QUERY') }, token),
      target: fc.oneof(
        {
          weight: 8,
          arbitrary: fc
            .tuple(fc.constantFrom('/function/where', '/function/wh%65re', '/%66unction/where', '/function/tpl', '/function/tp%6c', '/async-function/where', '/async-function/wh%65re', '/async-function/tpl', '/function/', '/function/nope', '/system/functions', '/ui/', '/healthz', '/readyz', '/metrics', '/', '*', 'http://x', ''), targetText)
            .chain(([a, b]) => fc.constantFrom(a + b, `${a}/${b}`, `${a}?${b}`, `${a}/x?${b}`)),
        },
        targetText,
      ),
      host: fc.option(headerValue, { nil: undefined }),
      headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 8 }),
      payload: fc.oneof(fc.constant(''), printable, fc.constantFrom('{"a":', '{"__proto__":{"x":1}}', 'a=1&a[b]=2&__proto__[x]=1', '[' .repeat(500), '\u0000\u00ff', '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--')),
    })
    const property = fc.asyncProperty(request, async ({ method, target, host, headers, payload }) => {
      const safe = headers.filter(([k]) => !/^(host|content-length|transfer-encoding|connection|upgrade|keep-alive|te|trailer)$/i.test(k))
      if (host !== undefined) safe.unshift(['Host', host])
      const res = await send(method, target, safe, payload)
      expect(res.status, `${method} ${JSON.stringify(target)} ${JSON.stringify(safe)} → ${res.status} ${res.body.slice(0, 200)}`).not.toBe(500)
    })
    await checkProperty('never answers 500 to a malformed request', FILE, property, 1500)
    await stillHealthy()
  }, 180_000)

  it('a handler sees exactly the requested sub-path and query, whatever the spelling and the Host', async () => {
    const pathChar = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...'abcxyzABC0189-._~!$&\'()*+,;=:@'.split('')) },
      fc.constantFrom('%20', '%2F', '%2f', '%3F', '%23', '%25', '%00', '%C3%A9', '"', '<', '>', '[', ']', '^', '`', '{', '|', '}', '\\', '..', '.'),
    )
    const segment = fc.array(pathChar, { maxLength: 6 }).map((cs) => cs.join(''))
    const queryChar = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...'abcxyz019=&-._~!$\'()*+,;:@/?'.split('')) }, fc.constantFrom('%20', '%26', '%3D', '%23', '%25', '%zz', '[', ']', '"', '`', '{', '}', '|', '\\', '^', '<', '>'))
    const call = fc.record({
      fn: fc.constantFrom('where', 'tpl'),
      nameSpelling: fc.array(fc.nat(2), { minLength: 5, maxLength: 5 }),
      namespace: fc.boolean(),
      prefix: fc.constantFrom('/function', '/%66unction', '/functio%6E', 'http://a.example/function'),
      segments: fc.array(segment, { maxLength: 5 }),
      query: fc.option(fc.array(queryChar, { maxLength: 16 }).map((cs) => cs.join('')), { nil: undefined }),
      host: fc.option(fc.constantFrom('api.example.com', 'API.Example.com:8443', '[::1]:8080', '10.0.0.1', 'my_box', 'evil.example/zzz?', 'a b', 'user@evil.example', 'evil.example#x', '1.2.3.999'), { nil: undefined }),
    })
    const property = fc.asyncProperty(call, async ({ fn, nameSpelling, namespace, prefix, segments, query, host }) => {
      const name = [...fn].map((c, i) => spell(c, nameSpelling[i] ?? 0 ? 1 + ((nameSpelling[i] ?? 0) % 2) : 0)).join('') + (namespace ? '.openfaas-fn' : '')
      const subPath = segments.length === 0 ? '' : `/${segments.join('/')}`
      const target = `${prefix}/${name}${subPath}${query === undefined ? '' : `?${query}`}`
      const res = await rawGet(url, target, host === undefined ? {} : { host })
      const shown = `GET ${target} Host: ${host ?? '(real)'} → ${res.status} ${res.body.slice(0, 300)}`
      expect(res.status, shown).toBe(200)
      const expectedPath = subPath || '/'
      if (fn === 'tpl') {
        // The template's event.path is the raw path, as Express's req.path; the query is parsed from the raw query.
        const seen = JSON.parse(res.body) as { path: string; query: unknown }
        expect(seen.path, shown).toBe(expectedPath)
        expect(seen.query, shown).toEqual(parseQs(query ?? ''))
      } else {
        // A fetch-style handler sees what a Request for exactly this path shows, on a host the Host header cannot move.
        const seen = JSON.parse(res.body) as { url: string; copyUrl: string; host: string; path: string; search: string }
        const expected = new URL(`http://localhost${expectedPath}${query === undefined ? '' : `?${query}`}`)
        expect(seen.path, shown).toBe(expected.pathname)
        expect(seen.search, shown).toBe(expected.search)
        expect(seen.copyUrl, shown).toBe(seen.url)
        expect(seen.host, shown).not.toMatch(/evil|[ @/?#]/)
      }
    })
    await checkProperty('a handler sees exactly the requested sub-path and query, whatever the spelling and the Host', FILE, property, 700)
    await stillHealthy()
  }, 180_000)
})
