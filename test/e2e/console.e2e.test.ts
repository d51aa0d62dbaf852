/**
 * The web console in a real browser (Chromium through playwright-core) against real processes:
 * liquid-broker, liquid-controller and simulated fleets, as an operator uses it during a rollout.
 * With LLN_CONSOLE_SCREENSHOTS=1 it also writes the screenshots the README shows (docs/console-*.png).
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { redisClient } from '@liquid-edge/test/harness'
import { REPO } from '../sandbox/processes.js'
import type { Sandbox } from '../sandbox/sandbox.js'
import { launchBrowser, type Browser } from './browser.js'
import { FAST_RULES, MODEL, startScenario, type Operator, type Scenario } from './operator.js'

const ALL = 'env in (staging,production)'
const SCREENSHOTS = process.env.LLN_CONSOLE_SCREENSHOTS === '1'
let scenario: Scenario
let sandbox: Sandbox
let op: Operator
let browser: Browser
let page: Page

/** Wait for what the page shows, with a deadline. */
function poll<T>(fn: () => Promise<T>, timeout = 30_000) {
  return expect.poll(fn, { timeout, interval: 250 })
}

async function shot(p: Page, name: string): Promise<void> {
  if (SCREENSHOTS) await p.screenshot({ path: join(REPO, 'docs', `console-${name}.png`), fullPage: false })
}

/** Log in on `p` with `token` (the console at its URL). */
async function login(p: Page, token: string): Promise<void> {
  await p.getByLabel('API token').fill(token)
  await p.getByRole('button', { name: 'Log in' }).click()
  await p.getByRole('navigation', { name: 'Pages' }).waitFor()
}

/** A mark on the page's window: still there later means the page was never reloaded. */
async function mark(p: Page): Promise<void> {
  await p.evaluate(() => {
    ;(globalThis as unknown as { llnMark: number }).llnMark = 42
  })
}
async function notReloaded(p: Page): Promise<boolean> {
  return p.evaluate(() => (globalThis as unknown as { llnMark?: number }).llnMark === 42)
}

