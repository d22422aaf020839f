import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { UiSnapshot } from '../../src/gateway/ui-routes.js'
import { startRuntime, waitFor } from '../helpers.js'
import { call, startWatched, versionSource } from './reload-helpers.js'

// Debian's chromium; CI installs it (.ci/run), a developer machine may not have it.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const haveChromium = existsSync(CHROMIUM)
const inCI = Boolean(process.env.CI) && process.env.CI !== 'false'
if (!haveChromium && !inCI) console.warn(`skipping the dashboard browser tests: ${CHROMIUM} not found (apt-get install chromium, or set CHROMIUM_PATH)`)

async function openBrowser(): Promise<BrowserContext> {
  if (!haveChromium) throw new Error(`${CHROMIUM} not found: CI must install chromium for the dashboard tests`)
  const profile = mkdtempSync(join(tmpdir(), 'faasdev-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  onTestFinished(async () => {
    await context.close()
    rmSync(profile, { recursive: true, force: true })
  })
  return context
}

/** A look at the page while changing it: FAASDEV_UI_SCREENSHOTS=folder. */
async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.FAASDEV_UI_SCREENSHOTS
  if (dir) await page.screenshot({ path: join(dir, `dashboard-${name}.png`), fullPage: true })
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).textContent()) ?? ''
}

const STACK = `
functions:
  echo:
    lang: typescript
    handler: @/echo
    annotations:
      topic: cron-function,greetings
      schedule: "0 5 * * *"
  slow:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 1
  legacy:
    lang: python3
    handler: ./legacy
`

describe('dashboard routes', () => {
  it('redirects / to /ui/, serves the static files and a snapshot with every function', async () => {
    const rt = await startRuntime(`${STACK}
  broken:
    lang: typescript
    handler: ./broken
`, { autoscaleIntervalMs: 0 }, { 'broken/handler.ts': 'export default function (\n' })
    const root = await fetch(`${rt.url}/`, { redirect: 'manual' })
    expect(root.status).toBe(307)
    expect(root.headers.get('location')).toBe('/ui/')
    const html = await fetch(`${rt.url}/ui/`)
    expect(html.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await html.text()).toContain('<script type="module" src="app.js">')
    const js = await fetch(`${rt.url}/ui/app.js`)
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect((await fetch(`${rt.url}/ui/style.css`)).status).toBe(200)
    expect((await fetch(`${rt.url}/ui/..%2Fpackage.json`)).status).toBe(404)
    // The tab icon, where the page links it and where browsers look anyway: a real ICO.
    for (const path of ['/ui/favicon.ico', '/favicon.ico']) {
      const icon = await fetch(`${rt.url}${path}`)
      expect([path, icon.status, icon.headers.get('content-type')]).toEqual([path, 200, 'image/x-icon'])
      expect([...new Uint8Array(await icon.arrayBuffer()).subarray(0, 4)]).toEqual([0, 0, 1, 0])
    }

    for (let i = 0; i < 3; i++) expect((await fetch(`${rt.url}/function/echo`, { method: 'POST', body: 'x' })).status).toBe(200)
    expect((await fetch(`${rt.url}/function/slow?ms=1`)).status).toBe(200)
    const snap = (await (await fetch(`${rt.url}/system/ui-snapshot`)).json()) as UiSnapshot
    const byName = Object.fromEntries(snap.functions.map((f) => [f.name, f]))
    expect(snap.functions.map((f) => f.name)).toEqual(['echo', 'slow', 'broken', 'legacy'])
    expect(byName.echo).toMatchObject({ status: 'ready', deployed: true, ready: 1, desired: 1, errorRate: 0, queue: { pending: 0, inflight: 0, retrying: 0, deadLetters: 0 } })
    expect(byName.echo?.callsPerSec).toBeCloseTo(3 / snap.windowSeconds)
    expect(byName.echo?.p95Ms).toBeGreaterThan(0)
    expect(byName.echo?.series.callsPerSec.at(-1)).toBeGreaterThan(0)
    expect(byName.slow).toMatchObject({ maxInflight: 1, deployed: true })
    expect(byName.echo?.triggers).toMatchObject({ topics: ['cron-function', 'greetings'], schedule: '0 5 * * *' })
    expect(new Date(byName.echo?.triggers?.nextRun ?? '').getHours()).toBe(5)
    expect(byName.slow?.triggers).toBeUndefined()
    expect(byName.legacy).toMatchObject({ status: 'skipped', deployed: false })
    expect(byName.legacy?.reason).toContain('python3')
    expect(byName.broken).toMatchObject({ status: 'build error', deployed: false })
    expect(byName.broken?.reason).toMatch(/handler\.ts/)

    // Scaling shows until every desired replica is ready.
    expect((await fetch(`${rt.url}/system/scale-function/echo`, { method: 'POST', body: JSON.stringify({ serviceName: 'echo', replicas: 2 }), headers: { 'content-type': 'application/json' } })).status).toBe(202)
    const echo = async (): Promise<UiSnapshot['functions'][number] | undefined> =>
      ((await (await fetch(`${rt.url}/system/ui-snapshot`)).json()) as UiSnapshot).functions.find((f) => f.name === 'echo')
    expect(await echo()).toMatchObject({ status: 'scaling', desired: 2, ready: 1 })
    await waitFor(async () => (await echo())?.status === 'ready', 15_000, 'echo ready at 2 replicas')
    expect(await echo()).toMatchObject({ desired: 2, ready: 2 })

    // The stream sends the same snapshot as Server-Sent Events, and does not hold shutdown.
    const stream = await fetch(`${rt.url}/system/ui-stream`)
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader()
    let received = ''
    while (!received.includes('\n\n')) received += new TextDecoder().decode((await reader.read()).value)
    expect(received.startsWith('data: {')).toBe(true)
    expect((JSON.parse(received.slice(6).split('\n\n')[0] as string) as UiSnapshot).functions).toHaveLength(4)
    const closed = performance.now()
    await rt.close()
    expect(performance.now() - closed).toBeLessThan(5000)
  })
})

