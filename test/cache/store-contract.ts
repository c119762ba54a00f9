import type { Test } from 'tap'
import type { SetOptions, Store } from '../../src/cache/store.ts'

export interface StoreHarness {
  store: Store
  /** Moves time on by `ms`: a manual clock, a real sleep (Redis expires keys itself), or both. */
  advance (ms: number): Promise<void>
  /** A TTL short enough to wait out in this harness. */
  shortTtlMs: number
  /** Removes a tag's token behind the store's back, as eviction or expiry would. */
  dropTag (tag: string): Promise<void>
  /** Every Redis key this harness's store wrote, with its PTTL (Redis-backed stores only). */
  redisKeys?: () => Promise<Array<{ key: string, pttl: number }>>
  close (): Promise<void>
}

export type MakeStore = () => Promise<StoreHarness>

function opts (tags: string[], tokens: string[], more: Partial<SetOptions> = {}): SetOptions {
  return { ttlMs: 60_000, tags, tokens, ...more }
}

/**
 * The behaviour every Store must show: memory, Redis and tiered run the same cases. Each case
 * gets a fresh harness (a fresh key prefix for Redis) so cases cannot see each other.
 */
export async function runStoreContract (t: Test, name: string, makeStore: MakeStore): Promise<void> {
  async function withStore (title: string, fn: (h: StoreHarness, s: Store, tt: Test) => Promise<void>): Promise<void> {
    await t.test(`${name}: ${title}`, async (tt) => {
      const h = await makeStore()
      tt.teardown(() => h.close())
      await fn(h, h.store, tt)
    })
  }

  await withStore('get after set returns value, meta, times and tags', async (_h, s, tt) => {
    tt.equal(await s.get('gig:1'), undefined, 'cold key is a miss')
    const tokens = await s.tagTokens(['gig:1', 'user_gigs:7'])
    tt.equal(tokens.length, 2)
    tt.ok(await s.set('gig:1', '{"id":1}', 'etag-1', opts(['gig:1', 'user_gigs:7'], tokens)))
    const e = await s.get('gig:1')
    tt.ok(e)
    tt.equal(e?.value, '{"id":1}')
    tt.equal(e?.meta, 'etag-1')
    tt.same(e?.tags, ['gig:1', 'user_gigs:7'])
    tt.equal((e?.freshUntil ?? 0) - (e?.storedAt ?? 0), 60_000, 'fresh for ttlMs')
    tt.equal(e?.staleUntil, e?.freshUntil, 'no stale window unless asked')
    tt.equal(e?.version, undefined)
  })

  await withStore('an entry without tags works, and empty values round-trip', async (_h, s, tt) => {
    tt.ok(await s.set('categories', '', '', opts([], [])))
    const e = await s.get('categories')
    tt.equal(e?.value, '')
    tt.same(e?.tags, [])
  })

  await withStore('meta and value round-trip exactly, whatever characters they hold', async (_h, s, tt) => {
    const meta = 'W/"1 2"\n\nü✓ 100% \u{1F600}'
    const value = '\n{"a": "b c"}\n \u{1F600} ü 0 1 2 3\n'
    tt.ok(await s.set('k', value, meta, opts([], [])))
    const e = await s.get('k')
    tt.equal(e?.meta, meta)
    tt.equal(e?.value, value)
  })

  await withStore('versions round-trip as numbers, large or fractional', async (_h, s, tt) => {
    tt.ok(await s.set('a', 'v', '', opts([], [], { version: 1_764_148_673_123 })))
    tt.ok(await s.set('b', 'v', '', opts([], [], { version: 2.5 })))
    tt.equal((await s.get('a'))?.version, 1_764_148_673_123)
    tt.equal((await s.get('b'))?.version, 2.5)
  })

  await withStore('tag tokens are stable until invalidated, then new', async (_h, s, tt) => {
    const [a1] = await s.tagTokens(['gig:1'])
    const [a2] = await s.tagTokens(['gig:1'])
    tt.equal(a1, a2, 'reading a tag does not move it')
    await s.invalidateTags(['gig:1'])
    const [a3] = await s.tagTokens(['gig:1'])
    tt.not(a3, a1, 'invalidation gives a new token')
  })

  await withStore('an entry expires after its ttl', async (h, s, tt) => {
    const tokens = await s.tagTokens(['gig:1'])
    tt.ok(await s.set('gig:1', 'v', '', opts(['gig:1'], tokens, { ttlMs: h.shortTtlMs })))
    tt.ok(await s.get('gig:1'), 'there before the ttl')
    await h.advance(h.shortTtlMs + Math.ceil(h.shortTtlMs / 2))
    tt.equal(await s.get('gig:1'), undefined, 'gone after the ttl')
  })

  await withStore('staleMs keeps an entry readable past freshUntil, then it goes', async (h, s, tt) => {
    const ttl = h.shortTtlMs
    const tokens = await s.tagTokens(['gig:1'])
    tt.ok(await s.set('gig:1', 'v', '', opts(['gig:1'], tokens, { ttlMs: ttl, staleMs: ttl * 2 })))
    await h.advance(ttl + Math.ceil(ttl / 2))
    const e = await s.get('gig:1')
    tt.ok(e, 'still readable while stale')
    tt.equal(e?.staleUntil, (e?.freshUntil ?? 0) + ttl * 2)
    await h.advance(ttl * 2)
    tt.equal(await s.get('gig:1'), undefined, 'gone after the stale window')
  })

  await withStore('invalidateTags hides entries with that tag and not others', async (_h, s, tt) => {
    const tags = ['gig:1', 'gig:2', 'user_gigs:7', 'search']
    const [g1, g2, u7, search] = await s.tagTokens(tags) as [string, string, string, string]
    tt.ok(await s.set('gig:1', 'a', '', opts(['gig:1'], [g1])))
    tt.ok(await s.set('gig:2', 'b', '', opts(['gig:2'], [g2])))
    tt.ok(await s.set('user_gigs:7', 'c', '', opts(['user_gigs:7', 'gig:1'], [u7, g1])))
    tt.ok(await s.set('search:abc', 'd', '', opts(['search'], [search])))
    await s.invalidateTags(['gig:1'])
    tt.equal(await s.get('gig:1'), undefined, 'tagged entry gone')
    tt.equal(await s.get('user_gigs:7'), undefined, 'entry carrying the tag among others gone')
    tt.equal((await s.get('gig:2'))?.value, 'b', 'other entity kept')
    tt.equal((await s.get('search:abc'))?.value, 'd', 'other family kept')
    await s.invalidateTags(['search'])
    tt.equal(await s.get('search:abc'), undefined, 'a family tag drops all its entries at once')
  })

  await withStore('a fill whose tokens were read before an invalidation is not stored', async (_h, s, tt) => {
    const tokens = await s.tagTokens(['gig:1'])
    // ... the fill reads the database here, meanwhile a writer commits and invalidates ...
    await s.invalidateTags(['gig:1'])
    tt.equal(await s.set('gig:1', 'old', '', opts(['gig:1'], tokens)), false, 'set refused')
    tt.equal(await s.get('gig:1'), undefined, 'nothing stale is visible')
    const fresh = await s.tagTokens(['gig:1'])
    tt.ok(await s.set('gig:1', 'new', '', opts(['gig:1'], fresh)), 'a fill started after it is stored')
    tt.equal((await s.get('gig:1'))?.value, 'new')
  })

  await withStore('a set with tokens the store never issued is refused', async (_h, s, tt) => {
    await s.tagTokens(['gig:1'])
    tt.equal(await s.set('gig:1', 'v', '', opts(['gig:1'], ['bogus'])), false)
    tt.equal(await s.get('gig:1'), undefined)
  })

  await withStore('a missing tag key makes its entries misses, and they never come back', async (h, s, tt) => {
    const tokens = await s.tagTokens(['gig:1', 'gig:2'])
    tt.ok(await s.set('gig:1', 'v', '', opts(['gig:1', 'gig:2'], tokens)))
    await h.dropTag('gig:2')
    tt.equal(await s.get('gig:1'), undefined, 'miss while the tag is missing')
    const again = await s.tagTokens(['gig:1', 'gig:2'])
    tt.equal(again[0], tokens[0], 'untouched tag keeps its token')
    tt.not(again[1], tokens[1], 'a re-created tag gets a fresh token')
    tt.equal(await s.get('gig:1'), undefined, 'the old entry does not resurrect')
  })

  await withStore('write-through: an older version does not overwrite a newer one', async (_h, s, tt) => {
    let tokens = await s.tagTokens(['gig:1'])
    tt.ok(await s.set('gig:1', 'v2', '', opts(['gig:1'], tokens, { version: 2 })))
    tt.equal(await s.set('gig:1', 'v1', '', opts(['gig:1'], tokens, { version: 1 })), false, 'older refused')
    tt.equal(await s.set('gig:1', 'v2b', '', opts(['gig:1'], tokens, { version: 2 })), false, 'same version refused')
    const e = await s.get('gig:1')
    tt.equal(e?.value, 'v2')
    tt.equal(e?.version, 2)
    tt.ok(await s.set('gig:1', 'v3', '', opts(['gig:1'], tokens, { version: 3 })), 'newer stored')
    tt.equal((await s.get('gig:1'))?.value, 'v3')
    tt.equal(await s.set('gig:1', 'fill', '', opts(['gig:1'], tokens)), false,
      'an unversioned fill does not replace a fresh, valid write-through entry')
    await s.invalidateTags(['gig:1'])
    tokens = await s.tagTokens(['gig:1'])
    tt.ok(await s.set('gig:1', 'fill', '', opts(['gig:1'], tokens)), 'after an invalidation a fill may store')
    tt.equal((await s.get('gig:1'))?.value, 'fill')
  })

  await withStore('delete removes the keys and counts them', async (_h, s, tt) => {
    const tokens = await s.tagTokens(['t'])
    await s.set('a', '1', '', opts(['t'], tokens))
    await s.set('b', '2', '', opts(['t'], tokens))
    tt.equal(await s.delete(['a', 'b', 'nope']), 2)
    tt.equal(await s.get('a'), undefined)
    tt.equal(await s.delete([]), 0)
  })

  await withStore('deletePattern removes only matching keys', async (_h, s, tt) => {
    const tokens = await s.tagTokens(['t'])
    for (const key of ['gig:1', 'gig:2', 'gig:30', 'gig_list:page=1', 'user:1', 'user_gigs:1']) {
      tt.ok(await s.set(key, key, '', opts(['t'], tokens)))
    }
    tt.equal(await s.deletePattern('gig:*'), 3)
    for (const key of ['gig:1', 'gig:2', 'gig:30']) tt.equal(await s.get(key), undefined, `${key} deleted`)
    for (const key of ['gig_list:page=1', 'user:1', 'user_gigs:1']) tt.equal((await s.get(key))?.value, key, `${key} kept`)
    tt.equal(await s.deletePattern('user?gigs:[0-9]'), 1, '? and [] globs')
    tt.equal(await s.deletePattern('nothing:*'), 0)
    tt.equal((await s.get('user:1'))?.value, 'user:1', 'tag tokens survive: entries stay valid')
  })

  await withStore('tags holding spaces, newlines and percent signs are handled', async (_h, s, tt) => {
    const tags = ['search:a b', 'x\ny', '100%', '100%25', 'ü:✓']
    const tokens = await s.tagTokens(tags)
    tt.equal(new Set(tokens).size, tags.length)
    tt.ok(await s.set('k', 'v', '', opts(tags, tokens)))
    tt.same((await s.get('k'))?.tags, tags)
    await s.invalidateTags(['100%25'])
    tt.equal(await s.get('k'), undefined, 'the encoded-looking tag is its own tag')
    const t2 = await s.tagTokens(tags)
    tt.equal(t2[2], tokens[2], '"100%" was not touched by invalidating "100%25"')
  })

  await withStore('every Redis key written has a TTL', async (h, s, tt) => {
    if (h.redisKeys === undefined) {
      tt.pass('not a Redis-backed store')
      return
    }
    const tokens = await s.tagTokens(['gig:1', 'search'])
    await s.set('gig:1', 'v', '', opts(['gig:1', 'search'], tokens, { version: 1 }))
    await s.set('search:x', 'v', '', opts(['gig:1', 'search'], tokens, { staleMs: 5000 }))
    await s.invalidateTags(['gig:9', 'user_gigs:1'])
    await s.tagTokens(['categories'])
    const keys = await h.redisKeys()
    tt.ok(keys.length >= 7, `found ${keys.length} keys`)
    for (const { key, pttl } of keys) tt.ok(pttl > 0, `${key} has a TTL (${pttl} ms)`)
  })
}
