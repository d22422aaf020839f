import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { startRuntime, waitFor } from '../helpers.js'
import { rawRequest } from '../raw-http.js'

// A stack as a real user's repository has it: functions in several OpenFaaS templates, of
// which faasdev runs the Node ones, plus one whose code fails at import.
const MIXED_STACK = `
version: 1.0
provider:
  name: openfaas
  gateway: http://127.0.0.1:8080
functions:
  py-long:
    lang: python3-http
    handler: ./py-long
    image: ghcr.io/acme/py-long:latest
    build_args:
      TEST_ENABLED: "false"
  go-long:
    lang: golang-middleware
    handler: ./go-long
    image: ghcr.io/acme/go-long:latest
    environment:
      write_timeout: 16s
      exec_timeout: 15s
  orders:
    lang: node20
    handler: ./orders
    image: ghcr.io/acme/orders:latest
    labels:
      com.openfaas.scale.max: "4"
  checkout:
    lang: typescript
    handler: ./checkout
    secrets:
      - stripe-key
  reports:
    lang: typescript
    handler: ./reports
`

const FILES: Record<string, string> = {
  'py-long/handler.py': 'def handle(event, context):\n    return {"statusCode": 200, "body": "done"}\n',
  'py-long/requirements.txt': 'requests\n',
  'go-long/handler.go': 'package function\n\nimport "net/http"\n\nfunc Handle(w http.ResponseWriter, r *http.Request) {\n\tw.Write([]byte("ok"))\n}\n',
  'go-long/go.mod': 'module handler/function\n\ngo 1.22\n',
  'orders/package.json': '{ "name": "orders", "version": "1.0.0", "main": "handler.js" }\n',
  'orders/handler.js': `'use strict'

module.exports = async (event, context) => {
  const order = event.body || {}
  return context.status(201).succeed({ id: order.id, accepted: true })
}
`,
  'checkout/handler.ts': `export default async function handle(req: Request): Promise<Response> {
  const { action } = (await req.json().catch(() => ({}))) as { action?: string }
  if (action === 'reconcile') {
    // A client library's background socket failing: an error no await catches.
    setImmediate(() => {
      throw new Error('payment webhook stream reset by peer')
    })
    await new Promise((r) => setTimeout(r, 5_000))
  }
  return Response.json({ ok: true, action })
}
`,
  'reports/handler.ts': `import { createHash } from 'node:crypto'

// Reads its configuration at import, as many handlers do; here the variable is missing.
const bucket = process.env.REPORTS_BUCKET
if (!bucket) throw new Error('REPORTS_BUCKET is not set')

export default async function handle(): Promise<string> {
  return createHash('sha1').update(bucket ?? '').digest('hex')
}
`,
  '.secrets/stripe-key': 'sk_test_do_not_print\n',
  '.secrets/db-password': 'hunter2\n',
  '.secrets/.gitkeep': '',
}

const BIN = resolve(import.meta.dirname, '../../bin/faasdev.js')

/** A client command as a user runs it against the gateway; its stdout. */
async function cli(gateway: string, args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [BIN, ...args, '--gateway', gateway], { env: { ...process.env, FAASDEV_PASSWORD: '', NO_COLOR: '1' } })
  return stdout
}

const describeCli = (gateway: string, name: string): Promise<string> => cli(gateway, ['describe', name])

type Status = Record<string, unknown> & { name: string; annotations?: Record<string, string> }

async function json<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url)
  return { status: res.status, body: (await res.json()) as T }
}

