// JetStream benchmark: async calls through faasdev with `--queue jetstream` against raw
// JetStream publish + pull-consume of the same bodies, with the same client library, on the
// same nats-server (file storage). Three rates, each "messages fully done per second":
//   raw      js.publish (256 in flight) + consumer.consume() acking each message
//   backend  faasdev's JetStreamQueue: submit (256 in flight) + take + ack, no HTTP, no function
//   faasdev  POST /async-function/hello (32 connections) → JetStream → queue-worker → worker
//            thread → callback POST received here; done when every callback has arrived
//   memory   the same faasdev run with the memory queue: what the HTTP, worker-thread and
//            callback part costs without JetStream
// Usage (after `npm run build`): node bench/jetstream.js [--messages N] [--runs N] [--body BYTES]
//   [--only raw,backend,faasdev,memory] (the measures to run; default all four)
//   [--baseline DIR] (also runs the faasdev measure with the build in DIR, another checkout
//   after `npm run build`, alternating with this one on the same nats-server, and reports
//   this build's rate as a ratio to it, run by run: the A/B for a change to the async path)
//   BENCH_FAASDEV_FLAGS="--cpu-prof --cpu-prof-dir=DIR": node flags for the faasdev children
// On Linux each faasdev measure also reports the CPU its main thread (gateway and
// queue-worker, the bottleneck) used per call, from /proc: less sensitive than the rate to
// what else runs on a shared machine.
// Only 127.0.0.1 is loaded; the nats-server is a child started here, with a temp store.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { AckPolicy, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import autocannon from 'autocannon'
import { JetStreamQueue } from '../dist/queue/jetstream.js'
import { NatsServer } from '../dist/queue/nats-server.js'
import { HERE, writeHelloStack } from './lib.js'

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Runs `task(i)` for i in [0, n) with at most `window` promises in flight. */
async function pool(n, window, task) {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(window, n) }, async () => {
    while (next < n) await task(next++)
  }))
}

async function raw(url, n, body, tag) {
  const nc = await connect({ servers: url })
  const jsm = await jetstreamManager(nc)
  const js = jsm.jetstream()
  const stream = `RAW_${tag}`
  await jsm.streams.add({ name: stream, subjects: [`raw${tag}.*`], retention: RetentionPolicy.Workqueue, storage: StorageType.File })
  await jsm.consumers.add(stream, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, filter_subject: `raw${tag}.hello` })
  const consumer = await js.consumers.get(stream, 'raw')
  const started = performance.now()
  const consumed = (async () => {
    const msgs = await consumer.consume({ max_messages: 256 })
    let got = 0
    for await (const m of msgs) {
      m.ack()
      if (++got === n) break
    }
    await nc.flush()
  })()
  await pool(n, 256, () => js.publish(`raw${tag}.hello`, body))
  await consumed
  const seconds = (performance.now() - started) / 1000
  await jsm.streams.delete(stream)
  await nc.close()
  return n / seconds
}

async function backend(url, n, body, tag) {
  const q = new JetStreamQueue({ url, queueName: `bench${tag}`, maxBody: 1024 * 1024, log: () => undefined })
  await q.start()
  const started = performance.now()
  let done = 0
  let finish
  const finished = new Promise((r) => (finish = r))
  let draining = false
  const drain = async () => {
    if (draining) return
    draining = true
    for (;;) {
      const m = await q.take('hello')
      if (!m) break
      await m.ack()
      if (++done === n) finish()
    }
    draining = false
  }
  q.onReady(() => void drain())
  await pool(n, 256, (i) => q.submit({ id: `b-${i}`, function: 'hello', method: 'POST', path: '/', headers: { 'content-type': 'application/octet-stream' }, body, submittedAt: Date.now() }))
  // onReady may fire while a drain is still running: poll until every message is acked.
  while (done < n) {
    void drain()
    await Promise.race([finished, new Promise((r) => setTimeout(r, 5))])
  }
  const seconds = (performance.now() - started) / 1000
  await q.close()
  return n / seconds
}

