/**
 * Property-based fuzzing of the stack.yml loader: generated and mangled files either load or
 * give a ConfigError that names the file and a line or field; never another exception.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { displayPath, parseStack } from '../../src/config/stack.js'
import { ConfigError } from '../../src/errors.js'
import { checkProperty } from '../fuzz.js'

const FILE = 'test/unit/fuzz-stack.test.ts'

/** A project folder a stack file can point into: handlers, a secret, an environment file. */
function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'faasdev-fuzz-stack-'))
  mkdirSync(join(dir, 'fn'))
  writeFileSync(join(dir, 'fn/handler.ts'), 'export default async () => new Response("ok")\n')
  mkdirSync(join(dir, 'tpl'))
  writeFileSync(join(dir, 'tpl/handler.js'), "'use strict'\nmodule.exports = async (event, context) => context.succeed('ok')\n")
  writeFileSync(join(dir, 'tpl/package.json'), '{"name":"tpl"}\n')
  mkdirSync(join(dir, '.secrets'))
  writeFileSync(join(dir, '.secrets/api-key'), 'k3y\n')
  writeFileSync(join(dir, 'env.yml'), 'environment:\n  FROM_FILE: "1"\n')
  writeFileSync(join(dir, 'bad-env.yml'), 'environment: [1, 2\n')
  return dir
}

const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('', ' ', '${HOME}', '${MISSING:-fallback}', '${', '$$', '30s', '1m30s', '-5s', '1e400', 'NaN', '128Mi', '-1', '0', '99999999999999999999', '10Gi', 'abc', 'true', '\u0000', '__proto__', 'x'.repeat(300)),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
)
const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 6 }), tie('v'), { maxKeys: 3 })),
})).v

const WATCHDOG = ['max_inflight', 'exec_timeout', 'read_timeout', 'write_timeout', 'exec_timout', 'RAW_BODY', 'MAX_RAW_SIZE', 'content_type']
const SCALE = ['min', 'max', 'factor', 'type', 'target', 'zero', 'zero-duration', 'target-proportion']
const RETRY = ['max_retry_attempts', 'initial_retry_wait', 'max_retry_wait', 'retry_http_codes']

const mapOf = (keys: fc.Arbitrary<string>): fc.Arbitrary<Record<string, unknown>> => fc.dictionary(keys, fc.oneof({ weight: 4, arbitrary: scalar }, value), { maxKeys: 4 })

const functionDef = fc.record(
  {
    lang: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('typescript', 'javascript', 'node20', 'node22', 'node18', 'node') }, fc.constantFrom('python3', 'go', 'dockerfile', ''), value),
    handler: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('./fn', './tpl', 'fn', 'tpl/') }, fc.constantFrom('./missing', '', '../../..', '/', '.secrets', 'fn/handler.ts'), value),
    image: value,
    environment: fc.oneof(mapOf(fc.oneof(fc.constantFrom(...WATCHDOG), fc.string({ maxLength: 8 }))), value),
    environment_file: fc.oneof(fc.array(fc.constantFrom('env.yml', 'missing.yml', 'bad-env.yml', ''), { maxLength: 2 }), value),
    secrets: fc.oneof(fc.array(fc.constantFrom('api-key', 'missing', '', '../env.yml'), { maxLength: 2 }), value),
    labels: fc.oneof(mapOf(fc.oneof(fc.constantFrom(...SCALE).map((k) => `com.openfaas.scale.${k}`), fc.string({ maxLength: 8 }))), value),
    annotations: fc.oneof(mapOf(fc.oneof(fc.constantFrom(...RETRY).map((k) => `com.openfaas.retry.${k}`), fc.string({ maxLength: 8 }))), value),
    limits: fc.oneof(fc.record({ memory: scalar, cpu: scalar }, { requiredKeys: [] }), value),
    build_args: value,
    langauge: value,
  },
  { requiredKeys: [] },
)

const functionName = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('hello', 'api', 'tpl-fn') }, fc.constantFrom('Hello', '-x', 'a'.repeat(70), '__proto__', 'constructor', 'toString', '123', '', 'a.b'), fc.string({ maxLength: 8 }))

