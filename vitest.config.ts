import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: { conditions: ['@liquid-edge/source', 'node', 'import', 'default'] },
  ssr: { resolve: { conditions: ['@liquid-edge/source', 'node', 'import', 'default'] } },
  test: {
    include: ['*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    setupFiles: ['test/harness/fail-on-console.ts'],
    // The JSON report feeds .ci/run's closing count line.
    reporters: ['default', ['json', { outputFile: '.vitest-report.json' }]],
  },
})
