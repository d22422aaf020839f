import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { envsubst } from '../../src/config/envsubst.js'
import { displayPath, findStackFile, loadStack, SUPPORTED_LANGS } from '../../src/config/stack.js'
import { ConfigError } from '../../src/errors.js'

/** A fresh folder with the given files (and a `fn/handler.js` handler unless replaced). */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'faasdev-config-'))
  const all = { 'fn/handler.js': 'module.exports = async () => "ok"\n', ...files }
  for (const [name, content] of Object.entries(all)) {
    mkdirSync(join(dir, name, '..'), { recursive: true })
    writeFileSync(join(dir, name), content)
  }
  return dir
}

/** Loads `stack.yml` from a fresh project; the YAML's first line is line 1. */
function load(yaml: string, files: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}) {
  const dir = project({ 'stack.yml': yaml, ...files })
  return { dir, file: join(dir, 'stack.yml'), config: () => loadStack(join(dir, 'stack.yml'), env) }
}

function configError(run: () => unknown): ConfigError {
  try {
    run()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

describe('envsubst', () => {
  it('substitutes ${VAR}, ${VAR:-default} and $$, and leaves a bare $VAR alone', () => {
    const env = { OWNER: 'alex', EMPTY: '' }
    expect(envsubst('image: ${OWNER}/fn', env)).toBe('image: alex/fn')
    expect(envsubst('image: ${MISSING}/fn', env)).toBe('image: /fn')
    expect(envsubst('tag: ${TAG:-latest} ${OWNER:-nobody} ${EMPTY:-fallback}', env)).toBe('tag: latest alex fallback')
    expect(envsubst('a: ${EMPTY:=x} ${UNSET=y} ${UNSET-z}', env)).toBe('a: x y z')
    expect(envsubst('price: $$5 and $OWNER', env)).toBe('price: $5 and $OWNER')
  })

  it('applies before YAML parsing, so substituted values reach the function definition', () => {
    const { config } = load(
      ['functions:', '  hello:', '    lang: ${LANG_NAME:-node20}', '    handler: ./fn', '    environment:', '      greeting: ${GREETING}', '      cost: $$3', ''].join('\n'),
      {},
      { GREETING: 'hi there' },
    )
    const fn = config().functions[0]
    expect(fn?.lang).toBe('node20')
    expect(fn?.environment).toEqual({ greeting: 'hi there', cost: '$3' })
  })
})

describe('stack.yml loading', () => {
  it('reads environment, environment_file (files override inline, later files win), secrets, labels and watchdog keys', () => {
    const { dir, config } = load(
      [
        'version: 1.0',
        'provider:',
        '  name: openfaas',
        '  gateway: http://127.0.0.1:8080',
        'functions:',
        '  hello:',
        '    lang: typescript',
        '    handler: ./fn',
        '    environment:',
        '      a: inline',
        '      b: inline',
        '      c: inline',
        '      max_inflight: 3',
        '      exec_timeout: 1m30s',
        '      write_timeout: 5',
        '    environment_file:',
        '      - env1.yml',
        '      - env2.yml',
        '    secrets:',
        '      - api-key',
        '    labels:',
        '      com.openfaas.scale.min: 0',
        '      com.openfaas.scale.max: "4"',
        '      com.openfaas.scale.zero: "true"',
        '    limits:',
        '      memory: 128Mi',
        '',
      ].join('\n'),
      {
        'env1.yml': 'environment:\n  b: file1\n  c: file1\n',
        'env2.yml': 'environment:\n  c: file2\n',
        '.secrets/api-key': 's3cret',
      },
    )
    const fn = config().functions[0]
    expect(fn?.environment).toEqual({ a: 'inline', b: 'file1', c: 'file2', max_inflight: '3', exec_timeout: '1m30s', write_timeout: '5' })
    expect(fn?.secrets).toEqual({ 'api-key': 's3cret' })
    expect(fn?.watchdog).toEqual({ maxInflight: 3, execTimeoutMs: 90_000, readTimeoutMs: 30_000, writeTimeoutMs: 5000 })
    expect(fn?.memoryLimitBytes).toBe(128 * 1024 * 1024)
    expect(fn?.scale).toMatchObject({ min: 0, max: 4, zero: true })
    expect(fn?.handlerDir).toBe(join(dir, 'fn'))
    expect(fn?.entry).toBe(join(dir, 'fn', 'handler.js'))
    expect(fn?.style).toBe('fetch')
    expect(fn?.configFiles).toEqual([join(dir, 'stack.yml'), join(dir, 'env1.yml'), join(dir, 'env2.yml'), join(dir, '.secrets', 'api-key')])
  })

  it('finds the stack file: -f first, then stack.yaml before stack.yml', () => {
    const both = project({ 'stack.yaml': 'functions: {}\n', 'stack.yml': 'functions: {}\n', 'other.yml': '' })
    expect(findStackFile(undefined, both)).toBe(join(both, 'stack.yaml'))
    expect(findStackFile('other.yml', both)).toBe(join(both, 'other.yml'))
    const ymlOnly = project({ 'stack.yml': 'functions: {}\n' })
    expect(findStackFile(undefined, ymlOnly)).toBe(join(ymlOnly, 'stack.yml'))
    const none = project({})
    expect(() => findStackFile(undefined, none)).toThrow(/no stack\.yaml or stack\.yml/)
  })

  it('skips langs it cannot run with a reason naming the supported langs, and keeps the rest', () => {
    const { config } = load(['functions:', '  go-fn:', '    lang: golang-middleware', '    handler: ./does-not-matter', '  js-fn:', '    lang: node20', '    handler: ./fn', ''].join('\n'))
    const stack = config()
    expect(stack.functions.map((f) => f.name)).toEqual(['js-fn'])
    expect(stack.skipped).toEqual([{ name: 'go-fn', lang: 'golang-middleware', reason: `lang "golang-middleware" cannot run in faasdev (supported: ${SUPPORTED_LANGS.join(', ')})` }])
    expect(SUPPORTED_LANGS).toEqual(['typescript', 'javascript', 'node18', 'node20', 'node22', 'node'])
  })

  it('warns when a CommonJS template handler would load as an ES module because of a parent package.json', () => {
    const cjs = "'use strict'\nmodule.exports = async () => 'ok'\n"
    const { file, config } = load(['functions:', '  a:', '    lang: node20', '    handler: ./a', '  b:', '    lang: node20', '    handler: ./b', ''].join('\n'), {
      'package.json': '{ "type": "module" }',
      'a/handler.js': cjs,
      'b/handler.js': cjs,
      'b/package.json': '{ "name": "b", "main": "handler.js" }',
    })
    expect(config().warnings).toEqual([
      `${displayPath(file)}:4: functions.a.handler: handler.js uses module.exports, but ${displayPath(join(file, '..', 'package.json'))} sets "type": "module", so it would load as an ES module and export nothing; add a package.json without "type" to ./a (as faas-cli new does)`,
    ])
  })

  it('fails when no function in the stack can run', () => {
    const { file, config } = load(['functions:', '  go-fn:', '    lang: golang-middleware', '    handler: ./go', '  df:', '    lang: dockerfile', '    handler: ./df', ''].join('\n'))
    expect(configError(config).message).toBe(`${displayPath(file)}:1: functions: no function can run: go-fn (golang-middleware), df (dockerfile); supported langs: ${SUPPORTED_LANGS.join(', ')}`)
  })

  it('warns about a misspelt field with the closest known name, naming file and line', () => {
    const { file, config } = load(['functions:', '  hello:', '    lang: node20', '    handler: ./fn', '    enviroment:', '      a: b', '    totally_custom: 1', ''].join('\n'))
    expect(config().warnings).toEqual([`${displayPath(file)}:5: functions.hello.enviroment: unknown field, did you mean "environment"?`])
    const env = load(['functions:', '  hello:', '    lang: node20', '    handler: ./fn', '    environment:', '      exec_timout: 5s', '      max_inflights: 2', '      write_debug: true', ''].join('\n'))
    const stack = env.config()
    expect(stack.warnings).toEqual([
      `${displayPath(env.file)}:6: functions.hello.environment.exec_timout: not a watchdog setting, did you mean "exec_timeout"?`,
      `${displayPath(env.file)}:7: functions.hello.environment.max_inflights: not a watchdog setting, did you mean "max_inflight"?`,
    ])
    // The misspelt key is not applied.
    expect(stack.functions[0]?.watchdog.execTimeoutMs).toBe(30_000)
  })
})

describe('configuration errors name the file, the line and the field', () => {
  const fn = (...lines: string[]): string => ['functions:', '  hello:', '    lang: node20', '    handler: ./fn', ...lines, ''].join('\n')

  it('a bad memory quantity (the SPEC example, line 12)', () => {
    const yaml = ['version: 1.0', 'provider:', '  name: openfaas', '', 'functions:', '  hello:', '    lang: node20', '    handler: ./fn', '    environment:', '      a: b', '    limits:', '      memory: 12 bananas', ''].join('\n')
    const { file, config } = load(yaml)
    const err = configError(config)
    expect(err.message).toBe(`${displayPath(file)}:12: functions.hello.limits.memory: "12 bananas" is not a memory quantity (e.g. 128Mi, 1G)`)
    expect([err.line, err.field]).toEqual([12, 'functions.hello.limits.memory'])
  })

  it('malformed YAML', () => {
    const { file, config } = load('functions:\n  hello:\n    lang: node20\n    handler: [./fn\n')
    expect(configError(config).message).toMatch(new RegExp(`^${escape(displayPath(file))}:\\d+: malformed YAML: `))
    const tabs = load('functions:\n  hello:\n\tlang: node20\n')
    expect(configError(tabs.config).message).toMatch(new RegExp(`^${escape(displayPath(tabs.file))}:3: malformed YAML: `))
  })

  it('a missing handler folder', () => {
    const { dir, file, config } = load(['functions:', '  hello:', '    lang: node20', '    handler: ./missing', ''].join('\n'))
    expect(configError(config).message).toBe(`${displayPath(file)}:4: functions.hello.handler: folder "./missing" does not exist (looked in ${join(dir, 'missing')})`)
  })

  it('a bad duration, inline or from an environment file', () => {
    const inline = load(fn('    environment:', '      exec_timeout: 10 parsecs'))
    expect(configError(inline.config).message).toBe(`${displayPath(inline.file)}:6: functions.hello.environment.exec_timeout: "10 parsecs" is not a duration (e.g. 30s, 1m30s, 500ms or a number of seconds)`)
    const fromFile = load(fn('    environment_file:', '      - env.yml'), { 'env.yml': 'environment:\n  write_timeout: soon\n' })
    expect(configError(fromFile.config).message).toBe(`${displayPath(fromFile.file)}:5: functions.hello.environment_file: "soon" is not a duration (e.g. 30s, 1m30s, 500ms or a number of seconds)`)
    const label = load(fn('    labels:', '      com.openfaas.scale.zero-duration: 5 minutes'))
    expect(configError(label.config).message).toBe(`${displayPath(label.file)}:6: functions.hello.labels.com.openfaas.scale.zero-duration: "5 minutes" is not a duration`)
  })

  it('a missing secret file or environment file', () => {
    const secret = load(fn('    secrets:', '      - present', '      - api-key'), { '.secrets/present': 'x' })
    expect(configError(secret.config).message).toBe(`${displayPath(secret.file)}:7: functions.hello.secrets[1]: secret "api-key" not found: create ${join('.secrets', 'api-key')} beside the stack file`)
    const envFile = load(fn('    environment_file:', '      - nope.yml'))
    expect(configError(envFile.config).message).toBe(`${displayPath(envFile.file)}:6: functions.hello.environment_file[0]: file "nope.yml" does not exist`)
  })

  it('YAML anchors and aliases are followed, and an alias bomb is refused at the function that uses it', () => {
    const yaml = [
      'functions:',
      '  api:',
      '    lang: node20',
      '    handler: ./fn',
      '    environment: &common',
      '      max_inflight: 3',
      '      DB_HOST: db',
      '    labels:',
      '      com.openfaas.scale.max: &max "7"',
      '  worker:',
      '    lang: node20',
      '    handler: ./fn',
      '    environment: *common',
      '    labels:',
      '      com.openfaas.scale.max: *max',
      '',
    ].join('\n')
    const shared = load(yaml)
    const worker = shared.config().functions.find((f) => f.name === 'worker')
    expect(worker?.environment).toEqual({ max_inflight: '3', DB_HOST: 'db' })
    expect(worker?.watchdog.maxInflight).toBe(3)
    expect(worker?.scale.max).toBe(7)
    const lol = ['a: &a [x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]']
    const bomb = load([...lol, fn('    labels: *d')].join('\n'))
    expect(configError(bomb.config).message).toMatch(new RegExp(`^${escape(displayPath(bomb.file))}:6: functions\\.hello: cannot read: excessive alias count`, 'i'))
  })

  it('a folder where a file should be, and a secret name that is a path', () => {
    const folder = load(fn('    environment_file:', '      - ""'))
    expect(configError(folder.config).message).toBe(`${displayPath(folder.file)}:6: functions.hello.environment_file[0]: ${displayPath(folder.dir)} is a folder, not a file`)
    const secretDir = load(fn('    secrets:', '      - nested'), { '.secrets/nested/x': 'x' })
    expect(configError(secretDir.config).message).toBe(`${displayPath(secretDir.file)}:6: functions.hello.secrets[0]: ${displayPath(join(secretDir.dir, '.secrets', 'nested'))} is a folder, not a file`)
    const outside = load(fn('    secrets:', '      - ../stack.yml'))
    expect(configError(outside.config).message).toBe(`${displayPath(outside.file)}:6: functions.hello.secrets[0]: secret name "../stack.yml" must be a file name in .secrets/, without / or \\`)
  })

  it('bad label and annotation values', () => {
    const cases: [string[], string][] = [
      [['    labels:', '      com.openfaas.scale.min: lots'], 'functions.hello.labels.com.openfaas.scale.min: "lots" is not a whole number ≥ 0'],
      [['    labels:', '      com.openfaas.scale.max: "0"'], 'functions.hello.labels.com.openfaas.scale.max: "0" is not a whole number ≥ 1'],
      [['    labels:', '      com.openfaas.scale.type: memory'], 'functions.hello.labels.com.openfaas.scale.type: "memory" is not one of rps, capacity, cpu, queue'],
      [['    labels:', '      com.openfaas.scale.zero: maybe'], 'functions.hello.labels.com.openfaas.scale.zero: "maybe" is not true or false'],
      [['    labels:', '      com.openfaas.scale.target-proportion: "1.5"'], 'functions.hello.labels.com.openfaas.scale.target-proportion: "1.5" is not a fraction in (0, 1]'],
      [['    annotations:', '      com.openfaas.retry.codes: "429,abc"'], 'functions.hello.annotations.com.openfaas.retry.codes: "429,abc" is not a list of HTTP status codes (e.g. "429,502,503")'],
      [['    environment:', '      max_inflight: -1'], 'functions.hello.environment.max_inflight: "-1" is not a whole number ≥ 0'],
    ]
    for (const [lines, expected] of cases) {
      const { file, config } = load(fn(...lines))
      expect(configError(config).message).toBe(`${displayPath(file)}:6: ${expected}`)
    }
    const minAboveMax = load(fn('    labels:', '      com.openfaas.scale.min: 5', '      com.openfaas.scale.max: 2'))
    expect(configError(minAboveMax.config).message).toBe(`${displayPath(minAboveMax.file)}:6: functions.hello.labels.com.openfaas.scale.min: min (5) is above max (2)`)
  })

  it('a missing lang, a bad function name, and a provider other than openfaas', () => {
    const noLang = load(['functions:', '  hello:', '    handler: ./fn', ''].join('\n'))
    expect(configError(noLang.config).message).toBe(`${displayPath(noLang.file)}:2: functions.hello.lang: required: the template name (typescript, javascript, node20, …)`)
    const badName = load(['functions:', '  Hello_World:', '    lang: node20', '    handler: ./fn', ''].join('\n'))
    expect(configError(badName.config).message).toMatch(/stack\.yml:2: functions\.Hello_World: function name "Hello_World" must be a DNS label/)
    const provider = load(['provider:', '  name: faasd', 'functions:', '  hello:', '    lang: node20', '    handler: ./fn', ''].join('\n'))
    expect(configError(provider.config).message).toBe(`${displayPath(provider.file)}:2: provider.name: must be "openfaas", got "faasd"`)
  })

  it('names the file relative to the working directory when it is inside it', () => {
    expect(displayPath('/a/b/stack.yml', '/a')).toBe(join('b', 'stack.yml'))
    expect(displayPath('/elsewhere/stack.yml', '/a')).toBe('/elsewhere/stack.yml')
  })
})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
