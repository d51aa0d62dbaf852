import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: { conditions: ['@liquid-edge/source', 'node', 'import', 'default'] },
  ssr: { resolve: { conditions: ['@liquid-edge/source', 'node', 'import', 'default'] } },
  test: {
    include: ['*/test/**/*.test.ts', 'test/e2e/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    onConsoleLog: () => false,
    reporters: ['default'],
  },
})