describe('dashboard status after a reload', () => {
  it('shows a build error with file:line:col while the previous version serves, and ready once fixed', async () => {
    const { rt, save } = await startWatched(
      `
functions:
  hello:
    lang: typescript
    handler: ./hello
`,
      { 'hello/handler.ts': versionSource('v0') },
    )
    const hello = async (): Promise<UiSnapshot['functions'][number] | undefined> =>
      ((await (await fetch(`${rt.url}/system/ui-snapshot`)).json()) as UiSnapshot).functions.find((f) => f.name === 'hello')
    expect(await hello()).toMatchObject({ status: 'ready', deployed: true })
    save('hello/handler.ts', versionSource('v1').replace('export default async function handle(', 'export default async function handle((('))
    await waitFor(async () => (await hello())?.status === 'build error', 10_000, 'build error in the snapshot')
    expect((await hello())?.reason).toMatch(/hello[/\\]handler\.ts:\d+:\d+: /)
    expect((await hello())?.deployed).toBe(true)
    expect((await call(`${rt.url}/function/hello`)).body).toBe('v0')
    save('hello/handler.ts', versionSource('v2'))
    await waitFor(async () => (await hello())?.status === 'ready', 10_000, 'ready again')
    expect((await hello())?.reason).toBeUndefined()
  }, 30_000)
})

