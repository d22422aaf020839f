// Async benchmarks of faasdev (after `npm run build`):
//   node bench/async.js [--runs 3] [--calls 20000] [--seconds 5] [--tools auto|wrk|autocannon]
// 1. Throughput of a trivial function submitted with POST /async-function and received on a
//    local callback server, against the sync path's throughput on the same function in the
//    same server process and the same run (ratio). The load generator and the callback
//    receiver share the machine's two cores with faasdev, so their own cost caps the result:
//    with wrk and nginx (Debian: `apt-get install wrk nginx-light`) they take about 50 µs of
//    CPU per call, with autocannon and a node:http receiver about 150 µs. `--tools auto` (the
//    default) uses wrk + nginx when both are installed, autocannon + node:http otherwise, and
//    says which; both sides of the ratio are measured with the same load generator.
//    `--seconds` sets each run's length for each side (5 by default), loaded as two halves in
//    A B B A order (faasdev, relay, relay, faasdev): the bare relay's own rate swings between
//    runs of a few seconds on a shared machine, and the ratio should not depend on which side
//    met the swing.
//    A second baseline, the bare relay: a node:http server in its own process that does only
//    what any async gateway must (answer 202, then POST "hello world" to the callback URL with
//    undici, on one thread, no queue, no worker thread, no bookkeeping). It is the ceiling for
//    submit→callback in Node on this machine with these tools; faasdev's ratio to it says how
//    much of that ceiling the queue, the replica hop and the call records cost.
// 2. The seed scenario (30 calls of 1 s, max_inflight 5, one replica): makespan efficiency
//    (ideal / measured), next to a simulation of OpenFaaS's retry-on-429 dispatch with the
//    same limits and the same retry policy (dist/queue-worker/retry.js).
// Load only ever targets 127.0.0.1.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { Agent } from 'undici'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { assertLocal, fmt, load, median, medianRun } from './lib.js'

const DIST = process.env.BENCH_DIST ?? '../dist/index.js'
// ofRelay: issue 15's target for faasdev ÷ bare relay in the median run.
const TARGETS = { asyncCallsPerS: 8000, seedEfficiency: 0.95, ofRelay: 0.8 }
const SEED = { calls: 30, seconds: 1, maxInflight: 5 }

function writeStack() {
  const dir = mkdtempSync(join(tmpdir(), 'faasdev-bench-async-'))
  mkdirSync(join(dir, 'hello'))
  mkdirSync(join(dir, 'sleep'))
  writeFileSync(join(dir, 'hello', 'handler.js'), `export default function handle() {\n  return 'hello world\\n'\n}\n`)
  writeFileSync(join(dir, 'sleep', 'handler.js'), `export default async function handle() {\n  await new Promise((r) => setTimeout(r, ${SEED.seconds * 1000}))\n  return 'slept'\n}\n`)
  const file = join(dir, 'stack.yml')
  writeFileSync(
    file,
    [
      'functions:',
      '  hello:',
      '    lang: javascript',
      '    handler: ./hello',
      '    labels:',
      '      com.openfaas.scale.min: "1"',
      '      com.openfaas.scale.max: "1"',
      '  sleep:',
      '    lang: javascript',
      '    handler: ./sleep',
      '    environment:',
      `      max_inflight: ${SEED.maxInflight}`,
      '    labels:',
      '      com.openfaas.scale.min: "1"',
      '      com.openfaas.scale.max: "1"',
      '',
    ].join('\n'),
  )
  return file
}

/** The server half, in its own process so the load generator does not share its event loop. */
async function serve() {
  const { createRuntime } = await import(DIST)
  const rt = await createRuntime({ stack: writeStack(), port: 0, host: '127.0.0.1', watch: false, autoscaleIntervalMs: 0, log: (l) => process.stderr.write(`${l}\n`) })
  await rt.start()
  const statuses = []
  rt.router.observe({ finished: (name, status) => name === 'sleep' && statuses.push(status) })
  process.on('message', (m) => {
    if (m === 'seed-statuses') process.send?.({ statuses: statuses.splice(0) })
  })
  process.on('SIGTERM', () => void rt.close().then(() => process.exit(0)))
  process.stdout.write(`URL ${rt.url}\n`)
}

/**
 * The bare relay baseline (see the top of this file): answers every POST 202 and sends its
 * callback with undici's dispatch, keep-alive and no pipelining, as faasdev's callback thread does.
 */
