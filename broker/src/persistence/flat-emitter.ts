/** The internals of an mqemitter (aedes' message bus) that {@link flattenDeliveries} replaces. */
interface Emitter {
  _do(message: unknown, callback: unknown): unknown
}

/**
 * mqemitter hands the next queued message on from inside the callback of the one before: when
 * deliveries complete synchronously, every queued message adds stack frames, and a queue of
 * thousands — the Last Wills of a fleet that disconnects at once — overflows the stack (the trace
 * ends in the topic matcher). Here a message handed on while another is being handed out waits
 * in a first-in-first-out line, worked off by the outermost call: the same order, a flat stack.
 */
export function flattenDeliveries<E extends object>(mq: E): E {
  const emitter = mq as E & Emitter
  const handOut = emitter._do.bind(emitter)
  // Message and callback side by side, so that queuing one allocates nothing.
  const line: unknown[] = []
  let next = 0
  let running = false
  emitter._do = function (message: unknown, callback: unknown) {
    line.push(message, callback)
    if (running) return this
    running = true
    try {
      for (; next < line.length; next += 2) handOut(line[next], line[next + 1])
    } finally {
      line.length = 0
      next = 0
      running = false
    }
    return this
  }
  return mq
}