describe.skipIf(!haveChromium && !inCI)('dashboard in headless chromium', () => {
  it('shows the functions, invokes one through the form, and shows 429s under load as they happen', async () => {
    const rt = await startRuntime(STACK)
    const context = await openBrowser()
    const page = await context.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (err) => pageErrors.push(err.message))

    await page.goto(`${rt.url}/`)
    expect(new URL(page.url()).pathname).toBe('/ui/')
    await page.locator('[data-fn="slow"]').waitFor({ timeout: 15_000 })
    expect(await text(page, '#connection')).toBe('live')
    expect(await text(page, '[data-fn="echo"] [data-field="status"]')).toBe('ready')
    expect(await text(page, '[data-fn="echo"] [data-field="replicas"]')).toBe('1/1')
    expect(await text(page, '[data-fn="echo"] [data-field="triggers"]')).toMatch(/^topics greetings · schedule 0 5 \* \* \*, next \S/)
    expect(await page.locator('[data-fn="slow"] [data-field="triggers"]').isHidden()).toBe(true)
    expect(await text(page, '[data-fn="slow"] [data-field="inflight"]')).toBe('0 / 1')
    expect(await text(page, '[data-fn="legacy"] [data-field="status"]')).toBe('skipped')
    expect(await text(page, '[data-fn="slow"] [data-field="throttled"]')).toBe('0')
    // An injected fault shows on its function's card while active (this one never fires).
    expect(await page.locator('[data-fn="echo"] [data-field="faults"]').isHidden()).toBe(true)
    rt.faults.inject({ function: 'echo', kind: 'crash', probability: 0 })
    await page.locator('[data-fn="echo"] [data-field="faults"]', { hasText: 'faults injected: crash (1 of 1 left, p=0)' }).waitFor({ timeout: 10_000 })
    rt.faults.clear()
    await page.locator('[data-fn="echo"] [data-field="faults"]').waitFor({ state: 'hidden', timeout: 10_000 })

    // Sync invocation through the form.
    await page.selectOption('#invoke-name', 'echo')
    await page.selectOption('select[name="method"]', 'PUT')
    await page.fill('input[name="path"]', '/a/b?x=1')
    await page.fill('textarea[name="body"]', 'hello from the form')
    await page.click('#invoke button[type="submit"]')
    await page.locator('#invoke-status', { hasText: '200' }).waitFor({ timeout: 10_000 })
    const answer = JSON.parse(await text(page, '#invoke-body')) as Record<string, string>
    expect(answer).toMatchObject({ method: 'PUT', path: '/a/b', query: '?x=1', body: 'hello from the form', fn: 'echo', contentType: 'text/plain' })
    expect(await text(page, '#invoke-meta')).toContain(answer.callId)

    // Saturate a max_inflight: 1 function: concurrent calls beyond the first get 429.
    let throttled = 0
    for (let round = 0; round < 3; round++) {
      const statuses = await Promise.all(Array.from({ length: 8 }, () => fetch(`${rt.url}/function/slow?ms=400`).then((r) => r.status)))
      throttled += statuses.filter((s) => s === 429).length
    }
    expect(throttled).toBeGreaterThan(0)
    // The page shows exactly the 429s we caused, without a reload, and draws them.
    await page.locator('[data-fn="slow"] [data-field="throttled"]', { hasText: new RegExp(`^${throttled}$`) }).waitFor({ timeout: 10_000 })
    const points = (await page.locator('[data-fn="slow"] polyline.throttled').getAttribute('points')) ?? ''
    const ys = points.split(' ').map((p) => Number(p.split(',')[1]))
    expect(Math.min(...ys)).toBeLessThan(62)
    expect(await text(page, '[data-fn="slow"] [data-field="errorRate"]')).not.toBe('0.0 %')

    await screenshot(page, 'load')
    expect(pageErrors).toEqual([])
  }, 60_000)

  it('tails function logs, invokes async through the form, lists the dead letter and replays it', async () => {
    const rt = await startRuntime(`
functions:
  chatty:
    lang: typescript
    handler: @/chatty
  flaky:
    lang: typescript
    handler: @/async-flaky
    annotations:
      com.openfaas.retry.attempts: "2"
      com.openfaas.retry.min_wait: 20ms
      com.openfaas.retry.max_wait: 40ms
`)
    const context = await openBrowser()
    const page = await context.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (err) => pageErrors.push(err.message))
    await page.goto(`${rt.url}/ui/`)
    await page.locator('[data-fn="flaky"]').waitFor({ timeout: 15_000 })

    // What the handler prints shows up in its card, prefixed with the replica.
    expect((await fetch(`${rt.url}/function/chatty?say=from-the-test`)).status).toBe(200)
    await page.locator('[data-fn="chatty"] [data-field="logs"]', { hasText: 'chatty-1 | log from-the-test' }).waitFor({ timeout: 10_000 })

    // Fails its first two attempts per call id: with 2 attempts allowed it is dead-lettered.
    await page.selectOption('#invoke-name', 'flaky')
    await page.fill('input[name="path"]', '?fail=2')
    await page.check('input[name="mode"][value="async"]')
    await page.click('#invoke button[type="submit"]')
    await page.locator('#invoke-status', { hasText: '202' }).waitFor({ timeout: 10_000 })
    const callId = /call (\S+)/.exec(await text(page, '#invoke-meta'))?.[1] as string
    expect(callId).toMatch(/^[0-9a-f-]{36}$/)
    await page.locator('#invoke-meta', { hasText: 'dead-lettered' }).waitFor({ timeout: 15_000 })
    const row = page.locator(`#dead-letters tr[data-call-id="${callId}"]`)
    await row.waitFor({ timeout: 10_000 })
    expect(await row.locator('td').nth(1).textContent()).toBe('flaky')
    expect(await row.locator('td').nth(2).textContent()).toBe('2')
    expect(await row.locator('td').nth(3).textContent()).toBe('503')
    await page.locator('[data-fn="flaky"] [data-field="deadLetters"]', { hasText: /^1$/ }).waitFor({ timeout: 10_000 })
    await screenshot(page, 'dead-letter')

    // Replay: the third attempt succeeds, the dead letter goes away.
    await row.locator('button').click()
    await page.locator('#dead-letters-result', { hasText: `replay ${callId}: 202` }).waitFor({ timeout: 10_000 })
    await row.waitFor({ state: 'detached', timeout: 10_000 })
    await page.locator('[data-fn="flaky"] [data-field="deadLetters"]', { hasText: /^0$/ }).waitFor({ timeout: 10_000 })
    const status = (await (await fetch(`${rt.url}/system/async-function/${callId}`)).json()) as { status: string }
    expect(status.status).toBe('succeeded')
    expect(pageErrors).toEqual([])
  }, 60_000)
})
