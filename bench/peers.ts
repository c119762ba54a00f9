import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'

// The peers live in their own tree (bench/peers): bentocache wants ioredis 5, the service uses 6.
// They are imported by resolved path, so type checking never needs that tree installed.
const PEERS_PACKAGE = new URL('./peers/package.json', import.meta.url)
export const PEERS_DIR = fileURLToPath(new URL('./peers/', import.meta.url))
export const peersInstalled = (): boolean => existsSync(fileURLToPath(new URL('./peers/node_modules/bentocache/package.json', import.meta.url)))

async function importPeer<T> (specifier: string): Promise<T> {
  const resolved = createRequire(PEERS_PACKAGE).resolve(specifier)
  return await import(pathToFileURL(resolved).href) as T
}

/** The part of ioredis 5's client the peers' set-ups touch. */
export interface Redis5 {
  quit (): Promise<unknown>
}
interface Redis5Module { Redis: new (url: string, opts?: Record<string, unknown>) => Redis5 }

export interface BentoCacheLike {
  getOrSet<T> (opts: { key: string, factory: () => Promise<T>, ttl?: string | number }): Promise<T>
  disconnectAll (): Promise<void>
}
interface BentoStoreBuilder {
  useL1Layer (driver: unknown): BentoStoreBuilder
  useL2Layer (driver: unknown): BentoStoreBuilder
  useBus (driver: unknown): BentoStoreBuilder
}
interface BentoModule {
  BentoCache: new (opts: { default: string, stores: Record<string, BentoStoreBuilder>, prefix?: string }) => BentoCacheLike
  bentostore: () => BentoStoreBuilder
}
interface BentoMemoryModule { memoryDriver: (opts: { maxItems?: number, maxSize?: string | number, prefix?: string }) => unknown }
interface BentoRedisModule {
  redisDriver: (opts: { connection: Redis5, prefix?: string }) => unknown
  redisBusDriver: (opts: { connection: { host: string, port: number } }) => unknown
}

export interface DedupeCache {
  define (name: string, opts: { ttl: number }, fn: (arg: number) => Promise<unknown>): void
  [name: string]: unknown
}
interface DedupeModule {
  createCache: (opts: { ttl: number, storage: { type: 'memory', options?: { size: number } } | { type: 'redis', options: { client: Redis5 } } }) => DedupeCache
}

export interface PeerHandle {
  /** The gig read, wrapped as the peer's docs show. */
  getGig (id: number): Promise<unknown>
  close (): Promise<void>
}

export type PeerSetup = 'bentocache' | 'bentocache-memory' | 'async-cache-dedupe' | 'async-cache-dedupe-redis'

/**
 * Sets a peer up the way its README shows, sized like our stores (room for every gig), with the
 * entity TTL (1 h). bentocache: memory L1 + Redis L2 + Redis bus (its multi-tier set-up), or memory
 * alone. async-cache-dedupe: `createCache` + `define`, memory storage (its default) or Redis.
 */
export async function createPeer (setup: PeerSetup, load: (id: number) => Promise<unknown>, opts: { redisUrl: string, prefix: string, maxItems: number }): Promise<PeerHandle> {
  const { redisUrl, prefix, maxItems } = opts
  if (setup === 'bentocache' || setup === 'bentocache-memory') {
    const { BentoCache, bentostore } = await importPeer<BentoModule>('bentocache')
    const { memoryDriver } = await importPeer<BentoMemoryModule>('bentocache/drivers/memory')
    let store = bentostore().useL1Layer(memoryDriver({ maxItems, maxSize: '512mb' }))
    let client: Redis5 | undefined
    if (setup === 'bentocache') {
      const { redisDriver, redisBusDriver } = await importPeer<BentoRedisModule>('bentocache/drivers/redis')
      const { Redis } = await importPeer<Redis5Module>('ioredis')
      client = new Redis(redisUrl)
      const url = new URL(redisUrl)
      store = store.useL2Layer(redisDriver({ connection: client, prefix }))
        .useBus(redisBusDriver({ connection: { host: url.hostname, port: Number(url.port || 6379) } }))
    }
    const bento = new BentoCache({ default: 'gigs', stores: { gigs: store } })
    return {
      getGig: (id) => bento.getOrSet({ key: `gig:${id}`, factory: () => load(id), ttl: '1h' }),
      close: async () => {
        await bento.disconnectAll()
        await client?.quit().catch(() => {})
      }
    }
  }
  const { createCache } = await importPeer<DedupeModule>('async-cache-dedupe')
  let client: Redis5 | undefined
  if (setup === 'async-cache-dedupe-redis') {
    const { Redis } = await importPeer<Redis5Module>('ioredis')
    client = new Redis(redisUrl, { keyPrefix: `${prefix}:` })
  }
  const cache = createCache({
    ttl: 3600,
    storage: client ? { type: 'redis', options: { client } } : { type: 'memory', options: { size: maxItems } }
  })
  cache.define('gig', { ttl: 3600 }, load)
  const fetchGig = cache.gig as (id: number) => Promise<unknown>
  return {
    getGig: (id) => fetchGig(id),
    close: async () => { await client?.quit().catch(() => {}) }
  }
}
