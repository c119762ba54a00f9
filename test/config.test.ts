import t from 'tap'
import { loadConfig, resolveCacheStore } from '../src/config.ts'

t.test('CACHE_STORE unset: tiered with a Redis URL, memory without', async (t) => {
  t.equal(loadConfig({}).cacheStore, undefined, 'left to resolve, so overriding redisUrl alone keeps it right')
  t.equal(resolveCacheStore(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' })), 'tiered')
  t.equal(resolveCacheStore(loadConfig({})), 'memory')
})

t.test('CACHE_STORE takes off, memory, redis or tiered, in any case', async (t) => {
  const redis = { REDIS_URL: 'redis://127.0.0.1:6379' }
  t.equal(resolveCacheStore(loadConfig({ ...redis, CACHE_STORE: 'off' })), 'off')
  t.equal(resolveCacheStore(loadConfig({ ...redis, CACHE_STORE: 'memory' })), 'memory')
  t.equal(resolveCacheStore(loadConfig({ ...redis, CACHE_STORE: 'redis' })), 'redis')
  t.equal(resolveCacheStore(loadConfig({ ...redis, CACHE_STORE: 'Tiered' })), 'tiered')
})

t.test('an unknown CACHE_STORE fails at boot, naming the choices', async (t) => {
  t.throws(() => loadConfig({ CACHE_STORE: 'memcached' }), /CACHE_STORE must be one of off, memory, redis, tiered, got "memcached"/)
})

t.test('CACHE_STORE=redis or tiered without REDIS_URL fails at boot, naming REDIS_URL', async (t) => {
  t.throws(() => resolveCacheStore(loadConfig({ CACHE_STORE: 'redis' })), /CACHE_STORE=redis needs REDIS_URL/)
  t.throws(() => resolveCacheStore(loadConfig({ CACHE_STORE: 'tiered' })), /CACHE_STORE=tiered needs REDIS_URL/)
})

t.test('database bounds: 5 s to connect and 10 s per statement by default, 0 turns them off', async (t) => {
  const defaults = loadConfig({})
  t.equal(defaults.databaseConnectTimeoutMs, 5000)
  t.equal(defaults.databaseStatementTimeoutMs, 10000)
  const off = loadConfig({ DATABASE_CONNECT_TIMEOUT_MS: '0', DATABASE_STATEMENT_TIMEOUT_MS: '0' })
  t.equal(off.databaseConnectTimeoutMs, 0)
  t.equal(off.databaseStatementTimeoutMs, 0)
  t.throws(() => loadConfig({ DATABASE_STATEMENT_TIMEOUT_MS: '2s' }), /DATABASE_STATEMENT_TIMEOUT_MS must be a non-negative integer/)
})
