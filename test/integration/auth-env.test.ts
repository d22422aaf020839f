import { describe, expect, it } from 'vitest'
import { faasdev, listening, project } from '../cli-helpers.js'

describe('faasdev up --auth with FAASDEV_PASSWORD exported', () => {
  it('keeps the admin password out of the handlers, whose calls stay open while /system stays shut', async () => {
    const password = 'exported-for-the-client-commands'
    const dir = project(`
version: 1.0
provider:
  name: openfaas
functions:
  env-dump:
    lang: node20
    handler: @/env-dump
    environment:
      GREETING: hi
`)
    const cli = faasdev(['up', '--port', '0', '--no-watch', '--auth'], dir, { FAASDEV_PASSWORD: password })
    const url = await listening(cli)

    const res = await fetch(`${url}/function/env-dump`)
    expect(res.status).toBe(200)
    const seen = JSON.stringify(await res.json())
    expect(seen).toContain('"GREETING":"hi"')
    expect(seen).not.toContain(password)
    expect(seen).not.toContain('FAASDEV_PASSWORD')

    // The password still works where it belongs.
    expect((await fetch(`${url}/system/functions`)).status).toBe(401)
    const authorised = await fetch(`${url}/system/functions`, { headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` } })
    expect(authorised.status).toBe(200)
    await authorised.arrayBuffer()
  })
})
