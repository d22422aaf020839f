// Shared helpers for the benchmarks: child-process servers, an autocannon run that keeps
// every response time (autocannon's own histogram has 1 ms resolution, too coarse for
// sub-millisecond latency), percentiles and a stack file for a trivial handler.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'

export const HERE = import.meta.dirname

/**
 * A fresh folder for a benchmark's project (stack file and handlers), as a developer's project
 * folder. Not under the shared temporary folder by default: esbuild lists every folder above a
 * handler again on each rebuild, and a shared /tmp can hold thousands of entries (7,578 on the
 * machine of the 2026-12-02 runs, about 10 ms more per rebuild), which a project's parents do
 * not. `BENCH_PROJECT_DIR=/tmp` puts it back there.
 */
export function projectDir(prefix) {
  const root = process.env.BENCH_PROJECT_DIR ?? join(HERE, '.tmp')
  mkdirSync(root, { recursive: true })
  return mkdtempSync(join(root, prefix))
}

/** The body every benchmark server answers with. */
export const HELLO = 'hello world\n'

/** The trivial handlers: `string` returns the text (faasdev answers it as text/plain), `response` builds a `Response`. */
export const HANDLERS = {
  string: `export default function handle() {\n  return ${JSON.stringify(HELLO)}\n}\n`,
  response: `export default function handle() {\n  return new Response(${JSON.stringify(HELLO)}, { headers: { 'content-type': 'text/plain; charset=utf-8' } })\n}\n`,
  // The OpenFaaS node20 template's style, as its users write it (lang: node20, a package.json beside it).
  node20: `'use strict'\n\nmodule.exports = async (event, context) => {\n  const result = { status: 'Received input: ' + JSON.stringify(event.body) }\n  return context.status(200).succeed(result)\n}\n`,
}

/**
 * Writes a stack file with one trivial fetch-style function (`hello`) into a fresh temporary
 * folder and returns its path. `labels` sets the function's `com.openfaas.scale.*` labels.
 */
export function writeHelloStack(labels = {}, handler = 'string') {
  const dir = mkdtempSync(join(tmpdir(), 'faasdev-bench-'))
  mkdirSync(join(dir, 'hello'))
  writeFileSync(join(dir, 'hello', 'handler.js'), HANDLERS[handler])
  if (handler === 'node20') writeFileSync(join(dir, 'hello', 'package.json'), '{ "name": "hello", "version": "1.0.0", "main": "handler.js" }\n')
  const labelLines = Object.entries(labels).map(([k, v]) => `      com.openfaas.scale.${k}: "${v}"`)
  const yaml = [
    'version: 1.0',
    'provider:',
    '  name: openfaas',
    'functions:',
    '  hello:',
    `    lang: ${handler === 'node20' ? 'node20' : 'javascript'}`,
    '    handler: ./hello',
    ...(labelLines.length ? ['    labels:', ...labelLines] : []),
    '',
  ].join('\n')
  const file = join(dir, 'stack.yml')
  writeFileSync(file, yaml)
  return file
}

/**
 * Starts `bench/lib-server.js MODE` in its own process (so the load generator does not share
 * its event loop) and resolves with `{ url, pid, close }` once it prints its URL.
 */
export function startServer(mode, extraArgs = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(process.env.BENCH_SERVER_FLAGS?.split(" ").filter(Boolean) ?? []), join(HERE, "lib-server.js"), mode, ...extraArgs], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
    let out = ''
    // The server's own CPU time (all its threads), to report CPU per request.
    const cpu = () =>
      new Promise((done) => {
        child.once('message', (m) => done(m.user + m.system))
        child.send('cpu')
      })
    const onData = (chunk) => {
      out += chunk
      const line = out.split('\n').find((l) => l.startsWith('URL '))
      if (!line) return
      child.stdout.off('data', onData)
      child.stdout.resume()
      const close = () =>
        new Promise((done) => {
          if (child.exitCode !== null) return done()
          child.once('exit', () => done())
          child.kill('SIGTERM')
        })
      resolve({ url: line.slice(4).trim(), pid: child.pid, close, cpu })
    }
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', onData)
    child.once('exit', (code) => reject(new Error(`${mode} server exited with code ${code} before listening`)))
    child.once('error', reject)
  })
}

/** Runs a child script that prints one JSON line as its result. */
export function runChild(script, args = [], nodeArgs = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, join(HERE, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (c) => (out += c))
    child.once('error', reject)
    child.once('exit', (code) => {
      const line = out.trim().split('\n').pop()
      if (code !== 0 || !line) return reject(new Error(`${script} exited with code ${code}`))
      resolve(JSON.parse(line))
    })
  })
}

/** One bounded autocannon run against `url` (127.0.0.1 only), keeping each response time in ms. */
export async function load(url, { connections, durationS, warmupS = 1, server }) {
  return summarize([await slice(url, { connections, durationS, warmupS, server })])
}

/** Load only ever targets 127.0.0.1. */
export function assertLocal(url) {
  if (!new URL(url).hostname.startsWith('127.')) throw new Error(`benchmarks only load 127.0.0.1, not ${url}`)
}

/** One autocannon run, raw: request count, 200-answer times, errors and server CPU µs. */
export async function slice(url, { connections, durationS, warmupS = 0, server }) {
  assertLocal(url)
  if (warmupS > 0) await autocannon({ url, connections, duration: warmupS })
  const times = []
  const { result, cpuUs } = await withServerCpu(server, () => {
    const instance = autocannon({ url, connections, duration: durationS })
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status === 200) times.push(ms)
    })
    return instance
  })
  return { durationS, requests: result.requests.total, non2xx: result.non2xx + result.errors + result.timeouts, times, cpuUs }
}

