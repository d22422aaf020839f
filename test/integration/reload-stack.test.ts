import { describe, expect, it } from 'vitest'
import { waitFor } from '../helpers.js'
import { call, startWatched, versionSource } from './reload-helpers.js'

const fn = (name: string, extra = ''): string => `  ${name}:\n    lang: typescript\n    handler: ./${name}\n${extra}`
const stack = (...fns: string[]): string => `functions:\n${fns.join('')}`

describe('hot reload of stack.yml', () => {
  it('starts added functions, drains and stops removed ones, swaps changed ones and applies label-only changes without a restart', async () => {
    const files = { 'hello/handler.ts': versionSource('hello'), 'world/handler.ts': versionSource('world') }
    const { rt, save, logs } = await startWatched(stack(fn('hello', '    environment:\n      GREETING: hi\n')), files)
    const first = await call(`${rt.url}/function/hello`)
    expect(first).toMatchObject({ status: 200, body: 'hello', greeting: 'hi' })
    expect((await call(`${rt.url}/function/world`)).status).toBe(404)

    // Added.
    save('stack.yml', stack(fn('hello', '    environment:\n      GREETING: hi\n'), fn('world')))
    await waitFor(async () => (await call(`${rt.url}/function/world`)).status === 200, 15_000, 'world to start')
    expect((await call(`${rt.url}/function/world`)).body).toBe('world')
    expect((await call(`${rt.url}/function/hello`)).instance).toBe(first.instance) // untouched

    // Environment changed: new replicas with the new environment.
    save('stack.yml', stack(fn('hello', '    environment:\n      GREETING: bonjour\n'), fn('world')))
    await waitFor(async () => (await call(`${rt.url}/function/hello`)).greeting === 'bonjour', 15_000, 'hello swapped')
    const worldBefore = await call(`${rt.url}/function/world`)

    // Labels only: applied in place, same replica.
    save('stack.yml', stack(fn('hello', '    environment:\n      GREETING: bonjour\n'), fn('world', '    labels:\n      com.openfaas.scale.max: 3\n      team: blue\n')))
    await waitFor(async () => {
      const status = (await (await fetch(`${rt.url}/system/function/world`)).json()) as { labels?: Record<string, string> }
      return status.labels?.team === 'blue'
    }, 15_000, 'world relabelled')
    expect(rt.router.deployments.get('world')?.spec.scale.max).toBe(3)
    expect((await call(`${rt.url}/function/world`)).instance).toBe(worldBefore.instance)
    expect(logs.filter((l) => l.startsWith('world rebuilt'))).toEqual([])

    // Removed while a call is in flight: the call completes, new calls get 404.
    const inflight = call(`${rt.url}/function/hello?ms=800`)
    await waitFor(() => (rt.stats().functions.hello?.inflight ?? 0) > 0, 5_000, 'the slow call to start')
    save('stack.yml', stack(fn('world', '    labels:\n      com.openfaas.scale.max: 3\n      team: blue\n')))
    await waitFor(async () => (await call(`${rt.url}/function/hello`)).status === 404, 15_000, 'hello removed')
    expect(await inflight).toMatchObject({ status: 200, body: 'hello' })
    await waitFor(() => logs.includes('hello stopped'), 10_000, 'hello to stop')
    expect((await call(`${rt.url}/function/world`)).status).toBe(200)
    expect(rt.config.functions.map((f) => f.name)).toEqual(['world'])
  }, 90_000)

  it('keeps the running configuration on an invalid edit, names file, line and field, and applies the next valid one', async () => {
    const { rt, save, logs } = await startWatched(stack(fn('hello')), { 'hello/handler.ts': versionSource('v0') })
    const before = await call(`${rt.url}/function/hello`)

    save('stack.yml', stack(fn('hello', '    limits:\n      memory: 12 bananas\n')))
    await waitFor(() => logs.some((l) => l.startsWith('error: ')), 10_000, 'the config error')
    const error = logs.find((l) => l.startsWith('error: ')) ?? ''
    expect(error).toMatch(/stack\.yml:6: functions\.hello\.limits\.memory: "12 bananas" is not a memory quantity/)
    expect(error).toContain('keep their previous configuration')
    const during = await call(`${rt.url}/function/hello`)
    expect(during).toMatchObject({ status: 200, body: 'v0', instance: before.instance })

    save('stack.yml', 'functions: [not, a, map')
    await waitFor(() => logs.filter((l) => l.startsWith('error: ')).length === 2, 10_000, 'the YAML error')
    expect((await call(`${rt.url}/function/hello`)).status).toBe(200)

    save('stack.yml', stack(fn('hello', '    environment:\n      GREETING: fixed\n')))
    await waitFor(async () => (await call(`${rt.url}/function/hello`)).greeting === 'fixed', 15_000, 'the valid edit to apply')
  }, 60_000)
})
