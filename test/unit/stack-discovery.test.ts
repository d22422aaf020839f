import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { discoverStackFile, locateStackFile } from '../../src/config/discover.js'
import { ConfigError } from '../../src/errors.js'

const OPENFAAS = (fn: string): string => `version: 1.0\nprovider:\n  name: openfaas\n  gateway: http://127.0.0.1:8080\nfunctions:\n  ${fn}:\n    lang: node20\n    handler: ./${fn}\n`

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'faasdev-discover-'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  return dir
}

describe('stack file discovery', () => {
  it('prefers stack.yaml, then stack.yml, without a note', () => {
    const dir = folder({ 'stack.yml': OPENFAAS('a'), 'stack.yaml': OPENFAAS('b'), 'other.yml': OPENFAAS('c') })
    expect(discoverStackFile(dir)).toEqual({ file: join(dir, 'stack.yaml') })
    const yml = folder({ 'stack.yml': OPENFAAS('a'), 'other.yml': OPENFAAS('c') })
    expect(discoverStackFile(yml)).toEqual({ file: join(yml, 'stack.yml') })
  })

  it('takes the one YAML file with provider openfaas, ignoring compose files, CI files, broken YAML and folders', () => {
    const dir = folder({
      'hello.yml': OPENFAAS('hello'),
      'docker-compose.yml': 'services:\n  db:\n    image: postgres:16\n',
      'ci.yaml': 'provider:\n  name: github\n',
      'broken.yml': 'provider: [\n',
      'notes.txt': OPENFAAS('txt'),
    })
    mkdirSync(join(dir, 'dir.yml'))
    const found = discoverStackFile(dir)
    expect(found?.file).toBe(join(dir, 'hello.yml'))
    expect(found?.note).toMatch(/^using .*hello\.yml: there is no stack\.yaml or stack\.yml, and it is the only YAML file here with provider "openfaas"/)
  })

  it('names every candidate when several could be the stack, and says what to do', () => {
    const dir = folder({ 'orders.yml': OPENFAAS('orders'), 'payments.yaml': OPENFAAS('payments') })
    expect(() => discoverStackFile(dir)).toThrow(ConfigError)
    expect(() => discoverStackFile(dir)).toThrow(/several files with provider "openfaas": orders\.yml, payments\.yaml; pass -f FILE$/)
    // -f decides.
    expect(locateStackFile('payments.yaml', dir)).toEqual({ file: join(dir, 'payments.yaml') })
  })

  it('finds nothing in a folder without an OpenFaaS stack', () => {
    const dir = folder({ 'docker-compose.yml': 'services: {}\n' })
    expect(discoverStackFile(dir)).toBeUndefined()
    expect(() => locateStackFile(undefined, dir)).toThrow(/no stack\.yaml or stack\.yml in .*, nor another YAML file with provider "openfaas"; pass -f FILE/)
  })
})
