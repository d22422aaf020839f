// Hot-reload benchmark (after `npm run build`):
//   node bench/reload.js [--saves 20] [--replicas 1] [--loops 0]
// Saves a handler SAVES times (watching on, as `faasdev up` runs) and times each save from the
// write to the first response of the new version, polling the function every 2 ms. The time
// is broken down with the runtime's own reload events (`--loops N`: N more fetch loops call the
// function without pause meanwhile, as in `bench/speed.js`):
//   watcher   write → first chokidar event
//   debounce  first event → esbuild starts (the coalescing quiet time, then scheduling)
//   esbuild   the incremental rebuild, output written
//   replicas  swap: new replica(s) started and ready, calls routed to them
//   first     new version routed → first response of it seen by the poller
// Load only ever targets 127.0.0.1.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { fmt, percentile, projectDir, verdict } from './lib.js'

const { createRuntime } = await import(process.env.BENCH_DIST ?? '../dist/index.js')
const { values } = parseArgs({ options: { saves: { type: 'string', default: '20' }, replicas: { type: 'string', default: '1' }, loops: { type: 'string', default: '0' } } })
const SAVES = Number(values.saves)
const REPLICAS = Number(values.replicas)
const LOOPS = Number(values.loops)
const TARGETS = { p50: 100, p95: 250 }

const handler = (version) => `export default function handle(): string {\n  return ${JSON.stringify(version)}\n}\n`

const dir = projectDir('faasdev-bench-reload-')
mkdirSync(join(dir, 'hello'))
const file = join(dir, 'hello', 'handler.ts')
writeFileSync(file, handler('v0'))
writeFileSync(
  join(dir, 'stack.yml'),
  `functions:\n  hello:\n    lang: typescript\n    handler: ./hello\n    labels:\n      com.openfaas.scale.min: "${REPLICAS}"\n      com.openfaas.scale.max: "${REPLICAS}"\n`,
)

const logs = []
const rt = await createRuntime({ stack: join(dir, 'stack.yml'), port: 0, host: '127.0.0.1', watch: true, autoscaleIntervalMs: 0, log: (l) => logs.push(l), onOutput: () => undefined })
await rt.start()
const events = []
rt.reloader.on('reload', (e) => events.push(e))
let stop = false
let failed = 0
const loops = Array.from({ length: LOOPS }, async () => {
  while (!stop) {
    const res = await fetch(`${rt.url}/function/hello`).catch(() => undefined)
    if (res?.status !== 200) failed++
    await res?.arrayBuffer()
  }
})

async function save(version) {
  const seen = events.length
  const written = performance.now()
  writeFileSync(file, handler(version))
  let firstAt
  for (const deadline = written + 10_000; performance.now() < deadline; ) {
    const body = await (await fetch(`${rt.url}/function/hello`)).text()
    if (body === version) {
      firstAt = performance.now()
      break
    }
    await sleep(2)
  }
  if (firstAt === undefined) throw new Error(`${version} was not served within 10 s:\n${logs.join('\n')}`)
  const e = events.slice(seen).find((x) => x.ok)
  if (!e) throw new Error(`no reload event for ${version}`)
  const swapStart = e.servingAt - e.startMs
  return {
    total: firstAt - written,
    watcher: e.detectedAt - written,
    debounce: swapStart - e.buildMs - e.detectedAt,
    esbuild: e.buildMs,
    replicas: e.startMs,
    first: firstAt - e.servingAt,
  }
}

try {
  // Two warm-up saves: the first rebuild of a context and the first swap pay one-time costs.
  for (const v of ['w1', 'w2']) await save(v)
  await sleep(300)
  const rows = []
  for (let i = 1; i <= SAVES; i++) {
    rows.push(await save(`v${i}`))
    // Let the old replicas drain and stop, as between two real saves.
    await sleep(250)
  }
  const stat = (key) => {
    const sorted = rows.map((r) => r[key]).sort((a, b) => a - b)
    return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), max: sorted[sorted.length - 1] }
  }
  console.log(`hot reload: ${SAVES} saves of a TypeScript handler, ${REPLICAS} replica(s), ${LOOPS} loops calling it (${failed} failed calls), write → first response of the new version (ms)`)
  console.log('| part | p50 | p95 | max |')
  console.log('|---|---|---|---|')
  for (const key of ['watcher', 'debounce', 'esbuild', 'replicas', 'first', 'total']) {
    const s = stat(key)
    console.log(`| ${key} | ${fmt(s.p50, 1)} | ${fmt(s.p95, 1)} | ${fmt(s.max, 1)} |`)
  }
  const total = stat('total')
  console.log(`targets: p50 ≤ ${TARGETS.p50} ms: ${verdict(total.p50 <= TARGETS.p50)}, p95 ≤ ${TARGETS.p95} ms: ${verdict(total.p95 <= TARGETS.p95)}`)
  console.log(JSON.stringify({ saves: SAVES, replicas: REPLICAS, total, parts: Object.fromEntries(['watcher', 'debounce', 'esbuild', 'replicas', 'first'].map((k) => [k, stat(k)])) }))
} finally {
  stop = true
  await Promise.all(loops)
  await rt.close()
  rmSync(dir, { recursive: true, force: true })
}
