import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as z from 'zod'
import { FaultSettingsSchema, type FaultSettings, type FaultSettingsInput } from '../simulated/faults.js'
import type { DeviceSelection } from '../fleet/fleet.js'

/** What the control endpoint drives: a fleet, or the one simulated device of `liquid-agent run`. */
export interface ControlTarget {
  setFaults(selection: DeviceSelection, change: FaultSettingsInput): string[]
  /** Current faults by device id (only devices with a fault when `faultyOnly`). */
  faults(faultyOnly: boolean): Record<string, FaultSettings>
  stats(): unknown
}

const FaultRequestSchema = z.strictObject({
  ids: z.array(z.string().max(64)).max(100_000).optional(),
  count: z.number().int().min(0).optional(),
  percent: z.number().min(0).max(100).optional(),
  /** Faults to set; omitted = clear every fault of the selection. */
  set: FaultSettingsSchema.partial().optional(),
})

const MAX_BODY = 1024 * 1024

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength
    if (size > MAX_BODY) throw new Error('request body too large')
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  return text === '' ? {} : (JSON.parse(text) as unknown)
}

function send(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(value)}\n`)
}

async function handle(target: ControlTarget, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://control')
  if (req.method === 'GET' && url.pathname === '/stats') {
    send(res, 200, target.stats())
    return
  }
  if (req.method === 'GET' && url.pathname === '/faults') {
    send(res, 200, { devices: target.faults(url.searchParams.get('all') !== 'true') })
    return
  }
  if ((req.method === 'POST' || req.method === 'DELETE') && url.pathname === '/faults') {
    let raw: unknown
    try {
      raw = await body(req)
    } catch (err) {
      send(res, 400, { error: 'API_INVALID_REQUEST', message: err instanceof Error ? err.message : 'unreadable body' })
      return
    }
    const parsed = FaultRequestSchema.safeParse(raw)
    if (!parsed.success) {
      send(res, 400, { error: 'API_INVALID_REQUEST', message: z.prettifyError(parsed.error) })
      return
    }
    const { set, ...selection } = parsed.data
    const change = req.method === 'DELETE' || set === undefined ? FaultSettingsSchema.parse({}) : set
    send(res, 200, { changed: target.setFaults(selection as DeviceSelection, change) })
    return
  }
  send(res, 404, {
    error: 'not found',
    routes: ['GET /stats', 'GET /faults[?all=true]', 'POST /faults {ids|count|percent, set}', 'DELETE /faults {ids|count|percent}'],
  })
}

/**
 * The fault control endpoint of simulated devices (loopback only): switch faults at run time.
 *
 *   curl -X POST localhost:PORT/faults -d '{"percent":25,"set":{"latencyFactor":3}}'
 *   curl -X DELETE localhost:PORT/faults -d '{}'
 */
export async function startControlServer(
  target: ControlTarget,
  port: number,
  host = '127.0.0.1',
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    handle(target, req, res).catch((err: unknown) => {
      send(res, 500, { error: 'internal', message: err instanceof Error ? err.message : String(err) })
    })
  })
  server.listen(port, host)
  await once(server, 'listening')
  const address = server.address() as AddressInfo
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => {
          resolve()
        })
      }),
  }
}
