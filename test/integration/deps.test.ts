import { cpSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { HANDLERS, startRuntime } from '../helpers.js'

/** Copies a fixture handler into a fresh folder, so `npm install` never writes into the repository. */
function copyFixture(name: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'faasdev-deps-')), name)
  cpSync(join(HANDLERS, name), dir, { recursive: true })
  return dir
}

describe('handler dependencies', () => {
  it('runs npm install in a handler folder whose listed dependency is not installed, says so, and the dependency resolves', { timeout: 120_000 }, async () => {
    const dir = copyFixture('dep-install')
    expect(existsSync(join(dir, 'node_modules'))).toBe(false)
    const lines: string[] = []
    const rt = await startRuntime(
      `
functions:
  greeter:
    lang: node20
    handler: ${dir}
`,
      { log: (line) => lines.push(line) },
    )
    expect(lines.filter((l) => l.includes('npm install'))).toEqual([`greeter: installing dependencies (npm install in ${dir}; missing tiny-greeter)`])
    expect(existsSync(join(dir, 'node_modules', 'tiny-greeter', 'package.json'))).toBe(true)
    const res = await fetch(`${rt.url}/function/greeter?name=ada`)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('greetings, ada, from tiny-greeter')
  })

  it('uses a dependency already in the handler\'s own node_modules without installing anything', async () => {
    const dir = copyFixture('dep-installed')
    const pkg = join(dir, 'node_modules', 'local-shout')
    mkdirSync(pkg, { recursive: true })
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'local-shout', version: '1.0.0', type: 'module', exports: './index.js' }))
    writeFileSync(join(pkg, 'index.js'), 'export const shout = (text) => `${text.toUpperCase()}!`\n')
    const lines: string[] = []
    const rt = await startRuntime(
      `
functions:
  shout:
    lang: javascript
    handler: ${dir}
`,
      { log: (line) => lines.push(line) },
    )
    expect(lines.filter((l) => l.includes('npm install'))).toEqual([])
    const res = await fetch(`${rt.url}/function/shout`, { method: 'POST', body: 'quiet words' })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('QUIET WORDS!')
  })
})
