/**
 * A real browser for the console's end-to-end tests: Debian's Chromium driven by playwright-core
 * (no browser download works here), headless, with a fresh profile per launch.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

/** Where Chromium is (`LLN_CHROMIUM` overrides). */
export const CHROMIUM = process.env.LLN_CHROMIUM ?? '/usr/bin/chromium'

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

export interface Browser extends AsyncDisposable {
  context: BrowserContext
  /** A new tab (its own session storage: its own login). */
  page(): Promise<Page>
  close(): Promise<void>
}

/** @throws when Chromium is missing, saying how to install it. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}; the console's browser tests need it. ` +
        'Install it with `apt-get update && apt-get install -y chromium` (.ci/run does), or point LLN_CHROMIUM at a Chromium binary.',
    )
  }
  const profile = mkdtempSync(join(tmpdir(), 'lln-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1440, height: 900 },
  })
  const close = async (): Promise<void> => {
    await context.close()
    rmSync(profile, { recursive: true, force: true })
  }
  return {
    context,
    page: () => context.newPage(),
    close,
    [Symbol.asyncDispose]: close,
  }
}
