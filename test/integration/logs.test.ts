import { get, type IncomingMessage } from 'node:http'
import { describe, expect, it } from 'vitest'
import { PassThrough } from 'node:stream'
import { LogBuffer } from '../../src/logs/log-buffer.js'
import { createLogger, lineLogger } from '../../src/logs/logger.js'
import { terminalPrinter } from '../../src/logs/terminal.js'
import { startRuntime, waitFor } from '../helpers.js'

interface LogMessage {
  name: string
  namespace: string
  instance: string
  timestamp: string
  text: string
}

const STACK = `
functions:
  chatty:
    lang: typescript
    handler: @/chatty
    labels:
      com.openfaas.scale.min: "2"
  echo:
    lang: typescript
    handler: @/echo
`

const parse = (ndjson: string): LogMessage[] =>
  ndjson
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogMessage)

describe('function logs', () => {
  it('passes every line a handler writes to the output callback, prefixed by replica', async () => {
    const seen: string[] = []
    const rt = await startRuntime(STACK, { onOutput: (replica, stream, line) => seen.push(`${replica} ${stream} ${line}`) })
    expect(await (await fetch(`${rt.url}/function/chatty?say=one`)).text()).toBe('one')
    await waitFor(() => seen.length >= 4, 5000, 'four lines')
    expect(seen.map((l) => l.replace(/^chatty-\d /, 'chatty-N ')).sort()).toEqual(
      ['chatty-N stdout log one', 'chatty-N stderr error one', 'chatty-N stdout stdout one', 'chatty-N stderr stderr one'].sort(),
    )
  })

  it('serves /system/logs as OpenFaaS NDJSON with tail, since, follow and a bounded buffer', async () => {
    const rt = await startRuntime(STACK, { logLines: 10 })
    const t0 = new Date()
    for (let i = 0; i < 4; i++) expect((await fetch(`${rt.url}/function/chatty?say=w${i}`)).status).toBe(200)
    await waitFor(() => rt.logs.tail('chatty').length === 10, 5000, 'ten lines kept')

    const res = await fetch(`${rt.url}/system/logs?name=chatty.openfaas-fn`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/)
    const all = parse(await res.text())
    // 16 lines written, the buffer keeps the last 10.
    expect(all).toHaveLength(10)
    expect(all.at(-1)?.text).toMatch(/w3$/)
    expect(all.some((m) => m.text.endsWith('w0'))).toBe(false)
    for (const m of all) {
      expect(Object.keys(m).sort()).toEqual(['instance', 'name', 'namespace', 'text', 'timestamp'])
      expect(m).toMatchObject({ name: 'chatty', namespace: 'openfaas-fn' })
      expect(m.instance).toMatch(/^chatty-[12]$/)
      expect(Date.parse(m.timestamp)).toBeGreaterThanOrEqual(t0.getTime() - 5)
    }

    const tail = parse(await (await fetch(`${rt.url}/system/logs?name=chatty&tail=3`)).text())
    expect(tail).toEqual(all.slice(-3))
    const future = parse(await (await fetch(`${rt.url}/system/logs?name=chatty&since=${new Date(Date.now() + 60_000).toISOString()}`)).text())
    expect(future).toEqual([])
    expect((await fetch(`${rt.url}/system/logs?name=echo`)).status).toBe(200)
    expect(await (await fetch(`${rt.url}/system/logs?name=echo`)).text()).toBe('')
    expect((await fetch(`${rt.url}/system/logs?name=nope`)).status).toBe(404)
    expect((await fetch(`${rt.url}/system/logs`)).status).toBe(400)
    expect((await fetch(`${rt.url}/system/logs?name=chatty&since=yesterday`)).status).toBe(400)

    // follow: the past tail first, then new lines as they are written, until we hang up.
    // (node:http rather than fetch: undici opens a spare connection after an abort, which
    // would then hold the server open until its header timeout.)
    const follower = await new Promise<IncomingMessage>((resolve, reject) => get(`${rt.url}/system/logs?name=chatty&tail=1&follow=true`, resolve).on('error', reject))
    expect(follower.statusCode).toBe(200)
    expect(follower.headers['content-type']).toMatch(/^application\/x-ndjson/)
    let text = ''
    follower.setEncoding('utf8').on('data', (chunk: string) => (text += chunk))
    await waitFor(() => text.endsWith('\n'), 5000, 'the past line')
    expect(parse(text)).toEqual(all.slice(-1))
    expect((await fetch(`${rt.url}/function/chatty?say=live`)).status).toBe(200)
    await waitFor(() => parse(text).filter((m) => m.text.endsWith('live')).length === 4, 5000, 'four live lines')
    follower.destroy()
  })

  it('closes following log streams when the runtime closes', async () => {
    const rt = await startRuntime(STACK)
    const follower = await new Promise<IncomingMessage>((resolve, reject) => get(`${rt.url}/system/logs?name=chatty&follow=1`, resolve).on('error', reject))
    expect(follower.statusCode).toBe(200)
    let text = ''
    const ended = new Promise<void>((resolve) => follower.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', resolve))
    await rt.close()
    await ended
    expect(text).toBe('')
  })
})

describe('log buffer and terminal printer', () => {
  it('keeps lines per function so a chatty function does not push out another', () => {
    const buffer = new LogBuffer(3)
    for (let i = 0; i < 100; i++) buffer.push(`loud-${(i % 2) + 1}`, `l${i}`)
    buffer.push('quiet-1', 'q')
    expect(buffer.tail('loud').map((m) => m.text)).toEqual(['l97', 'l98', 'l99'])
    expect(buffer.tail('quiet')).toMatchObject([{ name: 'quiet', instance: 'quiet-1', text: 'q' }])
    expect(buffer.tail('my-fn')).toEqual([])
    buffer.push('my-fn-12', 'x')
    expect(buffer.tail('my-fn')).toMatchObject([{ name: 'my-fn', instance: 'my-fn-12' }])
  })

  it('prefixes lines with the replica, coloured per function on a terminal', () => {
    const out: string[] = []
    const stream = { write: (s: string) => out.push(s), isTTY: false } as unknown as NodeJS.WriteStream
    terminalPrinter(stream)('hello-2', 'stdout', 'hi')
    expect(out).toEqual(['hello-2 | hi\n'])
    const coloured: string[] = []
    const tty = { write: (s: string) => coloured.push(s), isTTY: true } as unknown as NodeJS.WriteStream
    const print = terminalPrinter(tty, true)
    print('a-1', 'stdout', 'x')
    print('a-2', 'stderr', 'y')
    print('b-1', 'stdout', 'z')
    expect(coloured[0]).toBe('\x1b[36ma-1 |\x1b[0m x\n')
    expect(coloured[1]).toBe('\x1b[36ma-2 |\x1b[0m y\n')
    expect(coloured[2]).toBe('\x1b[33mb-1 |\x1b[0m z\n')
  })

  it('writes faasdev’s own lines as pino JSON with their level, or pretty for people', () => {
    const captured = (): { stream: PassThrough; text: () => string } => {
      const stream = new PassThrough()
      let text = ''
      stream.setEncoding('utf8').on('data', (c: string) => (text += c))
      return { stream, text: () => text }
    }
    const json = captured()
    const log = lineLogger(createLogger({ pretty: false, destination: json.stream }))
    log('warning: stack.yml:3: something risky')
    log('error: hello: build failed')
    log('hello: installing dependencies')
    const lines = json
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: number; msg: string; time: number })
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [40, 'stack.yml:3: something risky'],
      [50, 'hello: build failed'],
      [30, 'hello: installing dependencies'],
    ])
    expect(typeof lines[0]?.time).toBe('number')

    const human = captured()
    lineLogger(createLogger({ pretty: true, destination: human.stream }))('warning: careful')
    expect(human.text()).toMatch(/WARN.*careful/)
    expect(() => JSON.parse(human.text())).toThrow()
  })
})
