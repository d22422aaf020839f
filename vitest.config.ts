import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: integration files start worker threads and time things; keep them apart.
    fileParallelism: false,
    reporters: ['default', 'json'],
    outputFile: { json: '.faasdev/vitest-results.json' },
  },
})
