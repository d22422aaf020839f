import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { displayPath, parseStack } from '../../src/config/stack.js'

function warnings(...lines: string[]): { file: string; warnings: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'faasdev-warn-'))
  mkdirSync(join(dir, 'fn'))
  writeFileSync(join(dir, 'fn', 'handler.ts'), 'export default async () => "ok"\n')
  const file = join(dir, 'stack.yml')
  const text = ['functions:', '  hello:', '    lang: typescript', '    handler: ./fn', ...lines, ''].join('\n')
  return { file: displayPath(file), warnings: parseStack(file, text, {}).warnings }
}

describe('startup warnings for risky settings', () => {
  it('warns about a memory limit without max_inflight, at the limit’s line', () => {
    const { file, warnings: w } = warnings('    limits:', '      memory: 64Mi')
    expect(w).toHaveLength(1)
    expect(w[0]).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6: functions\\.hello\\.limits\\.memory: a memory limit without environment\\.max_inflight`))
    expect(warnings('    limits:', '      memory: 64Mi', '    environment:', '      max_inflight: 4').warnings).toEqual([])
  })

  it('warns when exec_timeout is longer than write_timeout, at exec_timeout’s line', () => {
    const { file, warnings: w } = warnings('    environment:', '      exec_timeout: 1m', '      write_timeout: 10s')
    expect(w).toEqual([
      `${file}:6: functions.hello.environment.exec_timeout: exec_timeout (1m) is longer than write_timeout (10s): OpenFaaS cuts the response at write_timeout, and faasdev stops waiting for a draining call there; raise write_timeout`,
    ])
    expect(warnings('    environment:', '      exec_timeout: 10s', '      write_timeout: 10s').warnings).toEqual([])
    expect(warnings().warnings).toEqual([])
  })
})
