/**
 * Handlers read their secrets where OpenFaaS mounts them, `/var/openfaas/secrets/NAME`, with
 * the values of `.secrets/NAME` beside the stack file: no such folder on this machine, nothing
 * written, and each function sees only its own secrets.
 */
import { createHmac } from 'node:crypto'
import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { startRuntime } from '../helpers.js'

const SECRETS = {
  '.secrets/api-key': 'k-123\n',
  '.secrets/db-password': 'correct horse battery staple\n',
  '.secrets/signing-key': 's1gn\n',
  '.secrets/token': 'abc',
}

const STACK = `
functions:
  reader:
    lang: node20
    handler: @/tpl-secrets
    secrets: [api-key, db-password]
  stranger:
    lang: node20
    handler: @/tpl-secrets
    secrets: [api-key]
  signer:
    lang: typescript
    handler: @/ts-secrets
    secrets: [signing-key, db-password]
  plain:
    lang: javascript
    handler: ./plain
  look:
    lang: javascript
    handler: ./look
    secrets: [token]
`

/** A function without secrets, looking at the folder as a curious handler would. */
const PLAIN = `import { existsSync, readdirSync, readFileSync } from 'node:fs'
export default async function handle() {
  const attempt = (fn) => { try { return fn() } catch (err) { return err.code } }
  return {
    dir: existsSync('/var/openfaas/secrets'),
    listed: attempt(() => readdirSync('/var/openfaas/secrets')),
    read: attempt(() => readFileSync('/var/openfaas/secrets/db-password', 'utf8')),
    other: attempt(() => readFileSync('/var/openfaas/not-secrets/x', 'utf8')),
  }
}
`

/** A function with secrets that looks at the folder the ways `ls`, `stat` and friends would. */
const LOOK = `import fs from 'node:fs'
import { access, lstat, readdir, stat } from 'node:fs/promises'
import { pathToFileURL } from 'node:url'
const dir = '/var/openfaas/secrets'
const code = (fn) => { try { fn(); return 'ok' } catch (err) { return err.code } }
export default async function handle() {
  const s = fs.statSync(dir + '/token')
  return {
    dir: { isDirectory: (await stat(dir)).isDirectory(), entries: (await readdir(dir, { withFileTypes: true })).map((d) => [d.name, d.isFile()]) },
    file: { isFile: s.isFile(), size: s.size, lsize: (await lstat(dir + '/token')).size, access: await access(dir + '/token', fs.constants.R_OK).then(() => 'ok') },
    byUrl: fs.readFileSync(pathToFileURL(dir + '/token'), 'utf8'),
    byBuffer: fs.readFileSync(Buffer.from(dir + '/token')).toString(),
    dotted: fs.readFileSync('/var/openfaas/x/../secrets/./token', 'utf8'),
    existsCb: await new Promise((resolve) => fs.exists(dir + '/token', resolve)),
    missingStat: fs.statSync(dir + '/nope', { throwIfNoEntry: false }) ?? null,
    errors: {
      readDir: code(() => fs.readFileSync(dir)),
      below: code(() => fs.readFileSync(dir + '/token/x')),
      statMissing: code(() => fs.statSync(dir + '/nope')),
      listFile: code(() => fs.readdirSync(dir + '/token')),
    },
  }
}
`

/**
 * The other ways into the folder: streams, file descriptors, directory handles, realpath. On a
 * machine with a real folder there (faasd) each of these would read it if not served.
 */
const PROBE = `import fs from 'node:fs'
import { open, opendir, realpath } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
const dir = '/var/openfaas/secrets'
const code = (fn) => { try { return fn() } catch (err) { return err.code } }
const rejected = (p) => p.then(() => 'ok', (err) => err.code)
const stream = (path, options) => new Promise((resolve) => {
  const chunks = []
  fs.createReadStream(path, options).on('data', (c) => chunks.push(c)).on('error', (err) => resolve(err.code)).on('end', () => resolve(chunks.join('')))
})
export default async function handle() {
  const names = []
  for await (const d of await opendir(dir)) names.push([d.name, d.isFile()])
  const self = fileURLToPath(import.meta.url)
  return {
    stream: await stream(dir + '/token'),
    streamUtf8: await stream(dir + '/api-key', { encoding: 'utf8', start: 2, end: 4 }),
    streamMissing: await stream(dir + '/db-password'),
    open: [code(() => fs.openSync(dir + '/token', 'r')), await rejected(open(dir + '/token')), await new Promise((resolve) => fs.open(dir + '/token', 'r', (err) => resolve(err?.code ?? 'ok')))],
    openMissing: [code(() => fs.openSync(dir + '/db-password')), await rejected(open(dir + '/db-password'))],
    opendir: names,
    opendirSync: (() => { const d = fs.opendirSync(dir); const e = d.readSync(); d.closeSync(); return e?.name })(),
    realpath: [fs.realpathSync(dir + '/token'), fs.realpathSync.native(dir + '/token'), await realpath(dir), await new Promise((resolve) => fs.realpath(dir + '/../secrets/token', (err, p) => resolve(err?.code ?? p)))],
    realpathMissing: [code(() => fs.realpathSync(dir + '/db-password')), await rejected(realpath(dir + '/db-password'))],
    other: { stream: (await stream(self)).includes('opendirSync'), realpath: fs.realpathSync(self) === self, fd: (() => { const fd = fs.openSync(self, 'r'); fs.closeSync(fd); return typeof fd })() },
  }
}
`

