import t from 'tap'
import { ManualClock } from '../../src/cache/clock.ts'
import { CacheError } from '../../src/cache/errors.ts'
import { MemoryStore } from '../../src/cache/memory-store.ts'
import { logBreakerChanges, ResilientStore, StoreUnavailableError, withResilience, type ResilienceEvent } from '../../src/cache/resilient-store.ts'
import type { Store } from '../../src/cache/store.ts'

// The breaker's logic, driven by a manual clock over a store whose health the test switches.
// The same store against a real Redis that is killed, paused and blackholed: test/faults/.

type Health = 'up' | 'failing' | 'hanging' | 'readonly'

/** A MemoryStore whose every operation can be made to fail or never answer. */
function switchable (inner: Store): Store & { health: Health, calls: number } {
  const s = {
    kind: inner.kind,
    health: 'up' as Health,
    calls: 0,
    async call<T> (fn: () => Promise<T>, write = true): Promise<T> {
      s.calls++
      if (s.health === 'failing') throw new Error('connection refused')
      if (s.health === 'readonly' && write) throw new Error('READONLY You can\'t write against a read only replica.')
      if (s.health === 'hanging') return await new Promise<T>(() => {})
      return await fn()
    },
    tagTokens: (tags: string[]) => s.call(() => inner.tagTokens(tags)),
    get: (key: string) => s.call(() => inner.get(key), false),
    set: (...a: Parameters<Store['set']>) => s.call(() => inner.set(...a)),
    delete: (keys: string[]) => s.call(() => inner.delete(keys)),
    invalidateTags: (tags: string[]) => s.call(() => inner.invalidateTags(tags)),
    deletePattern: (glob: string) => s.call(() => inner.deletePattern(glob))
  }
  return s
}

function setup (opts: { timeoutMs?: number, random?: () => number, local?: MemoryStore } = {}) {
  const clock = new ManualClock()
  const inner = switchable(new MemoryStore({ maxBytes: 1 << 20, clock }))
  const events: ResilienceEvent[] = []
  const store = new ResilientStore({
    store: inner,
    clock,
    timeoutMs: opts.timeoutMs ?? 1000,
    failureThreshold: 3,
    backoffBaseMs: 1000,
    backoffMaxMs: 8000,
    random: opts.random ?? (() => 1),
    ...(opts.local ? { localTier: opts.local } : {}),
    onEvent: (e) => { events.push(e) }
  })
  const breaker = () => events.filter((e) => e.type === 'breaker').map((e) => e.state)
  return { clock, inner, store, events, breaker }
}

async function failTimes (store: Store, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await store.get('k').catch(() => {})
}

t.test('a store that answers is used as it is', async (t) => {
  const { store, breaker } = setup()
  const tokens = await store.tagTokens(['gig:1'])
  t.equal(await store.set('gig:1', 'v', '', { ttlMs: 1000, tags: ['gig:1'], tokens }), true)
  t.equal((await store.get('gig:1'))?.value, 'v')
  t.equal(store.breakerState(), 'closed')
  t.same(breaker(), [], 'no state change')
})

t.test('an operation that never answers fails after timeoutMs and counts as a failure', async (t) => {
  const { store, inner, events } = setup({ timeoutMs: 20 })
  inner.health = 'hanging'
  const err = await store.get('k').catch((e: unknown) => e)
  t.ok(err instanceof StoreUnavailableError)
  t.equal((err as StoreUnavailableError).code, 'CACHE_ERR_TIMEOUT')
  t.equal(store.stats().failures, 1)
  t.equal(store.stats().pending, 1, 'the abandoned call is still pending in the inner store')
  t.same(events.map((e) => e.type), ['timeout'])
})

t.test('each operation gets its own verdict: an answer between two that never come is not lost', async (t) => {
  const clock = new ManualClock()
  const answers: Array<(v: string[]) => void> = []
  const inner = switchable(new MemoryStore({ maxBytes: 1 << 20, clock }))
  // tagTokens answers only when the test says so.
  inner.tagTokens = async () => await new Promise<string[]>((resolve) => { answers.push(resolve) })
  const store = new ResilientStore({ store: inner, clock, timeoutMs: 20, failureThreshold: 100 })
  const first = store.tagTokens(['a']).catch((e: unknown) => e)
  const middle = store.tagTokens(['b'])
  const last = store.tagTokens(['c']).catch((e: unknown) => e)
  answers[1]!(['tb'])
  t.same(await middle, ['tb'], 'answered while older and newer ones wait')
  t.equal(((await first) as StoreUnavailableError).code, 'CACHE_ERR_TIMEOUT')
  t.equal(((await last) as StoreUnavailableError).code, 'CACHE_ERR_TIMEOUT')
  t.same([store.stats().timeouts, store.stats().pending], [2, 2], 'two timed out, still pending inside')
})