const stackDoc = fc.record(
  {
    version: fc.oneof(fc.constant('1.0'), value),
    provider: fc.oneof(fc.record({ name: fc.oneof(fc.constant('openfaas'), value), gateway: value }, { requiredKeys: [] }), value),
    functions: fc.oneof({ weight: 6, arbitrary: fc.dictionary(functionName, fc.oneof({ weight: 6, arbitrary: functionDef }, value), { maxKeys: 3 }) }, value),
  },
  { requiredKeys: [] },
)

/** Text that breaks YAML in the ways people and tools do: tabs, stray indicators, anchors, tags, merges, truncation. */
const NOISE = ['\t', ': ', '- ', '&a ', '*a', '*missing', '!!binary ', '!!js/function ', '!<tag:x> ', '<<: *a\n', '{', '}', '[', ']', '"', "'", '%YAML 1.1\n', '---\n', '...\n', '#', '|', '>', '? ', '\n  ', '\u0000', '\ufeff', '${X}']
const mangled = fc.tuple(stackDoc, fc.array(fc.tuple(fc.nat(), fc.constantFrom(...NOISE)), { maxLength: 3 }), fc.option(fc.nat(), { nil: undefined })).map(([doc, noise, cut]) => {
  let text = stringify(doc)
  for (const [at, piece] of noise) {
    const i = at % (text.length + 1)
    text = text.slice(0, i) + piece + text.slice(i)
  }
  return cut === undefined ? text : text.slice(0, cut % (text.length + 1))
})

/** Alias bombs and deep nesting: the loader must refuse them as config errors, not run out of memory. */
const hostile = fc.constantFrom(
  `a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\nfunctions:\n  hello:\n    lang: typescript\n    handler: ./fn\n    environment: &env\n      X: "1"\n    labels: *f\n`,
  `functions:\n  hello: &h\n    lang: typescript\n    handler: ./fn\n  api:\n    <<: *h\n    environment:\n      max_inflight: "2"\n`,
  `functions:\n  hello:\n    lang: typescript\n    handler: ./fn\n    environment: ${'['.repeat(400)}${']'.repeat(400)}\n`,
  `functions: &loop\n  hello: *loop\n`,
  `functions:\n  hello:\n    lang: typescript\n    handler: ./fn\n  hello:\n    lang: node20\n    handler: ./tpl\n`,
  `functions:\n  __proto__:\n    polluted: yes\n  hello:\n    lang: typescript\n    handler: ./fn\n    labels:\n      __proto__: {polluted: yes}\n`,
)

function loadsOrNamesTheProblem(dir: string, text: string): void {
  const file = join(dir, 'stack.yml')
  let loaded = false
  try {
    const config = parseStack(file, text, { HOME: '/home/x' })
    loaded = true
    for (const spec of config.functions) expect(typeof spec.name).toBe('string')
  } catch (err) {
    if (loaded) throw err
    expect(err, `${String(err)}\n--- stack.yml ---\n${text}`).toBeInstanceOf(ConfigError)
    const e = err as ConfigError
    // The file is the stack file, or the environment file the problem is in.
    expect([displayPath(file), displayPath(join(dir, 'bad-env.yml'))], e.message).toContain(e.file)
    expect(e.message.startsWith(e.file), e.message).toBe(true)
    // A root-level problem (not a map, no functions) has neither; anything deeper names one.
    if (e.line === undefined && !e.field) expect(e.detail, e.message).toMatch(/map|functions|YAML/)
  }
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
}

describe('stack.yml fuzzing', () => {
  it('generated, mangled and hostile stack files load or give a ConfigError naming file, line or field', async () => {
    const dir = project()
    const text = fc.oneof({ weight: 3, arbitrary: stackDoc.map((d) => stringify(d)) }, { weight: 3, arbitrary: mangled }, hostile, fc.string({ maxLength: 200 }))
    await checkProperty('generated, mangled and hostile stack files load or give a ConfigError naming file, line or field', FILE, fc.property(text, (t) => loadsOrNamesTheProblem(dir, t)), 1000)
  }, 60_000)
})
