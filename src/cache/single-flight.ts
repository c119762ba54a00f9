interface Flight {
  promise: Promise<unknown>
  tags: readonly string[]
}

/**
 * Coalesces concurrent calls per key into one promise. The key is released when the call
 * settles, success or error, so an error is never cached and the next call starts afresh.
 */
export class SingleFlight {
  readonly #inflight = new Map<string, Flight>()

  get size (): number {
    return this.#inflight.size
  }

  has (key: string): boolean {
    return this.#inflight.has(key)
  }

  /** Runs `fn` unless a call for `key` is already running, and returns that call's promise. */
  do<T> (key: string, fn: () => Promise<T>, tags: readonly string[] = []): Promise<T> {
    const running = this.#inflight.get(key)
    if (running !== undefined) return running.promise as Promise<T>
    let promise: Promise<T>
    try {
      promise = Promise.resolve(fn())
    } catch (err) {
      promise = Promise.reject(err)
    }
    const flight: Flight = { promise, tags }
    const tracked = promise.finally(() => {
      // Release only our own flight: `forget` may already have let a newer one take the key.
      if (this.#inflight.get(key) === flight) this.#inflight.delete(key)
    })
    flight.promise = tracked
    this.#inflight.set(key, flight)
    return tracked
  }

  /**
   * Lets the next caller start a fresh flight while the current one finishes for those already
   * waiting. After an invalidation or a write, a caller who arrives later must not get a value
   * loaded before it (read-your-writes).
   */
  forget (key: string): void {
    this.#inflight.delete(key)
  }

  /** `forget` for every flight carrying any of these tags. */
  forgetTagged (tags: readonly string[]): void {
    if (tags.length === 0 || this.#inflight.size === 0) return
    const doomed = new Set(tags)
    for (const [key, flight] of this.#inflight) {
      if (flight.tags.some((t) => doomed.has(t))) this.#inflight.delete(key)
    }
  }

  /** `forget` for every flight whose key passes the test. */
  forgetWhere (test: (key: string) => boolean): void {
    for (const key of [...this.#inflight.keys()]) if (test(key)) this.#inflight.delete(key)
  }
}