function relay() {
  const agent = new Agent({ connections: 256, pipelining: 1 })
  const targets = new Map()
  const body = Buffer.from('hello world\n')
  const ignore = { onRequestStart() {}, onResponseStart() {}, onResponseData() {}, onResponseEnd() {}, onResponseError() {} }
  let id = 0
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const url = req.headers['x-callback-url']
      if (typeof url !== 'string' || !URL.canParse(url)) return void res.writeHead(400).end('X-Callback-Url: an http(s) URL\n')
      let target = targets.get(url)
      if (!target) {
        const u = new URL(url)
        targets.set(url, (target = { origin: u.origin, path: u.pathname + u.search }))
      }
      const callId = String(++id)
      res.writeHead(202, { 'x-call-id': callId }).end()
      agent.dispatch({ origin: target.origin, path: target.path, method: 'POST', headers: ['content-type', 'text/plain', 'x-call-id', callId, 'x-function-status', '200', 'x-function-name', 'hello'], body }, ignore)
    })
  })
  server.keepAliveTimeout = 60_000
  process.on('SIGTERM', () => process.exit(0))
  server.listen(0, '127.0.0.1', () => process.stdout.write(`URL http://127.0.0.1:${server.address().port}\n`))
}

function startServer(mode = '--server') {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(process.env.BENCH_SERVER_FLAGS?.split(' ').filter(Boolean) ?? []), import.meta.filename, mode], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
    let out = ''
    child.stdout.setEncoding('utf8')
    const onData = (c) => {
      out += c
      const line = out.split('\n').find((l) => l.startsWith('URL '))
      if (!line) return
      child.stdout.off('data', onData)
      child.stdout.resume()
      resolve({
        url: line.slice(4).trim(),
        statuses: () => new Promise((done) => (child.once('message', (m) => done(m.statuses)), child.send('seed-statuses'))),
        close: () => new Promise((done) => (child.exitCode !== null ? done() : (child.once('exit', () => done()), child.kill('SIGTERM')))),
      })
    }
    child.stdout.on('data', onData)
    child.once('exit', (code) => reject(new Error(`async bench server exited with code ${code}`)))
  })
}

