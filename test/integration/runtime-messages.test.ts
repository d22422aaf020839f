import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createRuntime } from '../../src/index.js'
import { startRuntime, waitFor, writeStack } from '../helpers.js'

const ECHO = `
functions:
  echo:
    lang: typescript
    handler: @/echo
`

describe('what faasdev says while it runs', () => {
  it('warns once about a function with a lang it cannot run that hot reload brings in, as it does at start', async () => {
    const logs: string[] = []
    const rt = await startRuntime(ECHO, { log: (l) => logs.push(l) })
    const append = (text: string): void => writeFileSync(rt.config.file, `${readFileSync(rt.config.file, 'utf8')}${text}`)
    append('  resize:\n    lang: python3-http\n    handler: ./resize\n')
    await rt.reload()
    const warnings = (): string[] => logs.filter((l) => l.startsWith('warning: skipping resize:'))
    expect(warnings()).toEqual(['warning: skipping resize: lang "python3-http" cannot run in faasdev (supported: typescript, javascript, node18, node20, node22, node)'])
    // Another save of the stack file does not repeat it.
    append('# touched\n')
    await rt.reload()
    expect(warnings()).toHaveLength(1)
    expect((await fetch(`${rt.url}/system/function/resize`)).status).toBe(200)
  })

  it('says once which replica stopped and why', async () => {
    const logs: string[] = []
    const rt = await startRuntime(`
functions:
  worker:
    lang: typescript
    handler: @/exit
`, { log: (l) => logs.push(l) })
    expect((await fetch(`${rt.url}/function/worker?mode=exit`)).status).toBe(502)
    await waitFor(() => logs.some((l) => l.includes('stopped')), 10_000, 'the stop to be logged')
    const line = logs.find((l) => l.includes('stopped')) ?? ''
    expect(line).toBe('worker: replica worker-1 stopped (exit) with code 3')
  })

  it('refuses a busy port before building anything', async () => {
    const holder = createServer()
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r))
    onTestFinished(() => new Promise<void>((r) => holder.close(() => r())))
    const logs: string[] = []
    const rt = await createRuntime({ stack: writeStack(ECHO), port: (holder.address() as AddressInfo).port, watch: false, log: (l) => logs.push(l), onOutput: () => undefined })
    onTestFinished(() => rt.close())
    await expect(rt.start()).rejects.toMatchObject({ code: 'ERR_PORT_IN_USE' })
    expect(rt.summary).toEqual([])
    expect(rt.router.deployments.size).toBe(0)
  })
})
