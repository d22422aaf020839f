// Entry of `npm run bench` (after `npm run build`): runs every benchmark suite in turn.
//   node bench/run.js [--suites core,async,jetstream,speed] [--runs N] [--duration S] [--json FILE]
//                     [--only throughput,latency,cold,rss,hop]   (which core benchmarks)
//                     [--tools auto|wrk|autocannon]               (core's load generator; auto: wrk when installed)
//                     [--only cold,reload,scaling]                (which speed benchmarks)
// Load runs are bounded in time and only ever target 127.0.0.1.
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { runCore } from './core.js'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    only: { type: 'string', default: '' },
    suites: { type: 'string', default: '' },
    json: { type: 'string' },
    tools: { type: 'string', default: 'auto' },
  },
})
const only = values.only ? values.only.split(',').map((s) => s.trim()) : []
const options = { runs: Number(values.runs), durationS: Number(values.duration), only, tools: values.tools, log: (line) => console.log(line) }

console.log(`faasdev benchmarks — Node ${process.version}, ${cpus().length} cores, ${options.runs} runs each (median run reported)`)

/**
 * The suites, in order. Each takes the options above and returns its results; a new suite is
 * one more line here: `name: (o) => import('./FILE.js').then((m) => m.run(o))`.
 */
const allSuites = {
  core: (o) => runCore(o),
  async: (o) => import('./async.js').then((m) => m.run({ runs: o.runs, log: o.log })),
  jetstream: (o) => import('./jetstream.js').then((m) => m.run({ runs: o.runs, log: o.log })),
  speed: (o) => import('./speed.js').then((m) => m.run({ runs: o.runs, durationS: o.durationS, only: o.only, log: o.log })),
}
const wanted = values.suites ? values.suites.split(',').map((s) => s.trim()) : Object.keys(allSuites)
const suites = Object.fromEntries(Object.entries(allSuites).filter(([name]) => wanted.includes(name)))

const results = {}
for (const [name, suite] of Object.entries(suites)) {
  console.log(`\n== ${name} ==`)
  results[name] = await suite(options)
}
if (values.json) writeFileSync(values.json, `${JSON.stringify({ node: process.version, cores: cpus().length, results }, null, 2)}\n`)