t.test('timeouts still fire after a quiet spell with nothing waiting', async (t) => {
  const { store, inner } = setup({ timeoutMs: 10 })
  inner.health = 'hanging'
  await t.rejects(store.get('a'), { code: 'CACHE_ERR_TIMEOUT' })
  inner.health = 'up'
  await store.get('b')
  await new Promise((resolve) => setTimeout(resolve, 50))
  inner.health = 'hanging'
  await t.rejects(store.get('c'), { code: 'CACHE_ERR_TIMEOUT' })
  t.equal(store.stats().timeouts, 2)
})

t.test('consecutive failures open the circuit, and then the store is not called at all', async (t) => {
  const { store, inner, breaker } = setup()
  inner.health = 'failing'
  await failTimes(store, 3)
  t.equal(store.breakerState(), 'open')
  t.same(breaker(), ['open'])
  const calls = inner.calls
  const err = await store.get('k').catch((e: unknown) => e)
  t.equal((err as StoreUnavailableError).code, 'CACHE_ERR_CIRCUIT_OPEN')
  await store.tagTokens(['x']).catch(() => {})
  t.equal(inner.calls, calls, 'no call reached the store while open')
  t.equal(store.stats().rejected, 2)
})

t.test('a success between failures resets the count', async (t) => {
  const { store, inner } = setup()
  inner.health = 'failing'
  await failTimes(store, 2)
  inner.health = 'up'
  await store.get('k')
  inner.health = 'failing'
  await failTimes(store, 2)
  t.equal(store.breakerState(), 'closed')
})

t.test('after the backoff one probe goes through; its success closes the circuit', async (t) => {
  const { store, inner, clock, breaker } = setup()
  inner.health = 'failing'
  await failTimes(store, 3)
  inner.health = 'up'
  clock.advance(999)
  await t.rejects(store.get('k'), { code: 'CACHE_ERR_CIRCUIT_OPEN' }, 'still open before the wait is over')
  clock.advance(1)
  t.equal(await store.get('k'), undefined, 'the probe is answered')
  t.equal(store.breakerState(), 'closed')
  t.same(breaker(), ['open', 'half-open', 'closed'])
})

t.test('while the probe is out, every other operation is refused at once', async (t) => {
  const { store, inner, clock } = setup({ timeoutMs: 50 })
  inner.health = 'failing'
  await failTimes(store, 3)
  inner.health = 'hanging'
  clock.advance(1000)
  const probe = store.get('k').catch((e: unknown) => e)
  t.equal(store.breakerState(), 'half-open')
  const calls = inner.calls
  await t.rejects(store.get('other'), { code: 'CACHE_ERR_CIRCUIT_OPEN' })
  t.equal(inner.calls, calls, 'only the probe reached the store')
  t.equal(((await probe) as StoreUnavailableError).code, 'CACHE_ERR_TIMEOUT')
  t.equal(store.breakerState(), 'open', 'a probe that times out opens the circuit again')
})

t.test('each failed probe doubles the wait up to the cap, with at least half of it kept by the jitter', async (t) => {
  let r = 1
  const { store, clock, inner, events } = setup({ random: () => r })
  inner.health = 'failing'
  await failTimes(store, 3)
  const waits: number[] = []
  for (let i = 0; i < 6; i++) {
    const last = events.filter((e) => e.type === 'breaker' && e.state === 'open').at(-1) as { retryInMs: number }
    waits.push(last.retryInMs)
    clock.advance(last.retryInMs)
    await store.get('k').catch(() => {})
  }
  t.same(waits, [1000, 2000, 4000, 8000, 8000, 8000])
  r = 0
  clock.advance(8000)
  await store.get('k').catch(() => {})
  const jittered = events.filter((e) => e.type === 'breaker' && e.state === 'open').at(-1) as { retryInMs: number }
  t.equal(jittered.retryInMs, 4000, 'the lowest jitter keeps half the capped wait')
})

