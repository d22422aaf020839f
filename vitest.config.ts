import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Builds dist/ once: the CLI tests spawn `node bin/faasdev.js`, which runs the compiled code.
    globalSetup: ['test/global-setup.ts'],
    // Two cores: integration files start worker threads and time things; keep them apart.
    fileParallelism: false,
    reporters: ['default', 'json'],
    outputFile: { json: '.faasdev/vitest-results.json' },
  },
})
