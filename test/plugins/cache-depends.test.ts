import t from 'tap'
import { MemoryStore } from '../../src/cache/memory-store.ts'
import { bareCacheApp, type Tap } from '../helpers/cache-app.ts'

/** A listing route whose page depends on the items it shows: tags known only inside the handler. */
async function listingApp (t: Tap, opts: { store?: MemoryStore, beforeRead?: () => Promise<void> } = {}) {
  const { app } = await bareCacheApp(t, opts.store ?? new MemoryStore({ maxBytes: 1 << 20 }))
  const titles = new Map([[1, 'one'], [2, 'two']])
  let reads = 0
  app.get('/items', { config: { cache: { key: 'items', ttl: 'search', tags: ['items'] } } }, async (request) => {
    const ids = [...titles.keys()]
    await request.cacheDependsOn(ids.map((id) => `item:${id}`))
    await opts.beforeRead?.()
    reads++
    return ids.map((id) => ({ id, title: titles.get(id) }))
  })
  return { app, titles, reads: () => reads }
}

t.test('invalidating a tag added inside the handler expires the cached response', async (t) => {
  const { app, titles } = await listingApp(t)
  t.equal((await app.inject('/items')).headers['x-cache'], 'MISS')
  t.equal((await app.inject('/items')).headers['x-cache'], 'HIT')
  titles.set(2, 'TWO')
  await app.cache.invalidateTags(['item:2'])
  const after = await app.inject('/items')
  t.equal(after.headers['x-cache'], 'MISS')
  t.match(after.json(), [{ title: 'one' }, { title: 'TWO' }])
})

t.test('a tag no response depends on leaves the cached response alone', async (t) => {
  const { app, reads } = await listingApp(t)
  await app.inject('/items')
  await app.cache.invalidateTags(['item:3'])
  t.equal((await app.inject('/items')).headers['x-cache'], 'HIT')
  t.equal(reads(), 1)
})

t.test('a write landing between cacheDependsOn and the read is never served from the cache', async (t) => {
  let racing = true
  // The write commits and invalidates after the handler read the tokens, before it read the data.
  const ctx: { app?: Awaited<ReturnType<typeof listingApp>>['app'], titles?: Map<number, string> } = {}
  const built = await listingApp(t, {
    beforeRead: async () => {
      if (!racing) return
      racing = false
      ctx.titles?.set(1, 'ONE')
      await ctx.app?.cache.invalidateTags(['item:1'])
    }
  })
  ctx.app = built.app
  ctx.titles = built.titles
  const first = await built.app.inject('/items')
  t.match(first.json(), [{ title: 'ONE' }])
  const second = await built.app.inject('/items')
  t.equal(second.headers['x-cache'], 'MISS', 'the entry was born stale and refused')
  t.match(second.json(), [{ title: 'ONE' }])
})

t.test('when the added tags cannot be read the response is sent but not stored', async (t) => {
  class FailingTags extends MemoryStore {
    override async tagTokens (tags: string[]): Promise<string[]> {
      if (tags.some((tag) => tag.startsWith('item:'))) throw new Error('store down')
      return await super.tagTokens(tags)
    }
  }
  const { app, reads } = await listingApp(t, { store: new FailingTags({ maxBytes: 1 << 20 }) })
  t.equal((await app.inject('/items')).statusCode, 200)
  t.equal((await app.inject('/items')).statusCode, 200)
  t.equal(reads(), 2, 'both requests ran the handler')
})

t.test('outside a cached request cacheDependsOn does nothing', async (t) => {
  const { app } = await bareCacheApp(t, new MemoryStore({ maxBytes: 1 << 20 }))
  app.get('/plain', async (request) => {
    await request.cacheDependsOn(['item:1'])
    return { ok: true }
  })
  const res = await app.inject('/plain')
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-cache'], undefined)
})
