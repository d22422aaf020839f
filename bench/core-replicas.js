// Replica benchmarks, each in a fresh process (run with --expose-gc); prints one JSON line.
//   cold N  — N times: scale `hello` to 0, wait until its worker has exited, then time one
//             call from the gateway until its answer (the call is held while a new worker starts).
//   rss N   — RSS of the whole process with 1 replica, then with 1+N idle replicas: delta / N.
import { rmSync } from 'node:fs'
import { dirname } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { HELLO, median, percentile, writeHelloStack } from './lib.js'

const { createRuntime } = await import(process.env.BENCH_DIST ?? '../dist/index.js')

const [mode = 'cold', nArg] = process.argv.slice(2)
const n = Number(nArg ?? (mode === 'cold' ? 20 : 10))

const stack = writeHelloStack({ min: 1, max: Math.max(20, n + 1) })
const rt = await createRuntime({ stack, port: 0, host: '127.0.0.1', watch: false, log: (l) => process.stderr.write(`${l}\n`), onOutput: () => undefined })
await rt.start()
const deployment = rt.router.deployments.get('hello')
// Read through the deployment's own list so the wait covers draining workers too.
const workers = () => deployment['replicas']

async function waitUntil(check, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

async function call() {
  const res = await fetch(`${rt.url}/function/hello`)
  const text = await res.text()
  if (res.status !== 200 || text !== HELLO) throw new Error(`unexpected answer ${res.status} ${text}`)
}

const gc = () => {
  if (!globalThis.gc) throw new Error('run with --expose-gc')
  globalThis.gc()
}

let result
try {
  if (mode === 'cold') {
    for (let i = 0; i < 5; i++) await call() // warm the gateway's own code paths first
    const firstAnswer = []
    const toReady = []
    for (let i = 0; i < n; i++) {
      const scaled = await fetch(`${rt.url}/system/scale-function/hello`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ serviceName: 'hello', replicas: 0 }),
      })
      if (scaled.status !== 202) throw new Error(`scale answered ${scaled.status}`)
      await waitUntil(() => workers().length === 0, 'the replica to exit')
      await sleep(50) // let the exited worker's memory go before the next start
      const t0 = performance.now()
      await call()
      firstAnswer.push(performance.now() - t0)
      const [r] = workers()
      if (r?.readyAt !== undefined) toReady.push(r.readyAt - r.startedAt)
    }
    firstAnswer.sort((a, b) => a - b)
    toReady.sort((a, b) => a - b)
    // What bounds it, measured in the same process: a worker thread that does nothing, and the
    // first Request a fresh worker builds (undici loads lazily in each thread).
    const emptyWorker = []
    const firstRequest = []
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      const w = new Worker(
        `const t = performance.now(); new Request('http://127.0.0.1/', { headers: { a: 'b' } }); require('node:worker_threads').parentPort.postMessage(performance.now() - t)`,
        { eval: true },
      )
      const requestMs = await new Promise((resolve) => w.once('message', resolve))
      // The thread's own start is its total minus the Request it built before answering.
      emptyWorker.push(performance.now() - t0 - requestMs)
      firstRequest.push(requestMs)
      await w.terminate()
    }
    result = {
      starts: n,
      firstAnswerMedian: median(firstAnswer),
      firstAnswerP95: percentile(firstAnswer, 95),
      readyMedian: median(toReady),
      readyP95: percentile(toReady, 95),
      emptyWorkerMedian: median(emptyWorker),
      firstRequestMedian: median(firstRequest),
    }
  } else if (mode === 'rss') {
    for (let i = 0; i < 20; i++) await call()
    await sleep(1000)
    gc()
    const before = process.memoryUsage().rss
    deployment.scale(1 + n)
    await waitUntil(() => deployment.stats().ready === 1 + n, `${1 + n} ready replicas`)
    // Every replica serves a few calls first: an idle replica is one that has worked.
    await Promise.all(Array.from({ length: 4 * (1 + n) }, () => call()))
    await sleep(2000)
    gc()
    const after = process.memoryUsage().rss
    result = { replicas: n, rssBeforeMb: before / 2 ** 20, rssAfterMb: after / 2 ** 20, perReplicaMb: (after - before) / n / 2 ** 20 }
  } else {
    throw new Error(`unknown mode ${mode}`)
  }
} finally {
  await rt.close()
  rmSync(dirname(stack), { recursive: true, force: true })
}
process.stdout.write(`${JSON.stringify(result)}\n`)
