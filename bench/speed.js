// Speed where developers feel it (`node bench/run.js --suites speed`, after `npm run build`):
// 1. cold start from zero with a spare replica vs without (`spareReplicas: 0`), alternated in
//    one run: scale a trivial handler to 0, wait until its worker exited (and, with spares,
//    until a spare is ready, as between two real cold starts), time one call to its answer.
// 2. save → first answer of the new version at 20 replicas under 4 loops of calls, and the
//    same at 1 replica (the baseline, same run): a poller calls every 2 ms until the new body.
// 3. 4 loops (autocannon, 4 connections) against default labels (autoscaling on, the default
//    machine budget) vs `com.openfaas.scale.max: 1`, and default labels with `--scale-always`
//    (every replica the labels ask for, as before the autoscaler judged whether they help) and
//    with a budget of 2, loaded A B C D D C B A so machine load hits all alike.
// Load only ever targets 127.0.0.1.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fmt, percentile, projectDir, slice, startServer, summarize, verdict, writeHelloStack } from './lib.js'

const { createRuntime } = await import(process.env.BENCH_DIST ?? '../dist/index.js')

const load = () => loadavg().map((n) => n.toFixed(2)).join(' ')

async function runtime(stack, extra = {}) {
  const rt = await createRuntime({ stack, port: 0, host: '127.0.0.1', watch: false, autoscaleIntervalMs: 0, log: () => undefined, onOutput: () => undefined, ...extra })
  await rt.start()
  return rt
}