describe('what OpenFaaS clients see of the API', () => {
  it('lists skipped and failed functions with no available replica and their reason, beside the running ones', async () => {
    const rt = await startRuntime(MIXED_STACK, {}, FILES)

    const { status, body: list } = await json<Status[]>(`${rt.url}/system/functions`)
    expect(status).toBe(200)
    expect(list.map((f) => f.name).sort()).toEqual(['checkout', 'go-long', 'orders', 'py-long', 'reports'])
    const byName = new Map(list.map((f) => [f.name, f]))

    const py = byName.get('py-long')
    expect(py).toMatchObject({ name: 'py-long', namespace: 'openfaas-fn', image: 'ghcr.io/acme/py-long:latest', envProcess: 'python3-http' })
    // omitempty: OpenFaaS leaves out zero replicas, and faas-cli reads them as 0.
    expect(py).not.toHaveProperty('replicas')
    expect(py).not.toHaveProperty('availableReplicas')
    expect(py?.annotations?.['faasdev/status']).toBe('skipped')
    expect(py?.annotations?.['faasdev/reason']).toMatch(/lang "python3-http" cannot run in faasdev \(supported: typescript, javascript, node18, node20, node22, node\)/)
    expect(byName.get('go-long')?.annotations?.['faasdev/status']).toBe('skipped')

    const reports = byName.get('reports')
    expect(reports?.annotations?.['faasdev/status']).toBe('failed')
    expect(reports?.annotations?.['faasdev/reason']).toContain('REPORTS_BUCKET is not set')
    expect(reports).not.toHaveProperty('availableReplicas')

    expect(byName.get('orders')).toMatchObject({ replicas: 1, availableReplicas: 1, envProcess: 'node20', labels: { 'com.openfaas.scale.max': '4' } })
    expect(byName.get('orders')?.annotations).toEqual({})

    // faas-cli describe reads /system/function/NAME (faas-cli adds the namespace suffix on invoke).
    for (const path of ['py-long', 'py-long.openfaas-fn', 'py-long?namespace=openfaas-fn']) {
      const one = await json<Status>(`${rt.url}/system/function/${path}`)
      expect(one.status).toBe(200)
      expect(one.body).toEqual(py)
    }
    expect((await json<Status>(`${rt.url}/system/function/reports`)).body.annotations?.['faasdev/reason']).toContain('REPORTS_BUCKET is not set')

    // Listed is not runnable: calls still answer 404 with the reason.
    const call = await fetch(`${rt.url}/function/py-long`, { method: 'POST', body: '{}' })
    expect(call.status).toBe(404)
    expect(await call.text()).toContain('python3-http')
    const unknown = await fetch(`${rt.url}/system/function/nope`)
    expect(unknown.status).toBe(404)
  })

  it('scales from a request curl sends with its default form content type, or none, reading the JSON body', async () => {
    const rt = await startRuntime(MIXED_STACK, {}, FILES)
    const host = new URL(rt.url).host
    // As curl writes it (plus Connection: close, so the answer ends the stream).
    const scale = (contentType: string | undefined, body: string, path = '/system/scale-function/orders') =>
      rawRequest(
        rt.url,
        [
          `POST ${path} HTTP/1.1`,
          `Host: ${host}`,
          'User-Agent: curl/8.5.0',
          'Accept: */*',
          'Connection: close',
          `Content-Length: ${Buffer.byteLength(body)}`,
          ...(contentType ? [`Content-Type: ${contentType}`] : []),
          '',
          body,
        ].join('\r\n'),
      )

    // curl -d '{"serviceName":"orders","replicas":3}' http://…/system/scale-function/orders
    const form = await scale('application/x-www-form-urlencoded', '{"serviceName":"orders","replicas":3}')
    expect(form.status).toBe(202)
    await waitFor(() => rt.stats().functions.orders?.ready === 3, 15_000, 'orders at 3 ready replicas')

    const plain = await scale('text/plain', '{"serviceName":"orders","replicas":2}')
    expect(plain.status).toBe(202)
    const none = await scale(undefined, '{"serviceName":"orders","replicas":1}')
    expect(none.status).toBe(202)
    await waitFor(() => rt.stats().functions.orders?.desired === 1 && rt.stats().functions.orders?.replicas === 1, 15_000, 'orders back at 1')

    const notJson = await scale('application/x-www-form-urlencoded', 'serviceName=orders&replicas=2')
    expect(notJson.status).toBe(400)
    expect(notJson.body).toMatch(/must be JSON/)
    const tooMany = await scale('application/json', '{"serviceName":"orders","replicas":5}')
    expect([tooMany.status, tooMany.body]).toEqual([400, 'replicas must be between 0 and 4 (com.openfaas.scale.max) for orders\n'])
    const skipped = await scale('application/x-www-form-urlencoded', '{"serviceName":"py-long","replicas":1}', '/system/scale-function/py-long')
    expect(skipped.status).toBe(404)
    expect(skipped.body).toContain('python3-http')
  })

  it('answers a namespace it does not have as faasd does, never with the openfaas-fn functions', async () => {
    const rt = await startRuntime(MIXED_STACK, {}, FILES)
    const get = async (path: string) => {
      const res = await fetch(`${rt.url}${path}`)
      return { status: res.status, type: res.headers.get('content-type'), body: await res.text() }
    }
    const listed = await get('/system/functions?namespace=openfaas-fn')
    expect(listed.status).toBe(200)
    expect((JSON.parse(listed.body) as Status[]).map((f) => f.name)).toContain('orders')

    for (const path of ['/system/functions?namespace=staging', '/system/function/orders?namespace=staging', '/system/secrets?namespace=staging']) {
      const other = await get(path)
      expect({ path, status: other.status, body: other.body }).toEqual({ path, status: 400, body: 'namespace not valid\n' })
      expect(other.type).toMatch(/^text\/plain/)
    }
    expect((await get('/system/function/orders.staging')).status).toBe(404)
    const scaled = await fetch(`${rt.url}/system/scale-function/orders?namespace=staging`, { method: 'POST', body: '{"serviceName":"orders","replicas":2}' })
    expect([scaled.status, await scaled.text()]).toEqual([400, 'namespace not valid\n'])
    const inBody = await fetch(`${rt.url}/system/scale-function/orders`, { method: 'POST', body: '{"serviceName":"orders","replicas":2,"namespace":"staging"}' })
    expect(inBody.status).toBe(400)
    expect(rt.stats().functions.orders?.desired).toBe(1)
  })

  it('lists the names in .secrets/ as OpenFaaS lists secrets, never their values, and answers writes with 501', async () => {
    const rt = await startRuntime(MIXED_STACK, {}, FILES)
    const res = await fetch(`${rt.url}/system/secrets`)
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(JSON.parse(text)).toEqual([
      { name: 'db-password', namespace: 'openfaas-fn' },
      { name: 'stripe-key', namespace: 'openfaas-fn' },
    ])
    expect(text).not.toContain('sk_test')
    expect(text).not.toContain('hunter2')

    // faas-cli secret create / update / remove.
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const write = await fetch(`${rt.url}/system/secrets`, { method, headers: { 'content-type': 'application/json' }, body: '{"name":"stripe-key","namespace":"openfaas-fn","value":"sk_live"}' })
      expect(write.status).toBe(501)
      expect(await write.text()).toContain('.secrets/')
    }
  })

  it('faasdev describe shows why: skipped, failed, a crashed replica until a later call succeeds, and a build error', async () => {
    const rt = await startRuntime(MIXED_STACK, {}, FILES)
    const listed = (await cli(rt.url, ['list'])).split('\n')
    expect(listed.find((l) => l.startsWith('py-long '))).toMatch(/^py-long +python3-http +0 +skipped /)
    expect(listed.find((l) => l.startsWith('reports '))).toMatch(/^reports +typescript +0 +failed /)
    expect(listed.find((l) => l.startsWith('orders '))).toMatch(/^orders +node20 +0 +1\/1 /)
    expect(await describeCli(rt.url, 'py-long')).toMatch(/^Status: +Skipped.*\nReason: +lang "python3-http" cannot run in faasdev/m)
    expect(await describeCli(rt.url, 'reports')).toMatch(/^Status: +Failed to deploy\nReason: +.*REPORTS_BUCKET is not set/m)

    const crash = await fetch(`${rt.url}/function/checkout`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"action":"reconcile"}' })
    expect(crash.status).toBe(502)
    await crash.text()
    // The replacement replica being ready does not hide why the first one died.
    await waitFor(() => rt.stats().functions.checkout?.ready === 1, 15_000, 'a replacement checkout replica')
    const status = (await json<Status>(`${rt.url}/system/function/checkout`)).body
    expect(status.lastError).toMatchObject({ replica: 'checkout-1', reason: 'crash' })
    const lastError = status.lastError as { message: string; at: string }
    expect(lastError.message).toContain('payment webhook stream reset by peer')
    expect(Date.parse(lastError.at)).toBeGreaterThan(Date.now() - 60_000)
    const described = await describeCli(rt.url, 'checkout')
    expect(described).toMatch(/^Status: +Ready$/m)
    expect(described).toMatch(new RegExp(`^Last error: +${lastError.at.replace(/[.]/g, '\\.')}: replica checkout-1 .*payment webhook stream reset by peer`, 'm'))

    const ok = await fetch(`${rt.url}/function/checkout`, { method: 'POST', body: '{"action":"pay"}' })
    expect(ok.status).toBe(200)
    await ok.text()
    expect((await json<Status>(`${rt.url}/system/function/checkout`)).body).not.toHaveProperty('lastError')
    expect(await describeCli(rt.url, 'checkout')).not.toMatch(/Last error/)

    // A save with a syntax error: the previous version keeps serving, and describe says so.
    const dir = rt.config.dir
    writeFileSync(join(dir, 'orders/handler.js'), "'use strict'\n\nmodule.exports = async (event, context) => {\n  return context.status(201).succeed({ accepted: true }\n}\n")
    writeFileSync(rt.config.file, readFileSync(rt.config.file, 'utf8').replace('    image: ghcr.io/acme/orders:latest\n', '    image: ghcr.io/acme/orders:latest\n    environment:\n      ORDERS_TABLE: orders-v2\n'))
    await rt.reload()
    await waitFor(() => rt.router.deployments.get('orders')?.buildError !== undefined, 15_000, 'the build error of orders')
    const broken = await describeCli(rt.url, 'orders')
    expect(broken).toMatch(/^Status: +Ready, with a build error \(the previous version serves\)$/m)
    expect(broken).toMatch(/^Build error: +build failed for orders:\n +\S*orders[/\\]handler\.js:5:1: Expected "\)"/m)
    const still = await fetch(`${rt.url}/function/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":7}' })
    expect([still.status, await still.json()]).toEqual([201, { id: 7, accepted: true }])
  }, 60_000)
})
