import type { AgentState } from '../state/agent-state.js'
import { step, type LifecycleEffect, type LifecycleEvent } from './lifecycle.js'

/** The long steps of an update: their result comes back as an event. */
export type TaskEffect = Extract<LifecycleEffect, { type: 'download' | 'verify' | 'stage' | 'self-test' }>
export type ImmediateEffect = Exclude<LifecycleEffect, TaskEffect | { type: 'abort-task' }>

/** What carries the effects out: the agent (driver, files, network) or a model of it in tests. */
export interface EffectRunner {
  /** Persist the state (and report it). Resolves when it is durable. */
  persist(state: AgentState): Promise<void>
  /** Run an immediate effect; it may answer with a follow-up event, handled in the same dispatch. */
  run(effect: ImmediateEffect, state: AgentState): Promise<LifecycleEvent | null>
  /** Run a task; resolves with its result event (`step-failed` on failure). Not called under the lock. */
  task(effect: TaskEffect, signal: AbortSignal): Promise<LifecycleEvent>
  /** A task or its result failed outside any caller. */
  error(err: unknown): void
}

const TASKS: ReadonlySet<LifecycleEffect['type']> = new Set(['download', 'verify', 'stage', 'self-test'])

function isTask(effect: LifecycleEffect): effect is TaskEffect {
  return TASKS.has(effect.type)
}

interface Task {
  ctl: AbortController
  done: Promise<void>
}

/**
 * The one writer of the agent's lifecycle state. Events are applied one at a time; each new state
 * is persisted before any of its effects runs, so a crash between two effects restarts from a
 * state that already records what was being done. Tasks (download … self-test) run outside the
 * lock, one at a time: a newer one waits for the one it supersedes to stop.
 */
export class LifecycleExecutor {
  private current: AgentState
  private queue: Promise<void> = Promise.resolve()
  private task: Task | null = null

  constructor(
    state: AgentState,
    private readonly runner: EffectRunner,
  ) {
    this.current = state
  }

  get state(): Readonly<AgentState> {
    return this.current
  }

  /**
   * Apply `event` (after those before it), persist, run its effects and their follow-ups. Resolves
   * with false when the event did not apply in the state it met (it changed nothing).
   */
  dispatch(event: LifecycleEvent): Promise<boolean> {
    const run = this.queue.then(() => this.apply(event))
    this.queue = run.then(
      () => undefined,
      () => undefined,
    )
    return run
  }

  /** Resolves when no event is being applied and no task is in flight. */
  async settled(): Promise<void> {
    for (;;) {
      const task = this.task
      await this.queue
      await task?.done
      if (this.task === task) return
    }
  }

  /** Abandon the task in flight (the agent is closing). */
  abort(reason: unknown): void {
    this.task?.ctl.abort(reason)
  }

  private async apply(first: LifecycleEvent): Promise<boolean> {
    const events = [first]
    let applied = false
    for (let event = events.shift(); event !== undefined; event = events.shift()) {
      const { state, effects } = step(this.current, event)
      if (state === this.current) continue // the event did not apply
      if (event === first) applied = true
      await this.runner.persist(state)
      this.current = state
      for (const effect of effects) {
        if (effect.type === 'abort-task') this.task?.ctl.abort(new Error('superseded'))
        else if (isTask(effect)) this.start(effect)
        else {
          const follow = await this.runner.run(effect, state)
          if (follow !== null) events.push(follow)
        }
      }
    }
    return applied
  }

  private start(effect: TaskEffect): void {
    const previous = this.task
    const ctl = new AbortController()
    const aborted = (): boolean => ctl.signal.aborted
    const done = (async () => {
      await previous?.done
      if (aborted()) return
      const result = await this.runner.task(effect, ctl.signal)
      if (aborted()) return // superseded: the newer job reports
      await this.dispatch(result)
    })().catch((err: unknown) => {
      this.runner.error(err)
    })
    this.task = { ctl, done }
  }
}