/** CPU seconds used so far by a process's main thread, from /proc (Linux); undefined elsewhere. */
function mainThreadCpu(pid) {
  try {
    // Fields after the command's closing parenthesis: state is the first, utime and stime the 12th and 13th, in clock ticks (100 a second).
    const f = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return undefined
  }
}

/** µs of the faasdev child's main-thread CPU per call, for each faasdev measure in order (NaN where /proc is not there). */
const cpuPerCall = []

async function faasdev(url, n, body, tag, queueArgs = ['--queue', 'jetstream', '--nats-url', url, '--queue-name', `e2e${tag}`], root = join(HERE, '..')) {
  let callbacks = 0
  let allDone
  // Timed when the last callback arrives, not when autocannon resolves: autocannon finishes on
  // its one-second sampling tick, which rounded every rate here to 5000/2 s, 5000/3 s, …
  const done = new Promise((r) => (allDone = r))
  const receiver = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.end()
      if (++callbacks === n) allDone(performance.now())
    })
  })
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r))
  const callback = `http://127.0.0.1:${receiver.address().port}/done`
  const stack = writeHelloStack({ min: 2, max: 2 })
  const child = spawn(process.execPath, [...(process.env.BENCH_FAASDEV_FLAGS?.split(' ').filter(Boolean) ?? []), join(root, 'bin', 'faasdev.js'), 'up', '-f', stack, '--port', '0', '--no-watch', ...queueArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const base = await new Promise((resolve, reject) => {
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (c) => {
      out += c
      const m = /gateway listening on (http:\/\/\S+)/.exec(out)
      if (m) resolve(m[1])
    })
    child.stderr.resume()
    child.once('exit', (code) => reject(new Error(`faasdev exited with ${code}: ${out}`)))
  })
  const cpuBefore = mainThreadCpu(child.pid)
  const started = performance.now()
  const result = await autocannon({
    url: `${base}/async-function/hello`,
    method: 'POST',
    body: Buffer.from(body),
    headers: { 'content-type': 'application/octet-stream', 'x-callback-url': callback },
    connections: 32,
    amount: n,
  })
  const accepted = result['2xx']
  if (accepted !== n) throw new Error(`only ${accepted} of ${n} async calls accepted (non-2xx ${result.non2xx}, errors ${result.errors})`)
  const seconds = ((await done) - started) / 1000
  const cpuAfter = mainThreadCpu(child.pid)
  cpuPerCall.push(cpuBefore === undefined || cpuAfter === undefined ? NaN : ((cpuAfter - cpuBefore) / n) * 1e6)
  await new Promise((r) => {
    child.once('exit', r)
    child.kill('SIGTERM')
  })
  receiver.close()
  return n / seconds
}

