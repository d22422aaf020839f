// A benchmark server in its own process: `bare` is Fastify answering the trivial handler's
// response in-process (the baseline); `gateway` is faasdev serving that handler from
// worker-thread replicas. Prints `URL <base>` then the path to load on one line when listening.
import { rmSync } from 'node:fs'
import { dirname } from 'node:path'
import Fastify from 'fastify'
import { HELLO, writeHelloStack } from './lib.js'

// BENCH_DIST points at another build of dist/index.js (to compare two builds side by side).
const { createRuntime } = await import(process.env.BENCH_DIST ?? '../dist/index.js')

const mode = process.argv[2]
const replicas = Number(process.argv[3] ?? 2)
const handler = process.argv[4] ?? 'string'
let close

if (mode === 'bare') {
  const app = Fastify({ logger: false })
  app.all('/function/:name', (_req, reply) => reply.type('text/plain; charset=utf-8').send(HELLO))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address()
  close = () => app.close()
  process.stdout.write(`URL http://127.0.0.1:${port}/function/hello\n`)
} else if (mode === 'gateway') {
  const stack = writeHelloStack({ min: replicas, max: replicas }, handler)
  const rt = await createRuntime({
    stack,
    port: 0,
    host: '127.0.0.1',
    watch: false,
    log: (line) => process.stderr.write(`${line}\n`),
  })
  await rt.start()
  close = () => rt.close().then(() => rmSync(dirname(stack), { recursive: true, force: true }))
  process.stdout.write(`URL ${rt.url}/function/hello\n`)
} else if (mode === 'labels') {
  // Autoscaling on, with the given com.openfaas.scale.* labels (JSON), optionally a replica
  // budget, and `always` to scale to what the labels ask even where it does not help.
  const stack = writeHelloStack(JSON.parse(process.argv[3] ?? '{}'))
  const budget = Number(process.argv[4] || NaN)
  const always = process.argv[5] === 'always'
  const rt = await createRuntime({ stack, port: 0, host: '127.0.0.1', watch: false, log: () => undefined, ...(Number.isFinite(budget) ? { maxReplicasTotal: budget } : {}), ...(always ? { scaleAlways: true } : {}) })
  await rt.start()
  close = () => rt.close().then(() => rmSync(dirname(stack), { recursive: true, force: true }))
  process.stdout.write(`URL ${rt.url}/function/hello\n`)
} else {
  process.stderr.write(`usage: lib-server.js bare|gateway [replicas] [string|response] | labels JSON [budget] [always]\n`)
  process.exit(2)
}

process.on('message', (m) => {
  if (m === 'cpu') process.send?.(process.cpuUsage())
})
process.channel?.unref()

process.once('SIGTERM', () => {
  void close().then(() => process.exit(0))
})