t.test('a circuit that reopens soon after closing keeps backing off; one that stayed closed starts over', async (t) => {
  const { store, inner, clock, events } = setup()
  const lastWait = () => (events.filter((e) => e.type === 'breaker' && e.state === 'open').at(-1) as { retryInMs: number }).retryInMs
  inner.health = 'failing'
  await failTimes(store, 3)
  t.equal(lastWait(), 1000)
  inner.health = 'up'
  clock.advance(1000)
  await store.get('k')
  t.equal(store.breakerState(), 'closed')
  inner.health = 'failing'
  await failTimes(store, 3)
  t.equal(lastWait(), 2000, 'flapping: the wait doubles')
  inner.health = 'up'
  clock.advance(2000)
  await store.get('k')
  clock.advance(8001)
  inner.health = 'failing'
  await failTimes(store, 3)
  t.equal(lastWait(), 1000, 'closed for longer than the cap: back to the first wait')
})

t.test('a caller\'s mistake passes through and says nothing about the store\'s health', async (t) => {
  const { store } = setup()
  for (let i = 0; i < 5; i++) {
    await t.rejects(store.set('k', 'v', '', { ttlMs: -1, tags: [], tokens: [] }), CacheError)
  }
  t.equal(store.breakerState(), 'closed')
  t.equal(store.stats().failures, 0)
})

t.test('one log line per state change, however many requests fail', async (t) => {
  const { store, inner, clock } = setup()
  const lines: string[] = []
  const log = { warn: (_o: object, m: string) => { lines.push(m) }, info: (_o: object, m: string) => { lines.push(m) } }
  store.subscribe(logBreakerChanges(log))
  inner.health = 'failing'
  await failTimes(store, 200)
  inner.health = 'up'
  clock.advance(1000)
  await failTimes(store, 200)
  t.same(lines, [
    'cache circuit open: serving from the database',
    'cache circuit half-open: probing the store',
    'cache circuit closed: cache back in use'
  ])
})

t.test('an invalidation the store could not take is applied to the local tier, and the error still reaches the caller', async (t) => {
  const clock = new ManualClock()
  const local = new MemoryStore({ maxBytes: 1 << 20, clock })
  const { store, inner } = setup({ local })
  local.setSync('gig:1', 'old', '', { ttlMs: 60_000, tags: ['gig:1'], tokens: local.tagTokensSync(['gig:1']) })
  inner.health = 'failing'
  await t.rejects(store.invalidateTags(['gig:1']))
  t.equal(local.getSync('gig:1'), undefined, 'the local copy is gone')
  local.setSync('gig:2', 'v', '', { ttlMs: 60_000, tags: ['gig:2'], tokens: local.tagTokensSync(['gig:2']) })
  await t.rejects(store.delete(['gig:2']))
  t.equal(local.getSync('gig:2'), undefined, 'a failed delete deletes locally')
})

t.test('opening the circuit clears the local tier', async (t) => {
  const clock = new ManualClock()
  const local = new MemoryStore({ maxBytes: 1 << 20, clock })
  const { store, inner } = setup({ local })
  local.setSync('gig:1', 'v', '', { ttlMs: 60_000, tags: ['gig:1'], tokens: local.tagTokensSync(['gig:1']) })
  inner.health = 'failing'
  await failTimes(store, 3)
  t.equal(local.size().entries, 0)
})

t.test('withResilience keeps the store\'s own members and guards only its operations', async (t) => {
  const clock = new ManualClock()
  const memory = new MemoryStore({ maxBytes: 1 << 20, clock })
  const guarded = withResilience(memory, { clock, failureThreshold: 1 })
  t.equal(guarded.maxBytes, 1 << 20, 'a plain property')
  t.same(guarded.tagTokensSync(['a']), memory.tagTokensSync(['a']), 'a method using private fields')
  t.equal(guarded.resilience.breakerState(), 'closed')
  await t.rejects(guarded.set('k', 'v', '', { ttlMs: 1, tags: ['a'], tokens: [] }), CacheError)
  t.equal(guarded.resilience.breakerState(), 'closed')
})

t.test('a guarded store never answers synchronously: every read goes through the guard', async (t) => {
  const memory = new MemoryStore({ maxBytes: 1 << 20 })
  await memory.set('k', 'v', '', { ttlMs: 60_000, tags: ['a'], tokens: await memory.tagTokens(['a']) })
  t.ok(memory.peek('k'), 'the store itself can')
  t.equal(withResilience(memory, {}).peek, undefined, 'peek would skip the filter of invalidations the guard could not deliver')
})

