import { describe, expect, it } from 'vitest'
import { faasdev, listening, project } from '../cli-helpers.js'

describe('faasdev up --max-body', () => {
  it('takes a size as --max-response does, and names the flag for a bad one', async () => {
    const dir = project(`
functions:
  echo:
    lang: typescript
    handler: @/echo
`)
    const bad = faasdev(['up', '--port', '0', '--no-watch', '--max-body', 'lots'], dir)
    expect(await bad.exited).toBe(2)
    expect(bad.stderr()).toContain('--max-body: "lots" is not a size')

    const cli = faasdev(['up', '--port', '0', '--no-watch', '--max-body', '1Ki'], dir)
    const url = await listening(cli)
    const over = await fetch(`${url}/function/echo`, { method: 'POST', body: 'x'.repeat(1025) })
    expect(over.status).toBe(413)
    expect(await over.text()).toContain('larger than the limit of 1024 bytes (--max-body)')
    const at = await fetch(`${url}/function/echo`, { method: 'POST', body: 'x'.repeat(1024) })
    expect(at.status).toBe(200)
    await at.arrayBuffer()
  })
})
