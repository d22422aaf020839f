import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { startRuntime, waitFor } from '../helpers.js'
import { startWatched, versionSource } from './reload-helpers.js'

const hasBinary = (name: string): boolean => spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0
const promtool = hasBinary('promtool')
const prometheus = hasBinary('prometheus')
// CI installs Debian's prometheus package: there a missing binary is a failure, not a skip.
const inCI = process.env.CI === 'true'

/** The value of one sample line of the exposition, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    const m = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]))
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3])
  }
  return undefined
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  return res.text()
}

/** Two concurrent calls to a function with max_inflight 1: exactly one is turned away. */
async function saturate(url: string): Promise<number[]> {
  const first = fetch(`${url}/function/slow?ms=300`)
  await new Promise((r) => setTimeout(r, 50))
  const second = await fetch(`${url}/function/slow?ms=1`)
  return [(await first).status, second.status]
}

const STACK = `
functions:
  slow:
    lang: typescript
    handler: @/slow
    environment:
      max_inflight: 1
    labels:
      com.openfaas.scale.type: capacity
      com.openfaas.scale.target: "7"
  exit:
    lang: typescript
    handler: @/exit
  broken:
    lang: typescript
    handler: ./broken
`

describe('metrics', () => {
  it('exports OpenFaaS-named metrics that promtool accepts, counting 429s and restarts', async () => {
    const rt = await startRuntime(STACK, {}, { 'broken/handler.ts': 'export default async function (: string {\n' })
    expect(await saturate(rt.url)).toEqual([200, 429])
    const before = await scrape(rt.url)
    const slow = { function_name: 'slow.openfaas-fn' }
    expect(sample(before, 'gateway_function_invocation_total', { ...slow, code: '429' })).toBe(1)
    expect(sample(before, 'gateway_function_invocation_total', { ...slow, code: '200' })).toBe(1)
    expect(sample(before, 'gateway_function_invocation_started', slow)).toBe(2)
    expect(sample(before, 'gateway_function_invocation_inflight', slow)).toBe(0)
    expect(sample(before, 'gateway_functions_seconds_count', { ...slow, code: '200' })).toBe(1)
    expect(sample(before, 'gateway_functions_seconds_bucket', { ...slow, code: '200', le: '0.1' })).toBe(0)
    expect(sample(before, 'gateway_functions_seconds_bucket', { ...slow, code: '200', le: '10' })).toBe(1)
    expect(sample(before, 'gateway_service_count', slow)).toBe(1)
    expect(sample(before, 'gateway_service_ready_count', slow)).toBe(1)
    expect(sample(before, 'gateway_service_target_load', { ...slow, scaling_type: 'capacity' })).toBe(7)
    expect(sample(before, 'faasdev_build_errors_total', { function_name: 'broken.openfaas-fn' })).toBe(1)
    expect(sample(before, 'process_resident_memory_bytes')).toBeGreaterThan(0)
    for (const name of ['queue_worker_pending_messages', 'queue_worker_messages_processed_total', 'queue_worker_function_invocation_inflight', 'faasdev_retries_total', 'faasdev_dead_letters_total', 'faasdev_reload_duration_seconds']) {
      expect(before).toContain(`# TYPE ${name} `)
    }

    // The 429 series increments with every saturating load.
    expect(await saturate(rt.url)).toEqual([200, 429])
    const inflightDuring = fetch(`${rt.url}/function/slow?ms=400`)
    await waitFor(() => rt.stats().functions.slow?.inflight === 1)
    const during = await scrape(rt.url)
    expect(sample(during, 'gateway_function_invocation_inflight', slow)).toBe(1)
    expect((await inflightDuring).status).toBe(200)
    expect(sample(await scrape(rt.url), 'gateway_function_invocation_total', { ...slow, code: '429' })).toBe(2)

    // A replica that exits is counted by reason once it is replaced.
    expect((await fetch(`${rt.url}/function/exit?mode=exit`)).status).toBe(502)
    await waitFor(async () => (await fetch(`${rt.url}/function/exit`)).status === 200, 10_000, 'replacement replica')
    const after = await scrape(rt.url)
    expect(sample(after, 'faasdev_replica_restarts_total', { function_name: 'exit.openfaas-fn', reason: 'exit' })).toBe(1)
    expect(sample(after, 'gateway_function_invocation_total', { function_name: 'exit.openfaas-fn', code: '502' })).toBe(1)

    // invocationCount is the sum over codes of completed calls.
    const status = (await (await fetch(`${rt.url}/system/function/slow`)).json()) as { invocationCount?: number }
    expect(status.invocationCount).toBe(5)

    if (!promtool) {
      if (inCI) throw new Error('promtool is missing: install Debian package prometheus')
      return
    }
    const check = spawnSync('promtool', ['check', 'metrics'], { input: after, encoding: 'utf8' })
    // Exit 1 is a parse error; 3 is lint advice. The only advice allowed is about names that
    // OpenFaaS (dashboards, PromQL) and prom-client's defaults fix for us.
    expect(check.status === 0 || check.status === 3, check.stderr + check.stdout).toBe(true)
    const advice = (check.stderr + check.stdout).split('\n').filter(Boolean)
    expect(advice.sort()).toEqual(
      [
        'gateway_function_invocation_started counter metrics should have "_total" suffix',
        'gateway_service_count non-histogram and non-summary metrics should not have "_count" suffix',
        'gateway_service_ready_count non-histogram and non-summary metrics should not have "_count" suffix',
        'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
        'nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
        'nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
      ].sort(),
    )
  })

  it('counts async calls like sync ones, with the queue-worker figures', async () => {
    const rt = await startRuntime(STACK.replace(/ {2}exit:[\s\S]*/, ''))
    const slow = { function_name: 'slow.openfaas-fn' }
    for (let i = 0; i < 3; i++) expect((await fetch(`${rt.url}/async-function/slow?ms=800`, { method: 'POST' })).status).toBe(202)
    // One runs (max_inflight 1), the others wait for its slot.
    await waitFor(async () => sample(await scrape(rt.url), 'queue_worker_function_invocation_inflight', { ...slow, queue_name: 'faas-request' }) === 1, 5000, 'one async call running')
    const busy = await scrape(rt.url)
    expect(sample(busy, 'queue_worker_pending_messages', { ...slow, queue_name: 'faas-request' })).toBe(2)
    await rt.idle()
    const done = await scrape(rt.url)
    expect(sample(done, 'gateway_function_invocation_total', { ...slow, code: '200' })).toBe(3)
    expect(sample(done, 'gateway_function_invocation_total', { ...slow, code: '429' })).toBeUndefined()
    expect(sample(done, 'queue_worker_messages_processed_total', { queue_name: 'faas-request' })).toBe(3)
    expect(sample(done, 'queue_worker_pending_messages', { ...slow, queue_name: 'faas-request' })).toBe(0)
  })

  it('counts failed rebuilds and times each hot reload', async () => {
    const { rt, save } = await startWatched('functions:\n  hello:\n    lang: typescript\n    handler: ./hello\n', { 'hello/handler.ts': versionSource('v0') })
    const labels = { function_name: 'hello.openfaas-fn' }
    save('hello/handler.ts', 'export default async function (: string {\n')
    await waitFor(async () => sample(await scrape(rt.url), 'faasdev_build_errors_total', labels) === 1, 15_000, 'the build error counted')
    expect((await fetch(`${rt.url}/function/hello`)).status).toBe(200) // the previous version keeps serving
    save('hello/handler.ts', versionSource('v1'))
    await waitFor(async () => (await (await fetch(`${rt.url}/function/hello`)).text()) === 'v1', 15_000, 'v1 served')
    await waitFor(async () => sample(await scrape(rt.url), 'faasdev_reload_duration_seconds_count', labels) === 1, 5000, 'the reload timed')
    const sum = sample(await scrape(rt.url), 'faasdev_reload_duration_seconds_sum', labels) ?? 0
    expect(sum).toBeGreaterThan(0)
    expect(sum).toBeLessThan(15)
  })

  it.skipIf(!prometheus && !inCI)('answers the seed query rate(gateway_function_invocation_total{code=~"4..|5.."}[30s]) > 0 in a real Prometheus', async () => {
    if (!prometheus) throw new Error('prometheus is missing: install Debian package prometheus')
    const rt = await startRuntime(STACK.replace(/ {2}exit:[\s\S]*/, ''))
    const dir = mkdtempSync(join(tmpdir(), 'faasdev-prom-'))
    const port = await freePort()
    const config = join(dir, 'prometheus.yml')
    writeFileSync(config, `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: faasdev\n    static_configs:\n      - targets: ['${new URL(rt.url).host}']\n`)
    const prom = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' })
    onTestFinished(() => {
      prom.kill()
    })
    const query = async (): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
      const q = encodeURIComponent('rate(gateway_function_invocation_total{code=~"4..|5.."}[30s]) > 0')
      try {
        const body = (await (await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${q}`)).json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }
        return body.data.result
      } catch {
        return []
      }
    }
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/-/ready`).catch(() => undefined))?.status === 200, 20_000, 'prometheus ready')
    expect(await query()).toEqual([])
    // Keep turning calls away while Prometheus takes a few scrapes.
    let result: Awaited<ReturnType<typeof query>> = []
    const deadline = Date.now() + 20_000
    while (result.length === 0 && Date.now() < deadline) {
      expect((await saturate(rt.url))[1]).toBe(429)
      result = await query()
    }
    expect(result).toHaveLength(1)
    expect(result[0]?.metric).toMatchObject({ function_name: 'slow.openfaas-fn', code: '429' })
    expect(Number(result[0]?.value[1])).toBeGreaterThan(0)
  })
})

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address()
      server.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0))
    })
  })
}
