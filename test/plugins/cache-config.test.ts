import type { FastifyInstance, RouteOptions } from 'fastify'
import { DOMAIN_EVENT_NAMES } from '../../src/domain/events.ts'
import { bareCacheApp, both, testStore, type Tap } from '../helpers/cache-app.ts'

/** A bare app with the cache plugin; `routes` are registered in a plugin, so a bad one fails ready(). */
async function tinyApp (t: Tap, redis: boolean, routes: (app: FastifyInstance) => void): Promise<{ app: FastifyInstance }> {
  const { app } = await bareCacheApp(t, testStore(t, redis, 'config'), { knownEvents: DOMAIN_EVENT_NAMES })
  // not awaited: a route that fails to compile must surface from ready(), as it does at boot
  app.register(async (scope) => { routes(scope) })
  return { app }
}

const idParams = { params: { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] } }
const ok = async (): Promise<{ ok: true }> => ({ ok: true })

/** Registers one route and expects boot to fail with a message naming it and the reason. */
async function bootFails (t: Tap, redis: boolean, route: RouteOptions, why: RegExp): Promise<void> {
  const { app } = await tinyApp(t, redis, (scope) => { scope.route(route) })
  const err = await app.ready().then(() => undefined, (e: unknown) => e as Error)
  t.ok(err, 'ready() rejects')
  const name = `${String(route.method)} ${route.url}`
  t.ok(err?.message.includes(name), `the message names the route "${name}": ${err?.message}`)
  t.match(err?.message, why)
}

// Boot-time validation ----------------------------------------------------------------------------

both('an unknown TTL class fails boot naming the route', async (t, redis) => {
  await bootFails(t, redis, {
    method: 'GET',
    url: '/things/:id',
    schema: idParams,
    handler: ok,
    config: { cache: { key: 'thing:{params.id}', ttl: 'forever' } }
  }, /TTL class "forever"/)
})

both('an unknown placeholder namespace fails boot naming the route', async (t, redis) => {
  await bootFails(t, redis, {
    method: 'GET',
    url: '/things/:id',
    schema: idParams,
    handler: ok,
    config: { cache: { key: 'thing:{body.id}', ttl: 'entity' } }
  }, /unknown placeholder \{body\.id\}/)
})

both('a {params.NAME} that is not a parameter of the URL fails boot naming the route', async (t, redis) => {
  await bootFails(t, redis, {
    method: 'GET',
    url: '/things/:id',
    schema: idParams,
    handler: ok,
    config: { cache: { key: 'thing:{params.nope}', ttl: 'entity' } }
  }, /\{params\.nope\} is not a parameter of the URL/)
})

both('{params.*} on a URL without a wildcard fails boot naming the route', async (t, redis) => {
  await bootFails(t, redis, {
    method: 'GET',
    url: '/things/:id',
    schema: idParams,
    handler: ok,
    config: { cache: { key: 'thing:{params.*}', ttl: 'entity' } }
  }, /\{params\.\*\} is not a parameter of the URL/)
})

