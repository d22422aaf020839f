// The main thread → replica hop without HTTP: calls `router.invoke()` in-process with 50 in
// flight over 2 replicas of the trivial handler (`node bench/core-hop.js [calls] node20`: of a
// node20-template handler answering a POSTed JSON body), and reads each thread's CPU time from /proc
// (Linux) to split the cost between the main thread and everything else (replicas, GC helpers).
// Prints one JSON line.
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import { TextDecoder, TextEncoder } from 'node:util'
import { writeHelloStack } from './lib.js'

const { createRuntime } = await import(process.env.BENCH_DIST ?? '../dist/index.js')
const calls = Number(process.argv[2] ?? 40_000)
// `node20`: a node20-template handler answering a POSTed JSON body, instead of the trivial fetch-style one.
const handler = process.argv[3] ?? 'string'

/** CPU time per thread of this process, in clock ticks (100 per second on Linux). */
function threadTicks() {
  const out = new Map()
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    out.set(tid, Number(fields[11]) + Number(fields[12]))
  }
  return out
}

const stack = writeHelloStack({ min: 2, max: 2 }, handler)
const rt = await createRuntime({ stack, port: 0, host: '127.0.0.1', watch: false, log: () => undefined, onOutput: () => undefined })
await rt.start()
const headers = { host: '127.0.0.1:8080', 'user-agent': 'autocannon', accept: '*/*', connection: 'keep-alive', 'x-call-id': '6b1e6a4c-2f7e-4e34-9c55-0c4b1b8e2a11' }
const json = new TextEncoder().encode('{"name":"Ada"}')
const jsonHeaders = { ...headers, 'content-type': 'application/json', 'content-length': String(json.byteLength) }
const call =
  handler === 'node20'
    ? () => rt.router.invoke('hello', { method: 'POST', path: '/', headers: jsonHeaders, body: json.slice(), callId: headers['x-call-id'] })
    : () => rt.router.invoke('hello', { method: 'GET', path: '/', headers, body: null, callId: headers['x-call-id'] })
const first = await call()
if (first.status !== 200) throw new Error(`the handler answered ${first.status}: ${new TextDecoder().decode(first.body)}`)
async function drive(n, concurrency) {
  let left = n
  await Promise.all(Array.from({ length: concurrency }, async () => { while (left-- > 0) await call() }))
}

try {
  await drive(calls / 2, 50) // warm-up
  const before = threadTicks()
  const t0 = performance.now()
  await drive(calls, 50)
  const seconds = (performance.now() - t0) / 1000
  const after = threadTicks()
  const main = String(process.pid)
  let others = 0
  for (const [tid, ticks] of after) if (tid !== main) others += ticks - (before.get(tid) ?? 0)
  const usPerTick = 1e6 / 100
  process.stdout.write(
    `${JSON.stringify({ calls, callsPerSecond: calls / seconds, mainUsPerCall: ((after.get(main) - before.get(main)) * usPerTick) / calls, otherUsPerCall: (others * usPerTick) / calls })}\n`,
  )
} finally {
  await rt.close()
  rmSync(dirname(stack), { recursive: true, force: true })
}