/** A local callback receiver: counts callbacks and notes when the last arrived. */
async function receiver() {
  const state = { count: 0, last: 0, bad: 0, waiters: [] }
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      state.count++
      state.last = performance.now()
      if (req.headers['x-function-status'] !== '200') state.bad++
      res.end()
      for (const w of state.waiters.filter((x) => state.count >= x.n)) {
        state.waiters.splice(state.waiters.indexOf(w), 1)
        w.resolve()
      }
    })
  })
  server.keepAliveTimeout = 60_000
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${server.address().port}/cb`,
    state,
    reset() {
      state.count = 0
      state.bad = 0
    },
    until(n, timeoutMs) {
      if (state.count >= n) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const w = { n, resolve }
        state.waiters.push(w)
        setTimeout(() => reject(new Error(`only ${state.count} of ${n} callbacks within ${timeoutMs} ms`)), timeoutMs).unref()
      })
    },
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))),
  }
}

/** Submits `calls` async calls with autocannon and waits for every callback. */
async function asyncThroughput(server, cb, calls) {
  cb.reset()
  const started = performance.now()
  const result = await autocannon({
    url: `${server.url}/async-function/hello`,
    method: 'POST',
    headers: { 'x-callback-url': cb.url },
    connections: 50,
    amount: calls,
  })
  const submitted = performance.now()
  const accepted = result['2xx']
  await cb.until(accepted, 120_000)
  const seconds = (cb.state.last - started) / 1000
  return { calls: accepted, refused: result.non2xx + result.errors, submitS: (submitted - started) / 1000, seconds, callsPerS: accepted / seconds, badCallbacks: cb.state.bad }
}

const has = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore' }).error === undefined

/** A free port on 127.0.0.1 (for nginx, which cannot be told to pick one). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

/**
 * nginx as the callback receiver: answers 200 and logs each callback's arrival time and
 * X-Function-Status, which are read back to count them.
 */
async function nginxReceiver() {
  const dir = mkdtempSync(join(tmpdir(), 'faasdev-bench-nginx-'))
  const port = await freePort()
  const log = join(dir, 'callbacks.log')
  const conf = join(dir, 'nginx.conf')
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  log_format cb '$msec $http_x_function_status';
  access_log ${log} cb buffer=256k flush=100ms;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:${port};
    location / { return 200; }
  }
}
`,
  )
  const child = spawn('nginx', ['-e', join(dir, 'error.log'), '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] })
  const url = `http://127.0.0.1:${port}/cb`
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with code ${child.exitCode}: ${readFileSync(join(dir, 'error.log'), 'utf8')}`)
    if (await fetch(url, { method: 'POST' }).then((r) => r.ok, () => false)) break
    if (i > 100) throw new Error('nginx did not start within 5 s')
    await new Promise((r) => setTimeout(r, 50))
  }
  const read = () => {
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' '))
    return { count: lines.length, last: lines.length ? Number(lines.at(-1)[0]) * 1000 : 0, bad: lines.filter((l) => l[1] !== '200').length }
  }
  return {
    url,
    reset: () => writeFileSync(log, ''),
    /** Waits until `n` callbacks are logged; their count, the last one's time (epoch ms) and the non-200s. */
    async until(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const r = read()
        if (r.count >= n) return r
        if (Date.now() > deadline) throw new Error(`only ${r.count} of ${n} callbacks within ${timeoutMs} ms`)
        await new Promise((res) => setTimeout(res, 100))
      }
    },
    close: () =>
      new Promise((done) => {
        child.once('exit', () => (rmSync(dir, { recursive: true, force: true }), done()))
        child.kill('SIGQUIT')
      }),
  }
}

/** Runs wrk (one thread, `connections` connections) for `durationS`; its request count and non-2xx answers. */
function wrk(url, { connections, durationS, callbackUrl }) {
  assertLocal(url)
  const args = ['-t1', `-c${connections}`, `-d${durationS}s`]
  let script
  if (callbackUrl) {
    script = join(mkdtempSync(join(tmpdir(), 'faasdev-bench-wrk-')), 'post.lua')
    writeFileSync(script, `wrk.method = "POST"\nwrk.headers["X-Callback-Url"] = "${callbackUrl}"\n`)
    args.push('-s', script)
  }
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', [...args, url], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (c) => (out += c))
    child.once('error', reject)
    child.once('exit', (code) => {
      if (script) rmSync(dirname(script), { recursive: true, force: true })
      const requests = Number(/(\d+) requests in/.exec(out)?.[1])
      if (code !== 0 || !Number.isFinite(requests)) return reject(new Error(`wrk failed (${code}): ${out}`))
      const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
      resolve({ requests, non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + (errors ? errors.slice(1).reduce((n, x) => n + Number(x), 0) : 0) })
    })
  })
}

/** Submits with wrk for `durationS` and waits for every callback nginx receives. */
async function asyncThroughputWrk(server, cb, durationS) {
  cb.reset()
  const started = Date.now()
  const result = await wrk(`${server.url}/async-function/hello`, { connections: 50, durationS, callbackUrl: cb.url })
  const submitted = Date.now()
  const accepted = result.requests - result.non2xx
  const got = await cb.until(accepted, 120_000)
  const seconds = (got.last - started) / 1000
  return { calls: accepted, refused: result.non2xx, submitS: (submitted - started) / 1000, seconds, callsPerS: accepted / seconds, badCallbacks: got.bad }
}

/** The seed scenario on the real runtime: first submit to last callback. */
async function seedScenario(server, cb) {
  cb.reset()
  await server.statuses()
  const started = performance.now()
  const responses = await Promise.all(
    Array.from({ length: SEED.calls }, () => fetch(`${server.url}/async-function/sleep`, { method: 'POST', headers: { 'x-callback-url': cb.url } })),
  )
  if (responses.some((r) => r.status !== 202)) throw new Error(`seed submit refused: ${responses.map((r) => r.status).join(',')}`)
  await cb.until(SEED.calls, 60_000)
  const measured = (cb.state.last - started) / 1000
  const statuses = await server.statuses()
  const ideal = (SEED.calls / SEED.maxInflight) * SEED.seconds
  return { ideal, measured, efficiency: ideal / measured, invocations: statuses.length, got429: statuses.filter((s) => s === 429).length, badCallbacks: cb.state.bad }
}

/**
 * OpenFaaS-style dispatch as a discrete-event simulation: every queued message is sent at once
 * (the Pro queue-worker's max_inflight 50 ≥ 30), the function takes `maxInflight` and answers
 * the rest 429 at once, and each 429 is retried after the same backoff faasdev uses
 * (exponential from `initialWaitMs`, equal jitter). Returns the makespan and the 429 count.
 */
export function simulateRetryOn429({ calls, seconds, maxInflight }, settings, retryDelay, random = Math.random) {
  const events = [] // [time, order, kind, msg]
  let order = 0
  const push = (t, kind, msg) => events.push([t, order++, kind, msg])
  for (let i = 0; i < calls; i++) push(0, 'attempt', { retries: 0 })
  let busy = 0
  let rejected = 0
  let done = 0
  let now = 0
  while (done < calls) {
    // Completions first at equal times: a slot freed at t is free for an attempt at t.
    events.sort((a, b) => a[0] - b[0] || (a[2] === b[2] ? a[1] - b[1] : a[2] === 'done' ? -1 : 1))
    const [t, , kind, msg] = events.shift()
    now = t
    if (kind === 'done') {
      busy--
      done++
    } else if (busy < maxInflight) {
      busy++
      push(t + seconds * 1000, 'done', msg)
    } else {
      rejected++
      msg.retries++
      push(t + retryDelay(msg.retries, settings, undefined, random()), 'attempt', msg)
    }
  }
  return { makespanS: now / 1000, rejected }
}

export async function run({ runs = 3, calls = 20_000, seconds = 5, tools = 'auto', log = console.log } = {}) {
  const { retryDelay, RETRY_DEFAULTS } = await import(new URL('../dist/queue-worker/retry.js', import.meta.url).href)
  const haveWrk = has('wrk', ['-v']) && has('nginx', ['-v'])
  if (tools === 'wrk' && !haveWrk) throw new Error('--tools wrk needs wrk and nginx on the PATH (Debian: apt-get install wrk nginx-light)')
  const useWrk = tools === 'wrk' || (tools === 'auto' && haveWrk)
  log(
    useWrk
      ? `load: wrk (1 thread, 50 connections, ${seconds} s) for submits and sync calls, nginx receiving the callbacks`
      : `load: autocannon (50 connections) for submits and sync calls, a node:http server receiving the callbacks${tools === 'auto' ? ' (wrk or nginx not installed)' : ''}; they cost about three times what wrk + nginx do, on the same cores`,
  )
  const cb = await receiver()
  const fast = useWrk ? await nginxReceiver() : undefined
  const server = await startServer()
  const bare = await startServer('--relay')
  const throughput = []
  const seed = []
  // `share` of a run's submits: seconds of wrk, or calls of autocannon.
  const asyncRun = (share, target = server) => (fast ? asyncThroughputWrk(target, fast, Math.max(1, Math.round(seconds * share))) : asyncThroughput(target, cb, Math.round(calls * share)))
  /**
   * faasdev and the relay loaded in turn, A B B A, each slice half a run: the relay's own rate
   * moved by 1.5× between runs a few seconds apart, so the two sides of the ratio are measured
   * as close together as they can be, and a drift during the run hits both alike.
   */
  const abba = async () => {
    const a1 = await asyncRun(0.5)
    const b1 = await asyncRun(0.5, bare)
    const b2 = await asyncRun(0.5, bare)
    const a2 = await asyncRun(0.5)
    const sum = (x, y) => ({
      calls: x.calls + y.calls,
      seconds: x.seconds + y.seconds,
      submitS: x.submitS + y.submitS,
      callsPerS: (x.calls + y.calls) / (x.seconds + y.seconds),
      refused: x.refused + y.refused,
      badCallbacks: x.badCallbacks + y.badCallbacks,
    })
    return { a: sum(a1, a2), b: sum(b1, b2) }
  }
  const syncRun = async () => {
    if (!fast) return load(`${server.url}/function/hello`, { connections: 50, durationS: 5, warmupS: 1 })
    await wrk(`${server.url}/function/hello`, { connections: 50, durationS: 1 })
    const r = await wrk(`${server.url}/function/hello`, { connections: 50, durationS: seconds })
    return { rps: r.requests / seconds, non2xx: r.non2xx }
  }
  try {
    // Warm-up: replicas, JIT, keep-alive sockets in both directions.
    await asyncRun(0.4)
    await asyncRun(0.4, bare)
    for (let i = 0; i < runs; i++) {
      const { a, b } = await abba()
      const s = await syncRun()
      const r = {
        asyncCallsPerS: a.callsPerS,
        syncRps: s.rps,
        ratio: a.callsPerS / s.rps,
        relayCallsPerS: b.callsPerS,
        ofRelay: a.callsPerS / b.callsPerS,
        asyncCalls: a.calls,
        asyncSeconds: a.seconds,
        submitSeconds: a.submitS,
        refused: a.refused + b.refused,
        badCallbacks: a.badCallbacks + b.badCallbacks,
        syncErrors: s.non2xx,
      }
      log(
        `  run ${i + 1}: async ${fmt(r.asyncCallsPerS, 0)} calls/s submit→callback (${r.asyncCalls} calls in ${fmt(r.asyncSeconds)} s, submits done at ${fmt(r.submitSeconds)} s), ` +
          `sync ${fmt(r.syncRps, 0)} req/s, ratio ${fmt(r.ratio)}; bare relay ${fmt(r.relayCallsPerS, 0)} calls/s, faasdev/relay ${fmt(r.ofRelay)}${r.refused || r.badCallbacks ? `, ${r.refused} refused, ${r.badCallbacks} bad callbacks` : ''}`,
      )
      throughput.push(r)
    }
    for (let i = 0; i < runs; i++) {
      const r = await seedScenario(server, cb)
      log(`  seed run ${i + 1}: ${fmt(r.measured)} s for ${SEED.calls} × ${SEED.seconds} s at max_inflight ${SEED.maxInflight} (ideal ${r.ideal} s), efficiency ${fmt(r.efficiency)}, ${r.got429} × 429, ${r.invocations} invocations`)
      seed.push(r)
    }
  } finally {
    await server.close()
    await bare.close()
    await cb.close()
    await fast?.close()
  }
  const sims = {}
  for (const [label, settings] of [
    ['faasdev defaults (1 s initial, 30 s max)', RETRY_DEFAULTS],
    ['OpenFaaS Pro chart (10 s initial, 120 s max)', { ...RETRY_DEFAULTS, initialWaitMs: 10_000, maxWaitMs: 120_000 }],
  ]) {
    const outcomes = Array.from({ length: 201 }, () => simulateRetryOn429(SEED, settings, retryDelay))
    const makespan = median(outcomes.map((o) => o.makespanS))
    const ideal = (SEED.calls / SEED.maxInflight) * SEED.seconds
    sims[label] = { makespanS: makespan, efficiency: ideal / makespan, rejected: median(outcomes.map((o) => o.rejected)) }
  }
  const t = medianRun(throughput, 'asyncCallsPerS')
  const sd = medianRun(seed, 'efficiency')
  log(`async throughput (trivial function, one replica, 50 submit connections, ${fast ? `${seconds} s of submits with wrk` : `${calls} calls with autocannon`}): ${fmt(t.asyncCallsPerS, 0)} calls/s vs sync ${fmt(t.syncRps, 0)} req/s, ratio ${fmt(t.ratio)} (target ≥ ${TARGETS.asyncCallsPerS} calls/s) ${t.asyncCallsPerS >= TARGETS.asyncCallsPerS ? 'PASS' : 'MISS'}`)
  const relayMedian = median(throughput.map((r) => r.relayCallsPerS))
  log(`  bare relay (node:http 202 + undici callback, one thread, nothing else): ${fmt(relayMedian, 0)} calls/s median; faasdev reaches ${fmt(median(throughput.map((r) => r.ofRelay)))} of it in the median run (target ≥ ${TARGETS.ofRelay}) ${median(throughput.map((r) => r.ofRelay)) >= TARGETS.ofRelay ? 'PASS' : 'MISS'}`)
  log(`seed scenario: efficiency ${fmt(sd.efficiency)} (${fmt(sd.measured)} s, ideal ${sd.ideal} s, ${sd.got429} × 429) (target ≥ ${TARGETS.seedEfficiency}) ${sd.efficiency >= TARGETS.seedEfficiency ? 'PASS' : 'MISS'}`)
  for (const [label, s] of Object.entries(sims)) log(`  simulated OpenFaaS retry-on-429, ${label}: makespan ${fmt(s.makespanS)} s, efficiency ${fmt(s.efficiency)}, ${s.rejected} × 429 (median of 201)`)
  return { tools: fast ? 'wrk+nginx' : 'autocannon+node', throughput: { runs: throughput, median: t }, seed: { runs: seed, median: sd }, simulation: sims }
}

if (process.argv.includes('--server')) {
  await serve()
} else if (process.argv.includes('--relay')) {
  relay()
} else if (import.meta.filename === process.argv[1]) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, calls: { type: 'string', default: '20000' }, seconds: { type: 'string', default: '5' }, tools: { type: 'string', default: 'auto' }, server: { type: 'boolean' } } })
  if (!['auto', 'wrk', 'autocannon'].includes(values.tools)) throw new Error(`--tools: auto, wrk or autocannon, not ${values.tools}`)
  await run({ runs: Number(values.runs), calls: Number(values.calls), seconds: Number(values.seconds), tools: values.tools })
}
