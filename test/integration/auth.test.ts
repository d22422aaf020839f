import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { startRuntime, waitFor, writeStack } from '../helpers.js'

const BIN = resolve(import.meta.dirname, '../../bin/faasdev.js')
const STACK = `
functions:
  echo:
    lang: typescript
    handler: @/echo
`
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, OPENFAAS_URL: '', ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    child.stdin.end()
    child.on('error', reject)
    child.on('close', (code) => done({ code, stdout, stderr }))
  })
}

describe('basic auth', () => {
  it('protects /system/* and /ui/ only, with OpenFaaS’s 401', async () => {
    const rt = await startRuntime(STACK, { auth: { password: 's3cret' } })
    for (const path of ['/system/functions', '/system/function/echo', '/system/info', '/system/logs?name=echo', '/ui/', '/ui']) {
      const res = await fetch(`${rt.url}${path}`)
      expect(res.status, path).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="Restricted"')
      expect(await res.text()).toBe('invalid credentials\n')
    }
    expect((await fetch(`${rt.url}/system/functions`, { headers: { authorization: basic('admin', 'wrong') } })).status).toBe(401)
    expect((await fetch(`${rt.url}/system/functions`, { headers: { authorization: basic('root', 's3cret') } })).status).toBe(401)
    expect((await fetch(`${rt.url}/system/functions`, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(401)
    const ok = await fetch(`${rt.url}/system/functions`, { headers: { authorization: basic('admin', 's3cret') } })
    expect(ok.status).toBe(200)
    expect(((await ok.json()) as { name: string }[]).map((f) => f.name)).toEqual(['echo'])
    // Function calls, health and metrics stay open (OpenFaaS serves metrics on an unauthenticated port).
    expect((await fetch(`${rt.url}/function/echo`, { method: 'POST', body: 'x' })).status).toBe(200)
    expect((await fetch(`${rt.url}/healthz`)).status).toBe(200)
    expect((await fetch(`${rt.url}/readyz`)).status).toBe(200)
    expect((await fetch(`${rt.url}/metrics`)).status).toBe(200)

    // The client commands send FAASDEV_PASSWORD.
    const listed = await run(['list', '--gateway', rt.url, '--json'], { FAASDEV_PASSWORD: 's3cret' })
    expect(listed.code).toBe(0)
    expect((JSON.parse(listed.stdout) as { name: string }[])[0]?.name).toBe('echo')
    const refused = await run(['list', '--gateway', rt.url], { FAASDEV_PASSWORD: '' })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/wants credentials: set FAASDEV_PASSWORD/)
  }, 60_000)

  it('faasdev up --auth generates a password, prints it once, and the gateway accepts it', async () => {
    const stack = writeStack(STACK)
    const child = spawn(process.execPath, [BIN, 'up', '-f', stack, '--port', '0', '--no-watch', '--auth'], { env: { ...process.env, FAASDEV_PASSWORD: '' } })
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.resume()
    await waitFor(() => /password \S+/.test(stdout) && /listening on (\S+)/.test(stdout), 60_000, 'the password and the URL')
    const password = /password (\S+)/.exec(stdout)?.[1] ?? ''
    const url = /listening on (\S+)/.exec(stdout)?.[1] ?? ''
    expect(password.length).toBeGreaterThanOrEqual(16)
    expect(stdout.split(password).length - 1).toBe(2) // in the line, and in the export hint: printed once
    expect((await fetch(`${url}/system/functions`)).status).toBe(401)
    expect((await fetch(`${url}/system/functions`, { headers: { authorization: basic('admin', password) } })).status).toBe(200)
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    await exited
  }, 90_000)
})