async function call(url) {
  const res = await fetch(url)
  const body = await res.text()
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${body}`)
  return body
}

/** 1. Cold starts, with and without a spare, alternated. */
async function coldStarts(starts) {
  const stack = writeHelloStack({ max: 20 })
  const modes = { spare: await runtime(stack), none: await runtime(stack, { spareReplicas: 0 }) }
  const times = { spare: [], none: [] }
  try {
    for (const rt of Object.values(modes)) for (let i = 0; i < 5; i++) await call(`${rt.url}/function/hello`)
    const once = async (mode) => {
      const rt = modes[mode]
      const d = rt.router.deployments.get('hello')
      d.scale(0)
      // Until its worker exited (a stopped replica leaves the list), as bench/autoscale.js does.
      while (d['replicas'].length > 0 || (mode === 'spare' && rt.stats().spares.ready === 0)) await sleep(5)
      await sleep(100)
      const t = performance.now()
      await call(`${rt.url}/function/hello`)
      times[mode].push(performance.now() - t)
    }
    for (let i = 0; i < starts; i++) for (const mode of i % 2 ? ['none', 'spare', 'spare', 'none'] : ['spare', 'none', 'none', 'spare']) await once(mode)
  } finally {
    await Promise.all(Object.values(modes).map((rt) => rt.close()))
    rmSync(join(stack, '..'), { recursive: true, force: true })
  }
  const stat = (xs) => {
    const s = [...xs].sort((a, b) => a - b)
    return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95) }
  }
  return { spare: stat(times.spare), none: stat(times.none) }
}

/** 2. Save → first answer of the new version, `replicas` replicas under `loops` loops of calls. */
async function reloads(replicas, saves, loops) {
  const dir = projectDir('faasdev-bench-speed-')
  mkdirSync(join(dir, 'hello'))
  const file = join(dir, 'hello', 'handler.ts')
  const handler = (v) => `export default function handle(): string {\n  return ${JSON.stringify(v)}\n}\n`
  writeFileSync(file, handler('v0'))
  writeFileSync(join(dir, 'stack.yml'), `functions:\n  hello:\n    lang: typescript\n    handler: ./hello\n    labels:\n      com.openfaas.scale.min: "${replicas}"\n      com.openfaas.scale.max: "${replicas}"\n`)
  const rt = await createRuntime({ stack: join(dir, 'stack.yml'), port: 0, host: '127.0.0.1', watch: true, autoscaleIntervalMs: 0, log: () => undefined, onOutput: () => undefined })
  await rt.start()
  const url = `${rt.url}/function/hello`
  let stop = false
  let failed = 0
  let served = 0
  const running = Array.from({ length: loops }, async () => {
    while (!stop) {
      try {
        await call(url)
        served++
      } catch {
        failed++
      }
    }
  })
  const times = []
  try {
    const settle = async () => {
      while (!(rt.stats().functions.hello?.ready === replicas && rt.stats().functions.hello?.replicas === replicas)) await sleep(10)
      await sleep(300)
    }
    await settle()
    for (let i = -2; i < saves; i++) {
      const version = `v${i + 3}`
      const written = performance.now()
      writeFileSync(file, handler(version))
      while ((await call(url)) !== version) {
        if (performance.now() - written > 15_000) throw new Error(`${version} not served within 15 s`)
        await sleep(2)
      }
      // Two warm-up saves: the first rebuilds of a context pay one-time costs.
      if (i >= 0) times.push(performance.now() - written)
      await settle()
    }
  } finally {
    stop = true
    await Promise.all(running)
    await rt.close()
    rmSync(dir, { recursive: true, force: true })
  }
  times.sort((a, b) => a - b)
  return { replicas, saves, p50: percentile(times, 50), p95: percentile(times, 95), max: times[times.length - 1], served, failed }
}

/** 3. Req/s of 4 loops against default labels vs max 1 (and without a budget). */
async function scaling(durationS) {
  const servers = {
    max1: await startServer('labels', ['{"max":1}']),
    defaults: await startServer('labels', ['{}']),
    always: await startServer('labels', ['{}', '', 'always']),
    budget2: await startServer('labels', ['{}', '2']),
  }
  const out = { max1: [], defaults: [], always: [], budget2: [] }
  try {
    // Long enough for the autoscaler (rps over 5 s) to reach its count.
    for (const s of Object.values(servers)) await slice(s.url, { connections: 4, durationS: 6 })
    const half = durationS / 2
    for (const key of ['max1', 'defaults', 'always', 'budget2', 'budget2', 'always', 'defaults', 'max1']) out[key].push(await slice(servers[key].url, { connections: 4, durationS: half, server: servers[key] }))
    const replicas = {}
    for (const [key, s] of Object.entries(servers)) {
      const status = await (await fetch(s.url.replace('/function/', '/system/function/'))).json()
      replicas[key] = `${status.availableReplicas ?? 0}/${status.replicas ?? 0}`
    }
    return { ...Object.fromEntries(Object.entries(out).map(([k, v]) => [k, summarize(v)])), replicas }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.close()))
  }
}

export async function run({ runs = 3, durationS = 5, only = [], log = console.log } = {}) {
  const results = { cold: [], reload20: [], reload1: [], scaling: [] }
  const wanted = (name) => only.length === 0 || only.includes(name)
  for (let r = 1; r <= runs; r++) {
    log(`-- run ${r} (load average ${load()})`)
    if (wanted('cold')) {
      const cold = await coldStarts(10)
      results.cold.push(cold)
      log(`cold start from zero, first answer: with a spare p50 ${fmt(cold.spare.p50, 1)} ms (p95 ${fmt(cold.spare.p95, 1)}), without p50 ${fmt(cold.none.p50, 1)} ms (p95 ${fmt(cold.none.p95, 1)}), ${cold.spare.n} each → ratio ${fmt(cold.spare.p50 / cold.none.p50)} (target p50 ≤ 20 ms: ${verdict(cold.spare.p50 <= 20)})`)
    }
    if (wanted('reload')) {
      const r20 = await reloads(20, 6, 4)
      const r1 = await reloads(1, 6, 4)
      results.reload20.push(r20)
      results.reload1.push(r1)
      log(`save → first answer of the new version under 4 loops: 20 replicas p50 ${fmt(r20.p50, 0)} ms (p95 ${fmt(r20.p95, 0)}, max ${fmt(r20.max, 0)}), 1 replica p50 ${fmt(r1.p50, 0)} ms (p95 ${fmt(r1.p95, 0)}) → ratio ${fmt(r20.p50 / r1.p50)}; failed calls ${r20.failed + r1.failed} of ${r20.served + r1.served + r20.failed + r1.failed} (targets p50 ≤ 150 / ≤ 70 ms: ${verdict(r20.p50 <= 150)} / ${verdict(r1.p50 <= 70)})`)
    }
    if (wanted('scaling')) {
      const sc = await scaling(durationS * 2)
      results.scaling.push(sc)
      log(`4 loops, req/s: default labels ${fmt(sc.defaults.rps, 0)} (replicas ${sc.replicas.defaults}), max 1 ${fmt(sc.max1.rps, 0)} (${sc.replicas.max1}), --scale-always ${fmt(sc.always.rps, 0)} (${sc.replicas.always}), budget 2 ${fmt(sc.budget2.rps, 0)} (${sc.replicas.budget2}) → ÷ max 1: default ${fmt(sc.defaults.rps / sc.max1.rps)}, --scale-always ${fmt(sc.always.rps / sc.max1.rps)}, budget 2 ${fmt(sc.budget2.rps / sc.max1.rps)} (target ≥ 1: ${verdict(sc.defaults.rps >= sc.max1.rps)})`)
    }
  }
  log(`(load average after ${load()})`)
  return results
}
