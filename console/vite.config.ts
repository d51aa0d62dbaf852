import { defineConfig } from 'vite'

/**
 * The console is a static bundle the controller serves at /ui/: no CDN, every asset hashed.
 * Preact's automatic JSX runtime; the protocol package is read from its TypeScript source.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: '/ui/',
  resolve: { conditions: ['@liquid-edge/source', 'browser', 'import', 'default'] },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 400,
  },
  logLevel: 'warn',
})