export async function run(options = {}) {
  const n = options.messages ?? 5000
  const runs = options.runs ?? 3
  const bodyBytes = options.bodyBytes ?? 1024
  const log = options.log ?? console.log
  const body = new Uint8Array(bodyBytes).map((_, i) => i % 251)
  const dir = mkdtempSync(join(tmpdir(), 'faasdev-bench-nats-'))
  const server = new NatsServer({ dataDir: dir, maxPayload: 16 * 1024 * 1024, log: () => undefined })
  await server.start()
  const only = new Set(options.only ?? ['raw', 'backend', 'faasdev', 'memory'])
  const measure = async (name, fn) => (only.has(name) ? fn() : NaN)
  const rates = { raw: [], backend: [], faasdev: [], memory: [], baseline: [] }
  const cpu = { faasdev: [], baseline: [] }
  try {
    for (let r = 0; r < runs; r++) {
      rates.raw.push(await measure('raw', () => raw(server.url, n, body, r)))
      rates.backend.push(await measure('backend', () => backend(server.url, n, body, r)))
      if (options.baseline) {
        // Alternated (A B, then B A) so neither build always runs first.
        const base = () => faasdev(server.url, n, body, `b${r}`, ['--queue', 'jetstream', '--nats-url', server.url, '--queue-name', `e2eb${r}`], options.baseline)
        if (r % 2 === 1) rates.baseline.push(await base())
        rates.faasdev.push(await faasdev(server.url, n, body, r))
        cpu.faasdev.push(cpuPerCall.at(-1))
        if (r % 2 === 1) cpu.baseline.push(cpuPerCall.at(-2))
        if (r % 2 === 0) {
          rates.baseline.push(await base())
          cpu.baseline.push(cpuPerCall.at(-1))
        }
      } else rates.faasdev.push(await measure('faasdev', () => faasdev(server.url, n, body, r)))
      rates.memory.push(await measure('memory', () => faasdev(server.url, n, body, r, ['--queue', 'memory'])))
      log(
        `run ${r + 1}: raw ${rates.raw[r].toFixed(0)}/s  backend ${rates.backend[r].toFixed(0)}/s  faasdev ${rates.faasdev[r].toFixed(0)}/s  faasdev (memory queue) ${rates.memory[r].toFixed(0)}/s` +
          (options.baseline
            ? `  baseline faasdev ${rates.baseline[r].toFixed(0)}/s (ratio ${(rates.faasdev[r] / rates.baseline[r]).toFixed(2)}; main-thread CPU per call ${cpu.faasdev[r].toFixed(0)} µs, baseline ${cpu.baseline[r].toFixed(0)} µs)`
            : ''),
      )
    }
  } finally {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  }
  const result = {
    messages: n,
    bodyBytes,
    rawPerSecond: Math.round(median(rates.raw)),
    backendPerSecond: Math.round(median(rates.backend)),
    faasdevPerSecond: Math.round(median(rates.faasdev)),
    memoryQueuePerSecond: Math.round(median(rates.memory)),
  }
  // Ratios are taken within each run (same machine load for both sides), then the median.
  result.backendRatio = +median(rates.backend.map((b, i) => b / rates.raw[i])).toFixed(2)
  result.faasdevRatio = +median(rates.faasdev.map((f, i) => f / rates.raw[i])).toFixed(2)
  result.runs = rates.raw.map((raw, i) => ({ raw: Math.round(raw), backend: Math.round(rates.backend[i]), faasdev: Math.round(rates.faasdev[i]), memoryQueue: Math.round(rates.memory[i]) }))
  if (options.baseline) {
    result.baselinePerSecond = Math.round(median(rates.baseline))
    result.baselineRatio = +median(rates.faasdev.map((f, i) => f / rates.baseline[i])).toFixed(2)
    result.runs.forEach((run, i) => (run.baseline = Math.round(rates.baseline[i])))
    // The baseline's CPU per call over this build's: like the rate ratio, above 1 when this build does less per call.
    result.cpuRatio = +median(cpu.faasdev.map((c, i) => cpu.baseline[i] / c)).toFixed(2)
    result.runs.forEach((run, i) => Object.assign(run, { cpuMicrosPerCall: Math.round(cpu.faasdev[i]), baselineCpuMicrosPerCall: Math.round(cpu.baseline[i]) }))
    log(`faasdev async end to end, median of ${runs}: this build ${result.faasdevPerSecond}/s, baseline ${result.baselinePerSecond}/s; median per-run ratio ${result.baselineRatio}`)
    log(`main-thread CPU per call, median per-run ratio baseline ÷ this build: ${result.cpuRatio}`)
  }
  log(`median of ${runs}: raw JetStream ${result.rawPerSecond}/s, faasdev JetStreamQueue ${result.backendPerSecond}/s, faasdev async end to end ${result.faasdevPerSecond}/s, the same with the memory queue ${result.memoryQueuePerSecond}/s`)
  log(`median per-run ratio to raw JetStream: backend ${result.backendRatio}x, end to end ${result.faasdevRatio}x`)
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { messages: { type: 'string', default: '5000' }, runs: { type: 'string', default: '3' }, body: { type: 'string', default: '1024' }, only: { type: 'string' }, baseline: { type: 'string' } } })
  const result = await run({ messages: Number(values.messages), runs: Number(values.runs), bodyBytes: Number(values.body), ...(values.only ? { only: values.only.split(',') } : {}), ...(values.baseline ? { baseline: values.baseline } : {}) })
  console.log(JSON.stringify(result))
}
