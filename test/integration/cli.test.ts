import { cpSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { SUPPORTED_LANGS } from '../../src/config/stack.js'
import { faasdev, listening, project, ROOT } from '../cli-helpers.js'
import { HANDLERS, waitFor } from '../helpers.js'

describe('faasdev up', () => {
  it('exits 2 with a message naming file, line and field for each kind of configuration error', async () => {
    const head = ['functions:', '  hello:', '    lang: typescript']
    const cases: { yaml: string[]; files?: Record<string, string>; message: (dir: string) => string }[] = [
      { yaml: [...head, '    handler: [@/echo'], message: () => 'stack.yml:5: malformed YAML: ' },
      { yaml: [...head, '    handler: ./missing'], message: (dir) => `stack.yml:4: functions.hello.handler: folder "./missing" does not exist (looked in ${join(dir, 'missing')})\n` },
      { yaml: [...head, '    handler: @/echo', '    limits:', '      memory: 12 bananas'], message: () => 'stack.yml:6: functions.hello.limits.memory: "12 bananas" is not a memory quantity (e.g. 128Mi, 1G)\n' },
      { yaml: [...head, '    handler: @/echo', '    environment:', '      exec_timeout: a while'], message: () => 'stack.yml:6: functions.hello.environment.exec_timeout: "a while" is not a duration (e.g. 30s, 1m30s, 500ms or a number of seconds)\n' },
      { yaml: [...head, '    handler: @/echo', '    secrets:', '      - api-key'], message: () => `stack.yml:6: functions.hello.secrets[0]: secret "api-key" not found: create ${join('.secrets', 'api-key')} beside the stack file\n` },
      { yaml: [...head, '    handler: @/echo', '    labels:', '      com.openfaas.scale.max: none'], message: () => 'stack.yml:6: functions.hello.labels.com.openfaas.scale.max: "none" is not a whole number ≥ 1\n' },
      {
        yaml: [...head, '    handler: @/echo', '    annotations:', '      topic: cron-function', '      schedule: "*/5 * *"'],
        message: () => 'stack.yml:7: functions.hello.annotations.schedule: "*/5 * *" is not a schedule: expected 5 fields (minute hour day-of-month month day-of-week) or a descriptor, got 3 (e.g. "*/5 * * * *", "@hourly", "@every 30s")\n',
      },
      { yaml: [...head, '    handler: @/echo', '    annotations:', '      topic: cron-function', '      schedule: "@every 30"'], message: () => 'stack.yml:7: functions.hello.annotations.schedule: "@every 30" is not a schedule: "@every" takes a Go duration such as 30s, 5m or 1h30m, got "30"\n' },
    ]
    const runs = cases.map(async (c) => {
      const dir = project(c.yaml.join('\n') + '\n', c.files)
      const cli = faasdev(['up', '-f', 'stack.yml', '--port', '0', '--no-watch'], dir)
      const code = await cli.exited
      return { code, stderr: cli.stderr(), stdout: cli.stdout(), expected: `faasdev: ${c.message(dir)}` }
    })
    for (const run of await Promise.all(runs)) {
      expect(run.code, run.stderr).toBe(2)
      if (run.expected.endsWith('\n')) expect(run.stderr).toBe(run.expected)
      else expect(run.stderr.startsWith(run.expected), run.stderr).toBe(true)
      expect(run.stdout).toBe('')
    }
  })

  it('finds stack.yaml before stack.yml, takes -f FILE, and exits 2 when there is no stack file', async () => {
    const both = project('functions:\n  broken: [\n', { 'stack.yaml': `functions:\n  echo:\n    lang: typescript\n    handler: ${HANDLERS}/echo\n` })
    const preferred = faasdev(['up', '--port', '0', '--no-watch'], both)
    expect((await fetch(`${await listening(preferred)}/function/echo`)).status).toBe(200)
    preferred.child.kill('SIGTERM')
    expect(await preferred.exited).toBe(0)

    const explicit = faasdev(['up', '-f', 'stack.yml', '--port', '0', '--no-watch'], both)
    expect(await explicit.exited).toBe(2)
    expect(explicit.stderr()).toMatch(/^faasdev: stack\.yml:\d+: malformed YAML: /)

    const empty = mkdtempSync(join(tmpdir(), 'faasdev-cli-empty-'))
    const none = faasdev(['up', '--port', '0', '--no-watch'], empty)
    expect(await none.exited).toBe(2)
    expect(none.stderr()).toBe(`faasdev: stack.yml: no stack.yaml or stack.yml in ${empty}, nor another YAML file with provider "openfaas"; pass -f FILE\n`)
    const missing = faasdev(['up', '-f', 'other.yml', '--port', '0', '--no-watch'], empty)
    expect(await missing.exited).toBe(2)
    expect(missing.stderr()).toMatch(/^faasdev: other\.yml: cannot read stack file: ENOENT/)
  })

  it('runs the NAME.yml faas-cli new wrote when there is no stack.yml, and says so; several candidates exit 2 naming them', async () => {
    // What faas-cli 0.16 `new orders --lang node20` leaves: orders.yml and ./orders, beside a compose file.
    const dir = mkdtempSync(join(tmpdir(), 'faasdev-cli-named-'))
    const ordersYml = ['version: 1.0', 'provider:', '  name: openfaas', '  gateway: http://127.0.0.1:8080', 'functions:', '  orders:', '    lang: node20', '    handler: ./orders', '    image: orders:latest', ''].join('\n')
    writeFileSync(join(dir, 'orders.yml'), ordersYml)
    mkdirSync(join(dir, 'orders'))
    writeFileSync(join(dir, 'orders/handler.js'), "'use strict'\n\nmodule.exports = async (event, context) => context.status(200).succeed({ order: 'ok' })\n")
    writeFileSync(join(dir, 'orders/package.json'), '{ "name": "orders", "version": "1.0.0", "main": "handler.js" }\n')
    writeFileSync(join(dir, 'docker-compose.yml'), 'services:\n  db:\n    image: postgres:16\n')
    writeFileSync(join(dir, 'broken.yaml'), 'provider: [\n')

    const up = faasdev(['up', '--port', '0', '--no-watch'], dir)
    const url = await listening(up)
    expect(up.stderr()).toContain('using orders.yml: there is no stack.yaml or stack.yml, and it is the only YAML file here with provider "openfaas"')
    expect(await (await fetch(`${url}/function/orders`)).json()).toEqual({ order: 'ok' })
    up.child.kill('SIGTERM')
    expect(await up.exited).toBe(0)

    writeFileSync(join(dir, 'payments.yaml'), ordersYml.replaceAll('orders', 'payments'))
    const several = faasdev(['up', '--port', '0', '--no-watch'], dir)
    expect(await several.exited).toBe(2)
    expect(several.stderr()).toBe(`faasdev: ${dir}: no stack.yaml or stack.yml, and several files with provider "openfaas": orders.yml, payments.yaml; pass -f FILE\n`)
  })

  it('reports a busy port at once, before building anything, and exits 1', async () => {
    const holder = createServer()
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r))
    onTestFinished(() => new Promise<void>((r) => holder.close(() => r())))
    const port = (holder.address() as AddressInfo).port
    const dir = project(['functions:', '  echo:', '    lang: typescript', '    handler: @/echo', ''].join('\n'))
    const cli = faasdev(['up', '--port', String(port), '--no-watch'], dir)
    expect(await cli.exited).toBe(1)
    expect(cli.stderr()).toContain(`faasdev: port ${port} on 127.0.0.1 is already in use (another faasdev up or gateway?): stop it, or pass --port with a free port (0 picks one)\n`)
    // No table of "ready" functions, no build.
    expect(cli.stderr()).not.toMatch(/FUNCTION +STATUS|\bready\b/)
    expect(cli.stdout()).toBe('')
    expect(existsSync(join(dir, '.faasdev'))).toBe(false)
  })

  it('exits 2 when no function in the stack can run', async () => {
    const dir = project(['functions:', '  go-fn:', '    lang: golang-middleware', '    handler: ./go-fn', '  py-fn:', '    lang: python3-http', '    handler: ./py-fn', ''].join('\n'))
    const cli = faasdev(['up', '--port', '0', '--no-watch'], dir)
    expect(await cli.exited).toBe(2)
    expect(cli.stderr()).toBe(`faasdev: stack.yml:1: functions: no function can run: go-fn (golang-middleware), py-fn (python3-http); supported langs: ${SUPPORTED_LANGS.join(', ')}\n`)
  })

  it('exits 2 with the table and the reason when every function fails to start', async () => {
    const dir = project(['functions:', '  broken:', '    lang: typescript', '    handler: @/import-error', ''].join('\n'))
    const cli = faasdev(['up', '--port', '0', '--no-watch'], dir)
    expect(await cli.exited).toBe(2)
    expect(cli.stderr()).toMatch(/\nbroken\s+failed\s+typescript\s+.*cannot initialise/)
    expect(cli.stderr()).toMatch(/\nfaasdev: no function could start \(broken: .*cannot initialise.*\)\n$/)
    expect(cli.stdout()).toBe('')
  })

  it('starts a mixed stack on --port 0: the table shows URLs, the skipped and the failed function, and the rest serve', async () => {
    const dir = project(
      [
        'functions:',
        '  echo:',
        '    lang: typescript',
        '    handler: @/echo',
        '  go-fn:',
        '    lang: golang-middleware',
        '    handler: ./go-fn',
        '  broken:',
        '    lang: typescript',
        '    handler: @/import-error',
        '  tpl:',
        '    lang: node20',
        '    handler: @/template',
        '    lables:',
        '      team: web',
        '',
      ].join('\n'),
    )
    const cli = faasdev(['up', '--port', '0', '--no-watch'], dir)
    const url = await listening(cli)
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(url).not.toMatch(/:0$/)
    expect(cli.stderr()).toContain(`warning: skipping go-fn: lang "golang-middleware" cannot run in faasdev (supported: ${SUPPORTED_LANGS.join(', ')})\n`)
    expect(cli.stderr()).toContain('warning: stack.yml:14: functions.tpl.lables: unknown field, did you mean "labels"?\n')

    const table = cli.stdout().split('\n')
    const row = (name: string): string => table.find((l) => l.startsWith(`${name} `)) ?? ''
    expect(table.some((l) => /^FUNCTION\s+STATUS\s+LANG/.test(l))).toBe(true)
    expect(row('echo')).toMatch(new RegExp(`^echo\\s+ready\\s+typescript\\s+.*\\d+ ms\\s+${url}/function/echo$`))
    expect(row('tpl')).toMatch(new RegExp(`^tpl\\s+ready\\s+node20\\s+.*${url}/function/tpl$`))
    expect(row('go-fn')).toMatch(/^go-fn\s+skipped\s+golang-middleware\s+lang "golang-middleware" cannot run in faasdev/)
    expect(row('broken')).toMatch(/^broken\s+failed\s+typescript\s+.*cannot initialise/)

    const echo = await fetch(`${url}/function/echo`, { method: 'POST', body: 'hi' })
    expect(echo.status).toBe(200)
    const skipped = await fetch(`${url}/function/go-fn`)
    expect(skipped.status).toBe(404)
    expect(await skipped.text()).toContain('lang "golang-middleware" cannot run in faasdev (supported:')
    const broken = await fetch(`${url}/function/broken`)
    expect([404, 502]).toContain(broken.status)
    expect(await broken.text()).toContain('cannot initialise')
    expect((await fetch(`${url}/function/tpl`)).status).toBe(200)
    // A function that failed to deploy is not retried in the background (it restarts on a change).
    await new Promise((r) => setTimeout(r, 1500))
    expect(cli.stderr()).toContain('broken: replica broken-1 failed to start: cannot initialise\n')
    expect(cli.stderr()).not.toContain('broken-2')
  })

  it('--host 0.0.0.0 listens on every interface, prints a loopback URL and warns', async () => {
    const dir = project(['functions:', '  echo:', '    lang: typescript', '    handler: @/echo', ''].join('\n'))
    const cli = faasdev(['up', '--host', '0.0.0.0', '--port', '0', '--no-watch'], dir)
    const url = await listening(cli)
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(cli.stderr()).toContain('warning: --host 0.0.0.0: the gateway and /system are reachable from other machines, without authentication\n')
    const port = new URL(url).port
    // Reachable through an address other than loopback's 127.0.0.1.
    const res = await fetch(`http://127.0.0.2:${port}/function/echo`)
    expect(res.status).toBe(200)
    // With --auth the warning says what stays open instead of claiming there is no authentication.
    const guarded = faasdev(['up', '--host', '0.0.0.0', '--port', '0', '--no-watch', '--auth'], dir)
    await listening(guarded)
    expect(guarded.stderr()).toContain('warning: --host 0.0.0.0: function routes are reachable from other machines; /system and /ui ask for the password\n')
    expect(guarded.stderr()).not.toContain('without authentication')
  })

  it('on SIGTERM lets a call in flight finish with 200, then exits 0', async () => {
    const dir = project(['functions:', '  slow:', '    lang: typescript', '    handler: @/cli-slow', ''].join('\n'))
    const cli = faasdev(['up', '--port', '0', '--no-watch'], dir)
    const url = await listening(cli)
    const started = Date.now()
    const call = fetch(`${url}/function/slow?ms=1500`)
    await waitFor(() => cli.stdout().includes('call started, sleeping 1500 ms'), 10_000, 'the call to reach the replica')
    cli.child.kill('SIGTERM')
    const res = await call
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('slept 1500')
    expect(await cli.exited).toBe(0)
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500)
    expect(cli.stderr()).toContain('SIGTERM: draining')
  })

  it('a second Ctrl-C forces the exit while a call is still draining', async () => {
    const dir = project(['functions:', '  slow:', '    lang: typescript', '    handler: @/cli-slow', ''].join('\n'))
    const cli = faasdev(['up', '--port', '0', '--no-watch'], dir)
    const url = await listening(cli)
    const call = fetch(`${url}/function/slow?ms=20000`).then((r) => r.status, () => 'failed')
    await waitFor(() => cli.stdout().includes('call started, sleeping 20000 ms'), 10_000, 'the call to reach the replica')
    const started = Date.now()
    cli.child.kill('SIGINT')
    await waitFor(() => cli.stderr().includes('SIGINT: draining'), 5000, 'the first SIGINT')
    cli.child.kill('SIGINT')
    expect(await cli.exited).toBe(130)
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(cli.stderr()).toContain('SIGINT again: forcing exit')
    expect(await call).toBe('failed')
  })

  it('runs npm install for a handler with a missing dependency and says so', { timeout: 120_000 }, async () => {
    const handler = join(mkdtempSync(join(tmpdir(), 'faasdev-cli-dep-')), 'greeter')
    cpSync(join(HANDLERS, 'dep-install'), handler, { recursive: true })
    const dir = project(['functions:', '  greeter:', '    lang: node20', `    handler: ${handler}`, ''].join('\n'))
    const cli = faasdev(['up', '--port', '0', '--no-watch'], dir)
    const url = await listening(cli)
    expect(cli.stderr()).toContain(`greeter: installing dependencies (npm install in ${handler}; missing tiny-greeter)`)
    expect(await (await fetch(`${url}/function/greeter?name=cli`)).text()).toBe('greetings, cli, from tiny-greeter')
  })

  it('serves the repository\'s own example stack, as `npm start` does', { timeout: 60_000 }, async () => {
    const cli = faasdev(['up', '--port', '0'], ROOT)
    const url = await listening(cli)
    const res = await fetch(`${url}/function/hello`)
    expect(res.status).toBe(200)
    cli.child.kill('SIGTERM')
    expect(await cli.exited).toBe(0)
  })
})
