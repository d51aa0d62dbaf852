import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { createCodec, deviceMessage, type CommandInput, type Decoded, type MessageInputOf } from '@liquid-edge/protocol'
import { CommandFanout, type CommandLink } from '../src/runbook/fanout.js'
import { outliers, quantile } from '../src/runbook/stats.js'

const codec = createCodec({ root: 'lln/v1' })

/** An in-memory link: records published commands; `reply` feeds a decoded reply as the broker would. */
class MemoryLink extends EventEmitter<{ message: [Decoded] }> implements CommandLink {
  readonly sent: { deviceId: string; body: CommandInput; id: string }[] = []
  publishCommand(deviceId: string, body: CommandInput, id = 'x'): Promise<string> {
    this.sent.push({ deviceId, body, id })
    return Promise.resolve(id)
  }
  reply(deviceId: string, body: MessageInputOf<'reply'>['body']): void {
    const r = codec.decode(codec.topics.reply(deviceId), codec.encode(deviceMessage('reply', deviceId, body)))
    if (!r.ok) throw new Error(r.error.message)
    this.emit('message', r)
  }
}

const clock = { now: () => Date.now() }
const ping = { kind: 'ping', expiresAt: 0 } as const
const pong = { kind: 'ping', uptimeMs: 1, agentVersion: 't' } as const

describe('CommandFanout', () => {
  it('gathers each device once by command id; ignores replies from another device or of another kind; times out the silent', async () => {
    const link = new MemoryLink()
    const fanout = new CommandFanout(link, clock)
    const progress: string[] = []
    const running = fanout.run({
      deviceIds: ['a', 'b', 'c', 'd'],
      body: ping,
      timeoutMs: 300,
      offline: new Set(['d']),
      onAnswer: (a, done, total) => progress.push(`${done}/${total} ${a.deviceId} ${a.status}`),
    })
    await Promise.resolve()
    const idOf = (d: string): string => link.sent.find((s) => s.deviceId === d)?.id ?? ''
    expect(link.sent.map((s) => s.id)).toEqual(
      ['a', 'b', 'c', 'd'].map((d) => expect.stringMatching(new RegExp(`^rb-[0-9a-f-]+\\.${d}$`)) as unknown),
    )
    expect(link.sent[0]?.body.expiresAt).toBeGreaterThan(Date.now())
    link.reply('b', { commandId: idOf('a'), ok: true, result: pong }) // wrong device: ignored
    link.reply('a', { commandId: idOf('a'), ok: true, result: { kind: 'logs', lines: [] } }) // wrong kind: dropped
    link.reply('a', { commandId: idOf('a'), ok: true, result: pong })
    link.reply('a', { commandId: idOf('a'), ok: true, result: pong }) // duplicate: counted once
    link.reply('b', { commandId: idOf('b'), ok: false, error: { code: 'AGENT_BUSY', message: 'busy' } })
    const r = await running
    const by = Object.fromEntries(r.answers.map((a) => [a.deviceId, a]))
    expect(by.a).toMatchObject({ status: 'ok', result: pong })
    expect(by.b).toMatchObject({ status: 'error', error: { code: 'AGENT_BUSY' } })
    expect(by.c).toMatchObject({ status: 'unreachable', reason: 'timeout' })
    expect(by.d).toMatchObject({ status: 'unreachable', reason: 'offline' })
    expect(progress).toHaveLength(4)
    expect(progress.at(-1)).toBe('4/4 c unreachable')
    fanout.close()
    expect(link.listenerCount('message')).toBe(0)
  })

  it('passes streamed parts before the final reply', async () => {
    const link = new MemoryLink()
    const fanout = new CommandFanout(link, clock)
    const parts: string[] = []
    const running = fanout.run({
      deviceIds: ['a'],
      body: { kind: 'logs', lines: 5, follow: true, followMs: 1000, expiresAt: 0 },
      timeoutMs: 2000,
      onPart: (_d, result) => parts.push(result.kind === 'logs' ? (result.lines[0]?.msg ?? '') : ''),
    })
    await Promise.resolve()
    const id = link.sent[0]?.id ?? ''
    const line = (msg: string) => ({ kind: 'logs' as const, lines: [{ ts: 1_700_000_000_000, level: 'info' as const, msg }] })
    link.reply('a', { commandId: id, ok: true, part: 0, final: false, result: line('one') })
    link.reply('a', { commandId: id, ok: true, part: 1, final: false, result: line('two') })
    link.reply('a', { commandId: id, ok: true, part: 2, final: true, result: line('three') })
    const r = await running
    expect(parts).toEqual(['one', 'two'])
    expect(r.answers[0]).toMatchObject({ status: 'ok', result: line('three') })
    fanout.close()
  })
})

describe('CommandFanout cancellation', () => {
  it('cancels the command on every device still running it when it stops waiting, but not on devices that answered or are offline', async () => {
    const link = new MemoryLink()
    const fanout = new CommandFanout(link, clock)
    const abort = new AbortController()
    const running = fanout.run({
      deviceIds: ['a', 'b', 'c'],
      body: { kind: 'profile', metric: 'energy', durationMs: 60_000, expiresAt: 0 },
      timeoutMs: 120_000,
      offline: new Set(['c']),
      signal: abort.signal,
    })
    await Promise.resolve()
    const idOf = (d: string): string => link.sent.find((s) => s.deviceId === d)?.id ?? ''
    const result = { kind: 'profile', metric: 'energy', unit: 'mW', modelVersion: '1.0.0', quantiles: null } as const
    link.reply('a', { commandId: idOf('a'), ok: true, result })
    abort.abort() // the client went away (an interrupted CLI)
    const r = await running
    expect(r.answers.map((a) => a.status)).toEqual(['ok', 'unreachable', 'unreachable'])
    const cancels = link.sent.filter((s) => s.body.kind === 'cancel')
    expect(cancels).toEqual([
      { deviceId: 'b', id: `${idOf('b')}.cancel`, body: expect.objectContaining({ commandId: idOf('b') }) as unknown },
    ])
    fanout.close()
  })
})

describe('runbook statistics', () => {
  it('nearest-rank quantiles and robust outliers', () => {
    expect(quantile([5, 1, 3, 2, 4], 0.5)).toBe(3)
    expect(quantile([], 0.5)).toBeNull()
    const items = [1, 1.02, 0.98, 1.01, 0.99, 3].map((v, i) => ({ id: `d${i}`, v }))
    expect(outliers(items, (x) => x.v).map((o) => o.item.id)).toEqual(['d5'])
    expect(outliers(items.slice(0, 5), (x) => x.v)).toEqual([]) // a tight fleet has none
  })
})
