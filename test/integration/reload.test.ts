import { basename } from 'node:path'
import { describe, expect, it } from 'vitest'
import { waitFor } from '../helpers.js'
import { bundleFiles, call, startWatched, versionSource } from './reload-helpers.js'

const HELLO = `
functions:
  hello:
    lang: typescript
    handler: ./hello
    labels:
      com.openfaas.scale.min: 2
      com.openfaas.scale.max: 2
`

interface Sample {
  start: number
  end: number
  status: number
  body: string
}

describe('hot reload of handler code', () => {
  it('swaps 10 consecutive saves under steady load: no failed or dropped call, old or new version only, the new one served after each save', async () => {
    const { rt, dir, save } = await startWatched(HELLO, { 'hello/handler.ts': versionSource('v0') })
    const samples: Sample[] = []
    let sent = 0
    let stop = false
    // Calls take a few ms so that some are always in flight on the old replicas when they are swapped.
    const loop = async (): Promise<void> => {
      while (!stop) {
        const start = performance.now()
        sent++
        try {
          const res = await fetch(`${rt.url}/function/hello?ms=15`)
          samples.push({ start, end: performance.now(), status: res.status, body: await res.text() })
        } catch (err) {
          samples.push({ start, end: performance.now(), status: 0, body: String(err) })
        }
      }
    }
    const loops = Array.from({ length: 6 }, () => loop())
    await waitFor(() => samples.length > 20, 10_000, 'load to start')

    const firstSeen: number[] = [0]
    for (let v = 1; v <= 10; v++) {
      save('hello/handler.ts', versionSource(`v${v}`))
      await waitFor(() => samples.some((s) => s.body === `v${v}`), 15_000, `v${v} to be served`)
      firstSeen[v] = Math.min(...samples.filter((s) => s.body === `v${v}`).map((s) => s.end))
      // Load keeps running between saves, as an edit-save-try loop does.
      const seen = samples.length
      await waitFor(() => samples.length > seen + 10, 10_000, 'more calls')
    }
    stop = true
    await Promise.all(loops)

    expect(samples.length).toBe(sent) // none dropped
    expect(samples.filter((s) => s.status !== 200)).toEqual([]) // none failed
    for (const s of samples) {
      const match = /^v(\d+)$/.exec(s.body)
      expect(match, s.body).not.toBeNull()
      const version = Number(match?.[1])
      // A call that started after version N was seen answering must not reach an older one.
      const newest = firstSeen.findLastIndex((t) => t < s.start)
      expect(version, `call started at ${s.start.toFixed(0)} ms answered v${version}; v${newest} served since ${firstSeen[newest]?.toFixed(0)} ms`).toBeGreaterThanOrEqual(newest)
    }
    // As many replicas of the new version as ran before, and the old generations' files deleted once they stopped.
    await waitFor(() => rt.stats().functions.hello?.replicas === 2 && rt.stats().functions.hello?.inflight === 0, 10_000, 'the old replicas to stop')
    await waitFor(() => bundleFiles(dir, 'hello').length === 2, 10_000, 'superseded bundles to be deleted')
    const [file, map] = bundleFiles(dir, 'hello')
    expect(Number(/^hello-(\d+)\.mjs$/.exec(file ?? '')?.[1])).toBeGreaterThanOrEqual(11)
    expect(map).toBe(`${file}.map`)
  }, 120_000)

  it('lets the latest of several saves made during a swap win, and leaves no older generation running', async () => {
    const { rt, dir, save } = await startWatched(HELLO, { 'hello/handler.ts': versionSource('v0') })
    // Each save lands while the previous one's replicas are still starting.
    for (let v = 1; v <= 5; v++) {
      save('hello/handler.ts', versionSource(`v${v}`))
      await new Promise((r) => setTimeout(r, 40))
    }
    await waitFor(async () => (await call(`${rt.url}/function/hello`)).body === 'v5', 15_000, 'v5 to serve')
    await waitFor(() => rt.stats().functions.hello?.replicas === 2 && bundleFiles(dir, 'hello').length === 2, 10_000, 'older generations to stop')
    const bodies = await Promise.all(Array.from({ length: 20 }, async () => (await call(`${rt.url}/function/hello`)).body))
    expect(new Set(bodies)).toEqual(new Set(['v5']))
    expect(basename(rt.router.deployments.get('hello')?.bundle ?? '')).toBe(bundleFiles(dir, 'hello')[0])
  }, 60_000)

  it('keeps the old version serving on a build error, shows buildError with file:line:col until fixed, prints it once, and recovers', async () => {
    const { rt, save, logs } = await startWatched(HELLO, { 'hello/handler.ts': versionSource('v0') })
    const status = async (): Promise<Record<string, unknown>> => (await (await fetch(`${rt.url}/system/function/hello`)).json()) as Record<string, unknown>

    const broken = versionSource('v1').replace('export default async function handle(', 'export default async function handle(((')
    save('hello/handler.ts', broken)
    await waitFor(async () => typeof (await status()).buildError === 'string', 10_000, 'buildError')
    const buildError = String((await status()).buildError)
    expect(buildError).toMatch(/hello[/\\]handler\.ts:\d+:\d+: /)
    expect(buildError).toMatch(/\n\s+\d+ \| .*handle\(\(\(/) // the code frame
    expect(buildError).toMatch(/\^/)
    for (let i = 0; i < 5; i++) expect((await call(`${rt.url}/function/hello`)).body).toBe('v0')

    // The same mistake saved again is not printed again.
    save('hello/handler.ts', `${broken}\n`)
    await new Promise((r) => setTimeout(r, 500))
    expect(logs.filter((l) => l.includes('build failed for hello'))).toHaveLength(1)

    // A missing import: fixed by creating the file, which was not an input of any build yet.
    save('hello/handler.ts', `import { suffix } from './suffix.js'\n${versionSource('v2').replace("new Response(VERSION", 'new Response(VERSION + suffix')}`)
    await waitFor(async () => String((await status()).buildError).includes('suffix'), 10_000, 'the missing import error')
    expect((await call(`${rt.url}/function/hello`)).body).toBe('v0')
    save('hello/suffix.ts', "export const suffix = '-fixed'\n")
    await waitFor(async () => (await call(`${rt.url}/function/hello`)).body === 'v2-fixed', 10_000, 'the fixed version')
    expect((await status()).buildError).toBeUndefined()
    expect(logs.some((l) => /^hello rebuilt in \d+ ms \(build error fixed\)/.test(l))).toBe(true)
  }, 60_000)

  it('rebuilds both functions that import a changed shared file, and only them', async () => {
    const handler = (name: string): string => `import { greet } from '../shared/greet.js'\nconst INSTANCE = Math.random().toString(36).slice(2)\nexport default async () => new Response(greet(${JSON.stringify(name)}), { headers: { 'x-instance': INSTANCE } })\n`
    const { rt, save, logs } = await startWatched(
      `
functions:
  a:
    lang: typescript
    handler: ./a
  b:
    lang: typescript
    handler: ./b
  c:
    lang: typescript
    handler: ./c
`,
      {
        'a/handler.ts': handler('a'),
        'b/handler.ts': handler('b'),
        'shared/greet.ts': 'export const greet = (n: string): string => `hello ${n}`\n',
        'c/handler.ts': versionSource('c0'),
      },
    )
    const before = await call(`${rt.url}/function/c`)
    expect((await call(`${rt.url}/function/a`)).body).toBe('hello a')
    save('shared/greet.ts', 'export const greet = (n: string): string => `bonjour ${n}`\n')
    await waitFor(async () => (await call(`${rt.url}/function/a`)).body === 'bonjour a' && (await call(`${rt.url}/function/b`)).body === 'bonjour b', 10_000, 'a and b rebuilt')
    // Give a wrong rebuild of c the time to show.
    await new Promise((r) => setTimeout(r, 500))
    const after = await call(`${rt.url}/function/c`)
    expect(after.instance).toBe(before.instance)
    expect(logs.filter((l) => / rebuilt in /.test(l)).map((l) => l.split(' ')[0]).sort()).toEqual(['a', 'b'])
  }, 60_000)

  it('completes async calls in flight during a reload: none lost, none failed', async () => {
    const { rt, save } = await startWatched(
      `
functions:
  hello:
    lang: typescript
    handler: ./hello
    environment:
      max_inflight: 4
`,
      { 'hello/handler.ts': versionSource('v0') },
    )
    const ids: string[] = []
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${rt.url}/async-function/hello?ms=50`, { method: 'POST' })
      expect(res.status).toBe(202)
      ids.push(res.headers.get('x-call-id') ?? '')
    }
    // Saves while the queue is being worked: some calls run on v0, some on v1 and v2.
    save('hello/handler.ts', versionSource('v1'))
    await new Promise((r) => setTimeout(r, 150))
    save('hello/handler.ts', versionSource('v2'))
    await waitFor(async () => (await call(`${rt.url}/function/hello`)).body === 'v2', 15_000, 'v2 to serve')
    await rt.idle()
    const states = await Promise.all(ids.map(async (id) => ((await (await fetch(`${rt.url}/system/async-function/${id}`)).json()) as { status: string; lastStatus?: number; attempts?: number })))
    expect(states.map((s) => `${s.status} ${s.lastStatus} ${s.attempts}`)).toEqual(ids.map(() => 'succeeded 200 1'))
  }, 60_000)
})
