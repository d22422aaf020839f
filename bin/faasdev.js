#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm install` (the package's prepare script).
import('../dist/cli.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli.js')) {
    console.error('faasdev: dist/ is missing; run `npm install` (or `npm run build`) first')
    process.exit(1)
  }
  throw err
})
