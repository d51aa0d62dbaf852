import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'

/** Where the console's page is served. */
export const CONSOLE_PATH = '/ui/'

// The page loads only its own files and talks only to this origin.
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

/** The built console of the `@liquid-edge/console` package (its `dist/`), or null when the package is not installed. */
export function defaultConsoleDir(): string | null {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@liquid-edge/console/package.json')), 'dist')
  } catch {
    return null
  }
}

function notBuilt(dir: string | null): string {
  const where = dir === null ? 'the @liquid-edge/console package is not installed' : `${dir} has no index.html`
  return `<!doctype html><meta charset="utf-8"><title>Liquid Edge console not built</title>
<p>The web console is not built (${where}). Run <code>npm run build</code> (or <code>npm run build -w @liquid-edge/console</code>)
and restart the controller, or set <code>LLN_CONSOLE_DIR</code> to a built console.</p>`
}

/**
 * Serve the web console's built files at `/ui/` (hashed assets cached for good, the page never),
 * and send `/` there. Without a built console, `/ui/` says how to build one.
 */
export async function serveConsole(app: FastifyInstance, dir: string | null): Promise<void> {
  app.get('/', (_req, reply) => reply.redirect(CONSOLE_PATH))
  if (dir === null || !existsSync(join(dir, 'index.html'))) {
    const page = notBuilt(dir)
    app.get('/ui', (_req, reply) => reply.redirect(CONSOLE_PATH))
    app.get('/ui/*', (_req, reply) => reply.code(503).type('text/html; charset=utf-8').send(page))
    return
  }
  await app.register(fastifyStatic, {
    root: dir,
    prefix: CONSOLE_PATH,
    redirect: true,
    cacheControl: false,
    setHeaders(reply, path) {
      if (path.endsWith('.html')) void reply.headers({ ...PAGE_HEADERS, 'cache-control': 'no-cache' })
      else if (path.startsWith(join(dir, 'assets'))) void reply.header('cache-control', 'public, max-age=31536000, immutable')
    },
  })
}
