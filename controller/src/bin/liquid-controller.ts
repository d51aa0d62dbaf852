#!/usr/bin/env node
import { Command } from 'commander'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { isFleetError } from '@liquid-edge/protocol'
import { TokenStore, SCOPES, type Scope } from '../api/tokens.js'
import { controllerConfig } from '../config.js'
import { createController } from '../controller.js'
import { createKeys } from '../keys.js'

const program = new Command('liquid-controller').description('The Liquid Edge controller: registry, model store, rollouts, HTTP API')

controllerConfig
  .addOptions(
    program.command('start', { isDefault: true }).description('run the controller (flags, LLN_* environment variables or a JSON file)'),
  )
  .action(async (flags: Record<string, unknown>) => {
    const config = controllerConfig.load({ env: process.env, flags })
    const logger = pino({ level: config.logLevel })
    const controller = await createController({ config, logger })
    logger.info({ url: controller.url, instanceId: controller.instanceId }, 'controller started')
    process.stdout.write(`liquid-controller listening on ${controller.url}\n`)
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        controller.close().then(
          () => process.exit(0),
          () => process.exit(1),
        )
      })
    }
  })

program
  .command('token')
  .description('create an operator API token (printed once)')
  .requiredOption('--name <name>', 'who the token is for')
  .option('--scope <scope>', `one of ${SCOPES.join(', ')}`, 'read')
  .action(async (opts: { name: string; scope: string }) => {
    if (!(SCOPES as readonly string[]).includes(opts.scope)) {
      process.stderr.write(`error: --scope must be one of ${SCOPES.join(', ')}\n`)
      process.exit(2)
    }
    const config = controllerConfig.load({ env: process.env })
    const redis = new Redis(config.redisUrl)
    const token = await new TokenStore(redis, createKeys(config.prefix)).create(opts.name, [opts.scope as Scope])
    await redis.quit()
    process.stdout.write(`${token}\n`)
  })

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`error: ${isFleetError(err) ? `${err.code}: ${err.message}` : String(err)}\n`)
  process.exit(1)
})