both('a querystring property that the key leaves out fails boot naming the route', async (t, redis) => {
  await bootFails(t, redis, {
    method: 'GET',
    url: '/things',
    schema: { querystring: { type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' } } } },
    handler: ok,
    config: { cache: { key: 'things:{query.a}', ttl: 'search' } }
  }, /query b can change the response/)
})

both('a querystring property missing from a key without any query placeholder fails boot', async (t, redis) => {
  await bootFails(t, redis, {
    method: 'GET',
    url: '/things',
    schema: { querystring: { type: 'object', properties: { a: { type: 'string' } } } },
    handler: ok,
    config: { cache: { key: 'things', ttl: 'search' } }
  }, /query a can change the response/)
})

both('{user.id} in a public route\'s key fails boot naming the route', async (t, redis) => {
  await bootFails(t, redis, {
    method: 'GET',
    url: '/things/:id',
    schema: idParams,
    handler: ok,
    config: { cache: { key: 'thing:{params.id}:{user.id}', ttl: 'entity' } }
  }, /\{user\.id\} needs scope: 'user'/)
})

both('config.cache on a POST route fails boot naming the route', async (t, redis) => {
  await bootFails(t, redis, {
    method: 'POST',
    url: '/things/:id',
    schema: idParams,
    handler: ok,
    config: { cache: { key: 'thing:{params.id}', ttl: 'entity' } }
  }, /only GET routes are cached/)
})

both('an unknown event in config.invalidate.events fails boot naming the route', async (t, redis) => {
  await bootFails(t, redis, {
    method: 'POST',
    url: '/things/:id',
    schema: idParams,
    handler: ok,
    config: { invalidate: { events: ['gig.exploded'] } }
  }, /unknown event "gig\.exploded"/)
})

both('a key over a parameter followed by "-" (/range/:from-:to) boots', async (t, redis) => {
  const { app } = await tinyApp(t, redis, (scope) => {
    scope.get('/range/:from-:to', { config: { cache: { key: 'range:{params.from}:{params.to}', ttl: 'search' } } },
      async (request) => request.params)
  })
  await t.resolves(async () => { await app.ready() })
})

both('a valid configuration boots and caches', async (t, redis) => {
  const { app } = await tinyApp(t, redis, (scope) => {
    scope.get('/things/:id', { schema: idParams, config: { cache: { key: 'thing:{params.id}', ttl: 'entity' } } }, ok)
  })
  await app.ready()
  t.equal((await app.inject('/things/1')).headers['x-cache'], 'MISS')
  t.equal((await app.inject('/things/1')).headers['x-cache'], 'HIT')
})

// config.invalidate.tags ----------------------------------------------------------------------------

async function invalidatingApp (t: Tap, redis: boolean): Promise<FastifyInstance> {
  let version = 0
  const { app } = await tinyApp(t, redis, (scope) => {
    scope.get('/things/:id', { schema: idParams, config: { cache: { key: 'thing:{params.id}', ttl: 'entity' } } },
      async (request) => ({ id: (request.params as { id: number }).id, version }))
    scope.post('/things/:id', { schema: idParams, config: { invalidate: { tags: ['thing:{params.id}'] } } },
      async (request, reply) => {
        const { fail } = (request.body ?? {}) as { fail?: number }
        if (fail) return reply.code(fail).send({ statusCode: fail, code: 'NOPE', error: 'nope', message: 'refused' })
        version++
        return { id: (request.params as { id: number }).id, version }
      })
  })
  await app.ready()
  return app
}

both('a 2xx write with config.invalidate.tags makes the next read a MISS with the new body', async (t, redis) => {
  const app = await invalidatingApp(t, redis)
  await app.inject('/things/1')
  t.equal((await app.inject('/things/1')).headers['x-cache'], 'HIT')
  const write = await app.inject({ method: 'POST', url: '/things/1', payload: {} })
  t.equal(write.statusCode, 200)
  const read = await app.inject('/things/1')
  t.equal(read.headers['x-cache'], 'MISS')
  t.same(JSON.parse(read.body), { id: 1, version: 1 })
})

both('a write with config.invalidate.tags leaves other tags cached', async (t, redis) => {
  const app = await invalidatingApp(t, redis)
  await app.inject('/things/2')
  await app.inject({ method: 'POST', url: '/things/1', payload: {} })
  t.equal((await app.inject('/things/2')).headers['x-cache'], 'HIT')
})

both('a 4xx write with config.invalidate.tags invalidates nothing', async (t, redis) => {
  const app = await invalidatingApp(t, redis)
  await app.inject('/things/1')
  for (const fail of [400, 409]) {
    const write = await app.inject({ method: 'POST', url: '/things/1', payload: { fail } })
    t.equal(write.statusCode, fail)
    t.equal((await app.inject('/things/1')).headers['x-cache'], 'HIT', `still cached after a ${fail}`)
  }
})
