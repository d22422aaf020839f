import { describe, expect, it } from 'vitest'
import { withModulePaths } from '../../src/loader/module-paths.js'

describe('module path declarations', () => {
  it('declares only what the module mentions, on its first line, so line numbers stay', () => {
    const source = "const p = require('path')\nmodule.exports = p.join(__dirname, 'x')\n"
    const out = withModulePaths('/pkg/lib/a.js', source)
    expect(out).toBe(`var __faasdev_dirname = "/pkg/lib";${source}`)
    expect(out.split('\n')).toHaveLength(source.split('\n').length)
    expect(withModulePaths('/pkg/b.js', 'export const x = 1\n')).toBe('export const x = 1\n')
    expect(withModulePaths('/pkg/c.mjs', 'export const u = import.meta.url, f = import.meta.filename\n')).toBe('var __faasdev_filename = "/pkg/c.mjs", __faasdev_url = "file:///pkg/c.mjs";export const u = import.meta.url, f = import.meta.filename\n')
  })

  it('keeps a #! line first', () => {
    expect(withModulePaths('/bin/cli.js', '#!/usr/bin/env node\nconsole.log(__filename)\n')).toBe('#!/usr/bin/env node\nvar __faasdev_filename = "/bin/cli.js";console.log(__filename)\n')
  })
})
