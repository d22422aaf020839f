/**
 * Bundled modules keep the paths they have under plain Node: npm packages that read files
 * beside themselves (`__dirname`, `import.meta.url`, `import.meta.dirname`) start, and a
 * handler's own modules in subfolders read theirs.
 */
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { HANDLERS, startRuntime } from '../helpers.js'

describe('each bundled module sees its own __dirname, __filename and import.meta', () => {
  it('runs a node20 handler whose dependencies read their data files through their own __dirname and import.meta.url', async () => {
    const rt = await startRuntime(`
functions:
  fortune:
    lang: node20
    handler: @/tpl-fortune
`)
    const res = await fetch(`${rt.url}/function/fortune?n=1`)
    expect(res.status).toBe(200)
    const modules = join(HANDLERS, 'tpl-fortune', 'node_modules')
    expect(await res.json()).toEqual({
      // fortune-cards reads data/ from its root and templates/ from lib/; card-border its border file.
      card: ['+------------------------------------------+', '* A bundle is only as good as its paths. *', '+------------------------------------------+'].join('\n'),
      signature: '-- the fortune function',
      fortuneFile: join(modules, 'fortune-cards', 'index.js'),
      borderModule: { dirname: join(modules, 'card-border'), filename: join(modules, 'card-border', 'index.js') },
    })
  })

  it('gives a TypeScript handler and its own subfolder modules their import.meta, and keeps a __dirname the module declares', async () => {
    const rt = await startRuntime(`
functions:
  assets:
    lang: typescript
    handler: @/ts-assets
`)
    const res = await fetch(`${rt.url}/function/assets?n=2`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      greeting: 'Hello from a file beside the handler',
      word: 'charlie',
      handlerUrl: pathToFileURL(join(HANDLERS, 'ts-assets', 'handler.ts')).href,
    })
  })
})
