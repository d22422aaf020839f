// Entry of `npm run bench` (after `npm run build`): runs every benchmark suite in turn.
//   node bench/run.js [--runs N] [--duration S] [--only throughput,latency,cold,rss,hop] [--json FILE]
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
    json: { type: 'string' },
  },
})
const only = values.only ? values.only.split(',').map((s) => s.trim()) : []
const options = { runs: Number(values.runs), durationS: Number(values.duration), only, log: (line) => console.log(line) }

console.log(`faasdev benchmarks — Node ${process.version}, ${cpus().length} cores, ${options.runs} runs each (median run reported)`)

/**
 * The suites, in order. Each takes the options above and returns its results; add further
 * suites (async queue, JetStream…) here as `name: (options) => import('./FILE.js').then((m) => m.run(options))`.
 */
const suites = {
  core: (o) => runCore(o),
  // async: (o) => import('./async.js').then((m) => m.run(o)),
  // jetstream: (o) => import('./jetstream.js').then((m) => m.run(o)),
}

const results = {}
for (const [name, suite] of Object.entries(suites)) {
  console.log(`\n== ${name} ==`)
  results[name] = await suite(options)
}
if (values.json) writeFileSync(values.json, `${JSON.stringify({ node: process.version, cores: cpus().length, results }, null, 2)}\n`)
