/** Milliseconds since the epoch. Injected everywhere so tests can drive time by hand. */
export interface Clock {
  now(): number
}

export const systemClock: Clock = {
  now: () => Date.now()
}

/** A clock that only moves when told to: for tests of expiry and TTL logic. */
export class ManualClock implements Clock {
  #now: number

  constructor (start = 1_700_000_000_000) {
    this.#now = start
  }

  now (): number {
    return this.#now
  }

  advance (ms: number): number {
    this.#now += ms
    return this.#now
  }

  set (ms: number): void {
    this.#now = ms
  }
}