async function token(scopes: string[]): Promise<string> {
  const res = await fetch(`${sandbox.apiUrl}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sandbox.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `console-${scopes.join('-')}`, scopes }),
  })
  expect(res.status).toBe(201)
  return ((await res.json()) as { token: string }).token
}

beforeAll(async () => {
  browser = await launchBrowser()
  scenario = await startScenario('console', {
    fleet: [
      { idPrefix: 'ui-stm32', count: 4, profile: 'stm32h743', labels: { env: 'staging', hw: 'stm32h743' } },
      // 20 inferences a second: two canaries fill the latency rule's 50 samples within its window.
      { idPrefix: 'ui-edge', count: 4, profile: 'x86-edge', labels: { env: 'production', hw: 'x86-edge' }, rate: 20 },
    ],
    ...FAST_RULES,
  })
  ;({ sandbox, op } = scenario)
  page = await browser.page()
}, 240_000)

afterAll(async () => {
  await browser.close()
  await scenario.close()
}, 60_000)

describe('web console', () => {
  it('refuses a wrong token with a clear message, then logs in and shows the fleet', async () => {
    const saved = await fetch(`${sandbox.apiUrl}/v1/groups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sandbox.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'edge-nodes', selector: 'hw=x86-edge' }),
    })
    expect(saved.status).toBe(201)
    await page.goto(sandbox.consoleUrl)
    await page.getByLabel('API token').fill('not-a-token')
    await page.getByRole('button', { name: 'Log in' }).click()
    await poll(() => page.getByRole('alert').textContent()).toMatch(/does not accept this token/)
    await login(page, sandbox.token)
    await mark(page)
    await poll(() => page.locator('.facets .total').textContent()).toMatch(/^8 devices match/)
    await poll(() => page.getByRole('group', { name: 'Online counts' }).textContent()).toMatch(/online\s*8/)
    await poll(() => page.locator('.vt-row').count()).toBe(8)
    // A saved group is counted, and picking it makes it the target.
    await page
      .getByRole('group', { name: 'Group counts' })
      .getByRole('button', { name: /edge-nodes/ })
      .click()
    await poll(() => page.locator('.facets .total').textContent()).toMatch(/^4 devices match/)
    expect(await page.getByLabel(/^Target/).inputValue()).toBe('edge-nodes')
    // The target grammar of the CLI filters the table and the counts.
    await page.getByLabel(/^Target/).fill('hw=stm32h743')
    await page.getByRole('button', { name: 'Filter' }).click()
    await poll(() => page.locator('.facets .total').textContent()).toMatch(/^4 devices match/)
    await poll(async () => (await page.locator('.vt-row .col-id').allTextContents()).sort()).toEqual([
      'ui-stm32-0001',
      'ui-stm32-0002',
      'ui-stm32-0003',
      'ui-stm32-0004',
    ])
    await page.getByLabel(/^Target/).fill('env in (')
    await page.getByRole('button', { name: 'Filter' }).click()
    await poll(() => page.getByRole('alert').first().textContent()).toMatch(/REGISTRY_INVALID_SELECTOR/)
    expect(await notReloaded(page)).toBe(true)
  }, 120_000)

  it('shows a rollout go 25% → 100% live, step by step', async () => {
    const rollout = await op.deploy(['--target', ALL, '--model', `${MODEL}@1.0.0`, '--steps', '25,100', '--bake', '4s', '--trial', '2s'])
    await page.goto(`${sandbox.consoleUrl}#/rollouts`)
    await page.getByRole('link', { name: rollout.id }).click()
    await mark(page)
    const section = page.locator(`section[data-state]`)
    await poll(() => page.locator('tr[data-step="0"]').textContent(), 60_000).toMatch(/^125%(current|done)/)
    await poll(() => section.getAttribute('data-state'), 120_000).toBe('completed')
    const steps = await page.locator('table.steps tbody tr').allTextContents()
    expect(steps[0]).toMatch(/^125%done0[1-9]/)
    expect(steps[1]).toMatch(/^2100%done0[1-9]/)
    expect(await page.locator('tr[data-step="1"] td').nth(3).textContent()).toBe(
      String(8 - Number(await page.locator('tr[data-step="0"] td').nth(3).textContent())),
    )
    await poll(() => page.locator('.audit-list li[data-event="rollout-completed"]').count()).toBe(1)
    expect(await notReloaded(page)).toBe(true)
    await shot(page, 'rollout')
  }, 180_000)

  it('shows the alert, the decision with its evidence and the automatic rollback as they happen', async () => {
    await page.goto(`${sandbox.consoleUrl}#/events`)
    await mark(page)
    // 2.0.0 fits the x86 class's budgets (on an STM32 it is over that class's energy budget).
    const rollout = await op.canary('hw=x86-edge', `${MODEL}@2.0.0`)
    // 2.0.0 regresses: every inference of that version (only) gets 30x slower on the simulated
    // devices, past the x86 class's latency budget (its inferences take about 0.2 ms).
    await op.faults({ latencyFactor: 30, modelVersion: '2.0.0' })
    const decision = page.locator(`li[data-event="decision"]`).filter({ hasText: rollout.id })
    await poll(() => decision.count(), 120_000).toBe(1)
    await poll(() => page.locator('li[data-event="alert"]').filter({ hasText: rollout.id }).count()).toBeGreaterThan(0)
    const evidence = await decision.locator('dl.evidence').textContent()
    expect(evidence).toMatch(/Rulelatency/)
    expect(evidence).toMatch(/Observed\d+(\.\d+)? msLimit\d+(\.\d+)? ms/)
    expect(evidence).toMatch(/Samples\d+/)
    expect(evidence).toMatch(/Devicesui-/)
    await shot(page, 'decision')
    // The decision links to its rollout, which shows it rolled back, and to the devices.
    await decision.getByRole('link', { name: rollout.id }).click()
    await poll(() => page.locator('section[data-state]').getAttribute('data-state'), 60_000).toBe('rolled-back')
    await poll(() => page.locator('table.rules tr[data-rule="latency"]').textContent()).toMatch(/breached/)
    await poll(() => page.locator('.charts figure').count()).toBe(4)
    if (SCREENSHOTS) {
      await page.locator('.charts').scrollIntoViewIfNeeded()
      await shot(page, 'charts')
    }
    expect(await notReloaded(page)).toBe(true)
    await op.faults(null)
    await op.settled()
  }, 300_000)

  it('rolls a rollout back from the console with a write token; a read-only token is refused', async () => {
    const rollout = await op.canary(ALL, `${MODEL}@1.1.0`)
    // Half the fleet runs the new version: the fleet page counts both.
    await page.goto(`${sandbox.consoleUrl}#/fleet`)
    await poll(() => page.getByRole('group', { name: 'Active model counts' }).textContent()).toMatch(
      new RegExp(`${MODEL}@1\\.1\\.0\\s*[1-9]`),
    )
    await shot(page, 'fleet')
    const reader = await browser.page()
    await reader.goto(`${sandbox.consoleUrl}#/rollouts/${rollout.id}`)
    await login(reader, await token(['read']))
    expect(await reader.locator('.who').textContent()).toMatch(/read-only/)
    await poll(() => reader.locator('.actions .hint').textContent()).toMatch(/can read only/)
    await reader.getByRole('button', { name: 'Roll back…' }).click()
    await reader.getByRole('dialog').getByRole('button', { name: 'Roll back now' }).click()
    await poll(() => reader.locator('.actions [role="alert"]').textContent()).toMatch(/^Refused: this token lacks the 'operate' scope/)
    expect((await op.rollout(rollout.id)).state).toBe('running')
    await reader.close()

    await page.goto(`${sandbox.consoleUrl}#/rollouts/${rollout.id}`)
    await mark(page)
    await page.getByRole('button', { name: 'Roll back…' }).click()
    const dialog = page.getByRole('dialog')
    expect(await dialog.textContent()).toMatch(/goes back to the model it ran before/)
    await dialog.getByRole('button', { name: 'Roll back now' }).click()
    await poll(() => page.locator('.actions [role="status"]').textContent()).toMatch(
      /^Rollback rb-\S+ issued: \d+ devices get a new desired state/,
    )
    await poll(() => page.locator('section[data-state]').getAttribute('data-state')).toBe('rolled-back')
    // The rollback's own page shows the desired generations it wrote.
    await page.getByRole('link', { name: /^Open rb-/ }).click()
    await poll(() => page.locator('.facts').textContent(), 60_000).toMatch(
      /Desired generations written[1-9]\d* devices, generation \d+( to \d+)?/,
    )
    await poll(() => page.locator('section[data-state]').getAttribute('data-state'), 120_000).toBe('completed')
    expect(await notReloaded(page)).toBe(true)
  }, 240_000)

  it('ends an expired session with a clear message and resumes where the operator was after a new login', async () => {
    const operate = await token(['operate'])
    const p = await browser.page()
    await p.goto(`${sandbox.consoleUrl}#/rollouts`)
    await login(p, operate)
    await mark(p)
    // The token is revoked (its record removed) while the page is open.
    const redis = redisClient()
    await redis.hdel(`${sandbox.prefix}:tokens`, createHash('sha256').update(operate).digest('hex'))
    await redis.quit()
    await poll(() => p.getByRole('alert').textContent()).toMatch(/^Your session ended: The controller no longer accepts your token/)
    await login(p, sandbox.token)
    expect(p.url()).toMatch(/#\/rollouts$/)
    await poll(() => p.getByRole('heading', { name: 'Rollouts' }).count()).toBe(1)
    expect(await notReloaded(p)).toBe(true)
    await p.close()
  }, 120_000)

  it('survives a controller restart: says the connection is lost, then replays what happened meanwhile', async () => {
    await op.settled()
    await page.goto(`${sandbox.consoleUrl}#/events?filter=all`)
    await mark(page)
    // The console cannot reconnect until the test lets it.
    await page.route('**/v1/stream**', (route) => route.abort('connectionrefused'))
    await sandbox.restartController()
    await poll(() => page.locator('[data-connection="down"]').count(), 60_000).toBe(1)
    expect(await page.locator('[data-connection="down"]').textContent()).toMatch(/Lost the connection to the controller/)
    const missed = await op.deploy(['--target', 'env=staging', '--model', `${MODEL}@1.1.0`, '--strategy', 'all', '--trial', '2s'])
    await op.settled()
    expect(await page.locator(`li[data-event="rollout-completed"]`).filter({ hasText: missed.id }).count()).toBe(0)
    await page.unroute('**/v1/stream**')
    await poll(() => page.locator('[data-connection="back"]').textContent(), 60_000).toMatch(
      /^Reconnected: [1-9]\d* missed records replayed/,
    )
    await poll(() => page.locator(`li[data-event="rollout-completed"]`).filter({ hasText: missed.id }).count()).toBe(1)
    expect(await notReloaded(page)).toBe(true)
  }, 180_000)

  it('works with the keyboard alone: log in, move between pages, open and dismiss a confirmation', async () => {
    const p = await browser.page()
    await p.goto(sandbox.consoleUrl)
    // The token field has the focus; Enter submits.
    await p.keyboard.type(sandbox.token)
    await p.keyboard.press('Enter')
    await p.getByRole('navigation', { name: 'Pages' }).waitFor()
    const tabTo = async (text: string): Promise<void> => {
      for (let i = 0; i < 60; i++) {
        await p.keyboard.press('Tab')
        if ((await p.locator(':focus').textContent())?.trim() === text) return
      }
      throw new Error(`Tab never reached '${text}'`)
    }
    await tabTo('Rollouts')
    await p.keyboard.press('Enter')
    await poll(() => p.getByRole('heading', { name: 'Rollouts' }).count()).toBe(1)
    const newest = await p.locator('tbody tr').first().getAttribute('data-rollout')
    await tabTo(newest ?? 'no rollout')
    await p.keyboard.press('Enter')
    await poll(() => p.locator('section[data-state]').count()).toBe(1)
    await tabTo('Roll back…')
    await p.keyboard.press('Enter')
    // The confirmation opens on Cancel; Escape closes it and nothing is done.
    await poll(() => p.locator('dialog[open]').count()).toBe(1)
    expect((await p.locator(':focus').textContent())?.trim()).toBe('Cancel')
    await p.keyboard.press('Escape')
    await poll(() => p.locator('dialog[open]').count()).toBe(0)
    expect(await p.locator('.actions [role="status"], .actions [role="alert"]').count()).toBe(0)
    await p.close()
  }, 120_000)

  it('keeps a 10,000-device registry responsive: the table scrolls and filters on the server', async () => {
    const devices = Array.from({ length: 10_000 }, (_, i) => ({
      id: `bulk-${String(i).padStart(5, '0')}`,
      labels: { env: 'bulk', zone: `z${i % 10}` },
    }))
    const res = await fetch(`${sandbox.apiUrl}/v1/devices/bulk`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sandbox.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ devices }),
    })
    expect(res.status).toBe(200)
    await page.goto(`${sandbox.consoleUrl}#/fleet?target=${encodeURIComponent('env=bulk')}`)
    await mark(page)
    await poll(() => page.locator('.facets .total').textContent()).toMatch(/^10000 devices match/)
    await poll(() => page.locator('.vt-row .col-id').first().textContent()).toBe('bulk-00000')
    // Only the rows in view exist in the page.
    expect(await page.locator('.vt-row').count()).toBeLessThan(100)
    // Keyboard: the table body scrolls to the end; the last page is fetched from the server.
    await page.locator('.vt-body').focus()
    await page.keyboard.press('End')
    await poll(() => page.locator('.vt-row .col-id').last().textContent()).toBe('bulk-09999')
    await page.keyboard.press('PageUp')
    await poll(async () => (await page.locator('.vt-row .col-id').allTextContents()).includes('bulk-09960')).toBe(true)
    // Filters narrow it on the server.
    await page.getByLabel(/^Target/).fill('env=bulk,zone=z7')
    await page.getByLabel('Device id contains').fill('0997')
    await page.getByRole('button', { name: 'Filter' }).click()
    await poll(() => page.locator('.facets .total').textContent()).toMatch(/^2 devices match/)
    await poll(async () => (await page.locator('.vt-row .col-id').allTextContents()).sort()).toEqual(['bulk-00997', 'bulk-09977'])
    expect(await notReloaded(page)).toBe(true)
  }, 180_000)
})