/** What `run` resolves with, and the CPU time `server` (all its threads) spent meanwhile, in µs (NaN without a server). */
async function withServerCpu(server, run) {
  const before = server ? await server.cpu() : 0
  const result = await run()
  return { result, cpuUs: server ? (await server.cpu()) - before : NaN }
}

/** Whether wrk is on the PATH (Debian: `apt-get install wrk`). */
export const haveWrk = () => spawnSync('wrk', ['-v'], { stdio: 'ignore' }).error === undefined

const WRK_UNIT_MS = { us: 0.001, ms: 1, s: 1000 }

/**
 * One wrk run (one thread), raw like `slice`, but with wrk's own latency percentiles (µs
 * resolution) instead of every response time. wrk costs the shared cores a fraction of what
 * autocannon in this process does, so more of them go to the server under test; issue 15's
 * figures were taken with it.
 */
export async function wrkSlice(url, { connections, durationS, server }) {
  assertLocal(url)
  const { result: out, cpuUs } = await withServerCpu(
    server,
    () =>
      new Promise((resolve, reject) => {
        // wrk takes whole seconds; the time it really ran is read back from its output.
        const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${Math.max(1, Math.round(durationS))}s`, '--latency', url], { stdio: ['ignore', 'pipe', 'inherit'] })
        let text = ''
        child.stdout.setEncoding('utf8').on('data', (c) => (text += c))
        child.once('error', reject)
        child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk failed (${code}): ${text}`))))
      }),
  )
  const ms = (m) => (m ? Number(m[1]) * WRK_UNIT_MS[m[2]] : NaN)
  const ran = /(\d+) requests in ([\d.]+)(us|ms|s)/.exec(out)
  const requests = Number(ran?.[1])
  if (!ran || !Number.isFinite(requests)) throw new Error(`wrk printed no request count: ${out}`)
  const at = (p) => ms(new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out))
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + (errors ? errors.slice(1).reduce((n, x) => n + Number(x), 0) : 0)
  return { durationS: (Number(ran[2]) * WRK_UNIT_MS[ran[3]]) / 1000, requests, non2xx, times: [], p50: at(50), p99: at(99), mean: ms(/^\s*Latency\s+([\d.]+)(us|ms|s)/m.exec(out)), cpuUs }
}

/**
 * One run of `lib-ping.js` (one connection, one request at a time, every time kept), raw like
 * `slice`: the latency row's load. See lib-ping.js for why not wrk at one connection.
 */
export async function pingSlice(url, { durationS, server }) {
  assertLocal(url)
  const { result: r, cpuUs } = await withServerCpu(server, () => runChild('lib-ping.js', [url, String(durationS)]))
  return { durationS: r.durationS, requests: r.requests, non2xx: r.non2xx, times: r.times, cpuUs }
}

/** Throughput, latency percentiles and server CPU per request over one or more slices. */
export function summarize(slices) {
  const times = slices.flatMap((s) => s.times).sort((a, b) => a - b)
  const requests = slices.reduce((n, s) => n + s.requests, 0)
  const seconds = slices.reduce((n, s) => n + s.durationS, 0)
  const cpuUs = slices.reduce((n, s) => n + s.cpuUs, 0)
  // wrk gives percentiles, not every time: those of its slices are averaged, weighted by requests.
  const weighted = (key) => slices.reduce((sum, s) => sum + s[key] * s.requests, 0) / Math.max(1, requests)
  const fromWrk = times.length === 0 && slices.length > 0 && slices.every((s) => Number.isFinite(s.p50))
  return {
    rps: requests / seconds,
    requests,
    non2xx: slices.reduce((n, s) => n + s.non2xx, 0),
    p50: fromWrk ? weighted('p50') : percentile(times, 50),
    p99: fromWrk ? weighted('p99') : percentile(times, 99),
    mean: fromWrk ? weighted('mean') : times.reduce((sum, t) => sum + t, 0) / Math.max(1, times.length),
    /** Server CPU time (all its threads) per request, in µs. */
    cpuPerRequestUs: cpuUs / Math.max(1, requests),
  }
}

/**
 * Loads two servers in A B B A order, half the time per slice, so that a change in the
 * machine's load during the run (other work on a shared machine) hits both alike.
 */
export async function compare(a, b, { connections, durationS, warmupS = 1, wrk = false, ping = false }) {
  if (ping && connections !== 1) throw new Error('compare: the ping load has one connection')
  const load = ping ? pingSlice : wrk ? wrkSlice : slice
  for (const s of [a, b]) await load(s.url, { connections, durationS: warmupS })
  const half = durationS / 2
  const out = { a: [], b: [] }
  for (const [key, server] of [['a', a], ['b', b], ['b', b], ['a', a]]) out[key].push(await load(server.url, { connections, durationS: half, server }))
  return { a: summarize(out.a), b: summarize(out.b) }
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b)
  return percentile(s, 50)
}

/** The run whose `key` is the median among runs (so all its numbers come from one run). */
export function medianRun(runs, key) {
  const sorted = [...runs].sort((a, b) => a[key] - b[key])
  return sorted[Math.floor((sorted.length - 1) / 2)]
}

export const fmt = (n, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : String(n))

export const verdict = (ok) => (ok ? 'PASS' : 'MISS')
