// One keep-alive connection, one request at a time, every response time kept: the latency row's
// load generator. `node bench/lib-ping.js URL SECONDS` prints one JSON line:
// { requests, non2xx, durationS, times } with the times in ms.
//
// Why not wrk: at one connection wrk's own tail is the measure. Against bare Fastify in the same
// minutes (2026-12-03), wrk -t1 -c1 reported p99 0.31 / 0.84 / 3.0 ms where this client measured
// 0.25 / 0.46 / 0.28 ms and a blocking C client (write, then read until Content-Length) 0.22 /
// 0.36 / 0.28 ms; the medians agreed within 10 µs. Added latency is a difference of two tails,
// so a client tail of milliseconds hides the server's. Raw bytes on a socket: no HTTP client
// library, so nothing but the kernel and this loop sits between two requests.
import net from 'node:net'
import { assertLocal } from './lib.js'

const url = new URL(process.argv[2] ?? '')
const seconds = Number(process.argv[3] ?? 3)
assertLocal(url.href)

const request = Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`, 'latin1')
const times = []
let non2xx = 0
let pending = ''
let need = -1
let sentAt = 0n
const started = process.hrtime.bigint()
const ends = started + BigInt(Math.round(seconds * 1e9))

const socket = net.connect(Number(url.port), url.hostname)
socket.setNoDelay(true)
socket.setEncoding('latin1')

function send() {
  sentAt = process.hrtime.bigint()
  if (sentAt >= ends) return done()
  socket.write(request)
}

socket.on('connect', send)
socket.on('data', (chunk) => {
  pending += chunk
  if (need < 0) {
    const head = pending.indexOf('\r\n\r\n')
    if (head < 0) return
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(pending.slice(0, head))
    if (!length) throw new Error(`lib-ping: an answer without Content-Length: ${JSON.stringify(pending.slice(0, head))}`)
    if (!pending.startsWith('HTTP/1.1 2')) non2xx++
    need = head + 4 + Number(length[1])
  }
  if (pending.length < need) return
  times.push(Number(process.hrtime.bigint() - sentAt) / 1e6)
  if (pending.length > need) throw new Error(`lib-ping: bytes after a whole answer: ${JSON.stringify(pending.slice(need, need + 80))}`)
  pending = ''
  need = -1
  send()
})
// A server that stops answering ends the run with an error rather than a bench that never returns.
socket.setTimeout(10_000, () => {
  process.stderr.write('lib-ping: no answer within 10 s\n')
  process.exit(1)
})
socket.on('error', (err) => {
  process.stderr.write(`lib-ping: ${err.message}\n`)
  process.exit(1)
})

function done() {
  socket.destroy()
  const durationS = Number(process.hrtime.bigint() - started) / 1e9
  process.stdout.write(`${JSON.stringify({ requests: times.length, non2xx, durationS, times })}\n`)
}