async function stored (store: Store, key: string, tags: string[]): Promise<void> {
  await store.set(key, 'v', '', { ttlMs: 60_000, tags, tokens: await store.tagTokens(tags) })
}

t.test('an entry whose invalidation the store missed is never returned, until the invalidation is replayed', async (t) => {
  const { store, inner, events } = setup()
  await stored(store, 'gig:1', ['gig:1'])
  await stored(store, 'gig:2', ['gig:2'])
  inner.health = 'failing'
  await t.rejects(store.invalidateTags(['gig:1']))
  inner.health = 'up'
  // A store that came back (or was read-only) still holds the entry the write invalidated.
  t.equal((await inner.get('gig:1'))?.value, 'v')
  t.equal(store.stats().lost, 1)
  const first = await store.get('gig:1')
  t.equal(first, undefined, 'a miss, not the stale entry')
  t.equal((await store.get('gig:2'))?.value, 'v', 'other entries are served')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(store.stats().lost, 0, 'the next operations replayed it')
  t.equal(await inner.get('gig:1'), undefined, 'and the store has it now')
  t.ok(events.some((e) => e.type === 'replayed' && e.tags === 1))
})

t.test('a replay that fails is retried with backoff, and the entry stays hidden meanwhile', async (t) => {
  const { store, inner, clock } = setup()
  await stored(store, 'gig:1', ['gig:1'])
  inner.health = 'failing'
  await t.rejects(store.invalidateTags(['gig:1']))
  // Reads work but writes do not (READONLY, OOM): the replay fails.
  inner.health = 'readonly'
  t.equal(await store.get('gig:1'), undefined)
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(store.stats().lost, 1)
  t.equal(await store.get('gig:1'), undefined, 'still hidden')
  inner.health = 'up'
  await store.get('gig:2')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(store.stats().lost, 1, 'not retried before its backoff')
  clock.advance(1000)
  await store.get('gig:2')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(store.stats().lost, 0, 'replayed once the backoff passed')
})

t.test('a newer value replaces what a missed delete left behind, and the replay does not erase it', async (t) => {
  const { store, inner } = setup()
  await store.set('session:1', 'draft', '', { ttlMs: 60_000, tags: [], tokens: [] })
  inner.health = 'failing'
  await t.rejects(store.delete(['session:1']))
  inner.health = 'up'
  t.equal(await store.get('session:1'), undefined, 'the deleted value is not served')
  await store.set('session:1', 'newer', '', { ttlMs: 60_000, tags: [], tokens: [] })
  await new Promise((resolve) => setImmediate(resolve))
  t.equal((await store.get('session:1'))?.value, 'newer')
})

t.test('a store\'s own variants of invalidate (the bus\'s announced one) are guarded like invalidateTags', async (t) => {
  const clock = new ManualClock()
  const memory = new MemoryStore({ maxBytes: 1 << 20, clock })
  let up = false
  const store = Object.assign(memory, {
    async invalidateTagsAnnounced (tags: string[]): Promise<string[]> {
      if (!up) throw new Error('connection refused')
      await memory.invalidateTags(tags)
      return []
    }
  })
  const guarded = withResilience(store, { clock })
  await t.rejects(guarded.invalidateTagsAnnounced(['gig:1']))
  t.equal(guarded.resilience.stats().lost, 1, 'remembered for replay')
  t.equal(guarded.resilience.stats().failures, 1, 'counted by the breaker')
  up = true
  t.same(await guarded.invalidateTagsAnnounced(['gig:1']), [])
  t.equal(guarded.resilience.stats().lost, 0, 'a later invalidation of the tag covers it')
})

t.test('what is remembered is bounded: past maxLost a loss is reported as dropped', async (t) => {
  const { inner, events } = setup()
  const store = new ResilientStore({ store: inner, maxLost: 3, failureThreshold: 100, onEvent: (e) => { events.push(e) } })
  inner.health = 'failing'
  await t.rejects(store.invalidateTags(['a', 'b']))
  await t.rejects(store.invalidateTags(['c', 'd']))
  t.equal(store.stats().lost, 3)
  t.same(events.filter((e) => e.type === 'lost').map((e) => (e as { dropped: boolean }).dropped), [false, true])
})