const WAYS = ['sync', 'callback', 'promises', 'fs/promises']
const MISSING = "ENOENT: no such file or directory, open '/var/openfaas/secrets/nope'"

describe('secrets at /var/openfaas/secrets', () => {
  it('serves each function its own .secrets values there, read every way, in both handler styles', async () => {
    expect(existsSync('/var/openfaas/secrets')).toBe(false)
    const rt = await startRuntime(STACK, {}, { ...SECRETS, 'plain/handler.js': PLAIN, 'look/handler.js': LOOK })
    const auth = { authorization: 'Bearer k-123' }

    for (const via of WAYS) {
      const q = `via=${encodeURIComponent(via)}`
      // node20: the api key read at load time guards the call; the secret is read per call.
      const tpl = await fetch(`${rt.url}/function/reader?${q}`, { headers: auth })
      expect(tpl.status, via).toBe(200)
      expect(await tpl.json()).toEqual({ value: 'correct horse battery staple\n', exists: true, listed: ['api-key', 'db-password'] })
      const tplMissing = await fetch(`${rt.url}/function/reader?${q}&name=nope`, { headers: auth })
      expect(await tplMissing.json()).toEqual({ code: 'ENOENT', syscall: 'open', message: MISSING })

      // TypeScript with named ES module imports of node:fs and node:fs/promises.
      const ts = await fetch(`${rt.url}/function/signer?${q}`, { method: 'POST', body: 'payload' })
      expect(ts.status, via).toBe(200)
      expect(await ts.json()).toEqual({
        value: 'correct horse battery staple\n',
        signature: createHmac('sha256', 's1gn').update('payload').digest('hex'),
        exists: true,
        size: 29,
        listed: ['db-password', 'signing-key'],
      })
      const tsMissing = await fetch(`${rt.url}/function/signer?${q}&name=nope`, { method: 'POST' })
      expect(tsMissing.status).toBe(500)
      expect(await tsMissing.json()).toEqual({ code: 'ENOENT', syscall: 'open', message: MISSING })
    }

    // The same handler deployed with fewer secrets sees only those.
    const stranger = await fetch(`${rt.url}/function/stranger?via=promises`, { headers: auth })
    expect(await stranger.json()).toMatchObject({ code: 'ENOENT', message: "ENOENT: no such file or directory, open '/var/openfaas/secrets/db-password'" })
    const own = await fetch(`${rt.url}/function/stranger?name=api-key`, { headers: auth })
    expect(await own.json()).toEqual({ value: 'k-123\n', exists: true, listed: ['api-key'] })

    // No secrets: no folder, as on OpenFaaS; other paths answer as Node does.
    const plain = await fetch(`${rt.url}/function/plain`)
    expect(await plain.json()).toEqual({ dir: false, listed: 'ENOENT', read: 'ENOENT', other: 'ENOENT' })
    expect(existsSync('/var/openfaas/secrets')).toBe(false)
  })

  it('answers stat, readdir, access and exists on that folder as for a mounted one, and errors as Node does', async () => {
    const rt = await startRuntime('functions:\n  look:\n    lang: javascript\n    handler: ./look\n    secrets: [token]\n', {}, { ...SECRETS, 'look/handler.js': LOOK })
    const res = await fetch(`${rt.url}/function/look`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      dir: { isDirectory: true, entries: [['token', true]] },
      file: { isFile: true, size: 3, lsize: 3, access: 'ok' },
      byUrl: 'abc',
      byBuffer: 'abc',
      dotted: 'abc',
      existsCb: true,
      missingStat: null,
      errors: { readDir: 'EISDIR', below: 'ENOTDIR', statMissing: 'ENOENT', listFile: 'ENOTDIR' },
    })
  })

  it('serves streams, opendir and realpath from the same values, refuses file descriptors, and leaves other paths alone', async () => {
    const rt = await startRuntime('functions:\n  probe:\n    lang: javascript\n    handler: ./probe\n    secrets: [token, api-key]\n', {}, { ...SECRETS, 'probe/handler.js': PROBE })
    const res = await fetch(`${rt.url}/function/probe`)
    expect(res.status).toBe(200)
    const dir = '/var/openfaas/secrets'
    expect(await res.json()).toEqual({
      stream: 'abc',
      streamUtf8: '123',
      streamMissing: 'ENOENT',
      open: ['EACCES', 'EACCES', 'EACCES'],
      openMissing: ['ENOENT', 'ENOENT'],
      opendir: [['api-key', true], ['token', true]],
      opendirSync: 'api-key',
      realpath: [`${dir}/token`, `${dir}/token`, dir, `${dir}/token`],
      realpathMissing: ['ENOENT', 'ENOENT'],
      other: { stream: true, realpath: true, fd: 'number' },
    })
  })
})
