import t from 'tap'
import fc from 'fast-check'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { authAs, build, USERS } from '../helpers/build.ts'
import { fingerprintDb } from '../helpers/fingerprint.ts'

// Every route of /docs/json, fed input its schema forbids (one part wrong at a time, the rest
// plausible, so the bad part is what the server meets): never a 5xx, every error in the common
// shape, and a rejected write leaves every table exactly as it was.

interface Schema {
  type?: string | string[]
  enum?: unknown[]
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  minItems?: number
  maxItems?: number
  pattern?: string
  format?: string
  anyOf?: Schema[]
  additionalProperties?: boolean
}

interface Param { in: 'path' | 'query' | 'header', name: string, required?: boolean, schema: Schema }

interface Operation {
  method: string
  path: string
  params: Param[]
  body: Schema | undefined
}

const RUNS_PER_ROUTE = 25
const WRITE = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

function typeOf (s: Schema): string {
  if (s.enum !== undefined) return 'enum'
  if (s.anyOf !== undefined) return 'anyOf'
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type
  return t ?? 'any'
}

/** Values the schema accepts (small, and ids that exist, so requests reach the domain). */
function valid (s: Schema, name = ''): fc.Arbitrary<unknown> {
  switch (typeOf(s)) {
    case 'enum': return fc.constantFrom(...s.enum!)
    case 'anyOf': return fc.oneof(...s.anyOf!.map((x) => valid(x, name)))
    case 'integer': {
      if (/id$/i.test(name)) return fc.integer({ min: 1, max: 14 })
      const min = s.minimum ?? 0
      return fc.integer({ min, max: Math.min(s.maximum ?? min + 1000, min + 1000) })
    }
    case 'number': return fc.double({ min: s.minimum ?? 0, max: Math.min(s.maximum ?? 1000, 1000), noNaN: true })
    case 'boolean': return fc.boolean()
    case 'string': {
      const minLength = s.minLength ?? 0
      const maxLength = Math.min(s.maxLength ?? 40, 40)
      if (s.format === 'date-time') return fc.date({ min: new Date('2020-01-01'), max: new Date('2030-01-01') }).map((d) => d.toISOString())
      if (s.pattern !== undefined) return fc.stringMatching(new RegExp(s.pattern)).filter((v) => v.length >= minLength && v.length <= (s.maxLength ?? 1e9))
      return fc.string({ minLength, maxLength: Math.max(minLength, maxLength) })
    }
    case 'array': {
      const items = s.items ? valid(s.items) : fc.string()
      return fc.array(items, { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 3, 3) }).map((a) => [...new Set(a)])
    }
    case 'object': {
      const props = s.properties ?? {}
      const record: Record<string, fc.Arbitrary<unknown>> = {}
      for (const [k, v] of Object.entries(props)) record[k] = valid(v, k)
      return fc.record(record, { requiredKeys: (s.required ?? []).filter((k) => k in props) })
    }
    default: return fc.jsonValue()
  }
}

/** Values the schema rejects (or that only loose coercion would accept). */
function invalid (s: Schema): fc.Arbitrary<unknown> {
  const always = [fc.constant(null), fc.constant({ $gt: '' }), fc.constant(['a', 'b']), fc.constant('\u0000'), fc.constant('x'.repeat(5000))]
  switch (typeOf(s)) {
    case 'enum': return fc.oneof(fc.constant('not-a-member'), fc.constant(''), fc.constant(String(s.enum![0]).toUpperCase() + '!'), ...always)
    case 'integer':
    case 'number': return fc.oneof(
      fc.constantFrom('abc', '1.5x', '', '1e400', '-0x1', '9'.repeat(40), 1.5, true),
      fc.constant((s.minimum ?? 0) - 1), fc.constant((s.maximum ?? 2147483647) + 1), fc.constant(Number.MAX_SAFE_INTEGER * 4), ...always)
    case 'boolean': return fc.oneof(fc.constantFrom('maybe', 2, 'yes please'), ...always)
    case 'string': return fc.oneof(
      fc.constant('x'.repeat((s.maxLength ?? 10_000) + 1)),
      fc.constant('x'.repeat(Math.max(0, (s.minLength ?? 1) - 1))),
      fc.constantFrom('!!!', ' leading', 'UPPER', '../../etc', '*', '%00', '{"a":1}', "'; drop table gigs; --"),
      fc.constant({ a: 1 }), fc.constant(12345), ...always)
    case 'array': return fc.oneof(fc.constant('not-an-array'), fc.constant(Array(Math.max(1, (s.maxItems ?? 50) + 1)).fill('dup')), fc.constant([{ deep: [[[1]]] }]), ...always)
    case 'object': return fc.oneof(fc.constant('string'), fc.constant([]), fc.constant(42), ...always)
    default: return fc.oneof(...always)
  }
}

type Mutation =
  | { where: 'param', index: number, value: unknown }
  | { where: 'extra-query' }
  | { where: 'body-prop', prop: string, value: unknown }
  | { where: 'body-extra' }
  | { where: 'body-missing', prop: string }
  | { where: 'body-whole', value: unknown }
  | { where: 'body-raw', raw: string, contentType: string }

function mutations (op: Operation): fc.Arbitrary<Mutation> {
  const options: Array<fc.Arbitrary<Mutation>> = [fc.constant({ where: 'extra-query' } as Mutation)]
  op.params.forEach((p, index) => {
    options.push(invalid(p.schema).map((value) => ({ where: 'param', index, value }) as Mutation))
  })
  if (op.body !== undefined) {
    for (const [prop, schema] of Object.entries(op.body.properties ?? {})) {
      options.push(invalid(schema).map((value) => ({ where: 'body-prop', prop, value }) as Mutation))
    }
    for (const prop of op.body.required ?? []) options.push(fc.constant({ where: 'body-missing', prop } as Mutation))
    options.push(fc.constant({ where: 'body-extra' } as Mutation))
    options.push(invalid(op.body).map((value) => ({ where: 'body-whole', value }) as Mutation))
    options.push(fc.constantFrom(
      { where: 'body-raw', raw: '{"title": ', contentType: 'application/json' } as Mutation,
      { where: 'body-raw', raw: 'title=x', contentType: 'application/x-www-form-urlencoded' } as Mutation,
      { where: 'body-raw', raw: '{}', contentType: 'text/plain' } as Mutation,
      { where: 'body-raw', raw: '{"a":'.repeat(2000), contentType: 'application/json' } as Mutation
    ))
  }
  return fc.oneof(...options)
}

function paramValue (v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v) ?? ''
}

interface Case { op: Operation, base: { params: unknown[], body: unknown }, mutation: Mutation, who: 'anonymous' | 'alice' | 'admin' }

function requestFor (c: Case, headersFor: (who: Case['who']) => Record<string, string>): InjectOptions {
  const { op, mutation } = c
  const values = [...c.base.params]
  if (mutation.where === 'param') values[mutation.index] = mutation.value
  let path = op.path
  const query: string[] = []
  const headers: Record<string, string> = { ...headersFor(c.who) }
  op.params.forEach((p, i) => {
    const v = values[i]
    if (v === undefined) return
    if (p.in === 'path') path = path.replace(`{${p.name}}`, encodeURIComponent(paramValue(v)))
    else if (p.in === 'query') query.push(`${encodeURIComponent(p.name)}=${encodeURIComponent(paramValue(v))}`)
    else headers[p.name] = paramValue(v).replace(/[\r\n]/g, '')
  })
  if (mutation.where === 'extra-query') query.push('unexpected=1', 'page=-1&page=2')
  const url = path + (query.length > 0 ? `?${query.join('&')}` : '')
  const req: InjectOptions = { method: op.method as InjectOptions['method'], url, headers }
  if (op.body === undefined) return req
  let body = c.base.body as Record<string, unknown>
  switch (mutation.where) {
    case 'body-prop': body = { ...body, [mutation.prop]: mutation.value }; break
    case 'body-extra': body = { ...body, isAdmin: true }; break
    case 'body-missing': { const { [mutation.prop]: _gone, ...rest } = body; body = rest; break }
    case 'body-whole': req.payload = JSON.stringify(mutation.value); headers['content-type'] = 'application/json'; return req
    case 'body-raw': req.payload = mutation.raw; headers['content-type'] = mutation.contentType; return req
  }
  req.payload = JSON.stringify(body)
  headers['content-type'] = 'application/json'
  return req
}

function errorShapeProblem (res: LightMyRequestResponse): string | undefined {
  let body: unknown
  try {
    body = JSON.parse(res.body)
  } catch {
    return `not JSON: ${res.body.slice(0, 80)}`
  }
  const b = body as Record<string, unknown>
  if (b === null || typeof b !== 'object') return 'not an object'
  if (b.statusCode !== res.statusCode) return `statusCode ${String(b.statusCode)} in a ${res.statusCode}`
  for (const k of ['code', 'error', 'message']) if (typeof b[k] !== 'string' || b[k] === '') return `no ${k}`
  const extra = Object.keys(b).filter((k) => !['statusCode', 'code', 'error', 'message'].includes(k))
  if (extra.length > 0) return `extra fields ${extra.join(', ')}`
  return undefined
}

t.test('every route, fed input its schema forbids: never a 5xx, always the error shape, rejected writes change nothing', async (t) => {
  const app = await build(t)
  const spec = JSON.parse((await app.inject('/docs/json')).body) as { paths: Record<string, Record<string, { parameters?: Param[], requestBody?: { content: Record<string, { schema: Schema }> } }>> }
  const ops: Operation[] = []
  for (const [path, methods] of Object.entries(spec.paths)) {
    if (path.startsWith('/docs')) continue
    for (const [method, op] of Object.entries(methods)) {
      ops.push({ method: method.toUpperCase(), path, params: op.parameters ?? [], body: op.requestBody?.content['application/json']?.schema })
    }
  }
  t.ok(ops.length >= 30, `${ops.length} operations in /docs/json`)

  const tokens = { anonymous: {}, alice: authAs(app, USERS.alice), admin: authAs(app, USERS.admin, 'admin') }
  const headersFor = (who: Case['who']): Record<string, string> => tokens[who]
  let baseline = await fingerprintDb(app.testDatabase.db)
  const stats = { requests: 0, rejected: 0, accepted: 0, byStatus: new Map<number, number>() }

  for (const op of ops) {
    const arb = fc.record({
      base: fc.record({ params: fc.tuple(...op.params.map((p) => p.required === true || p.in === 'path' ? valid(p.schema, p.name) : fc.option(valid(p.schema, p.name), { nil: undefined }))), body: op.body ? valid(op.body) : fc.constant(undefined) }),
      mutation: mutations(op),
      who: fc.constantFrom('anonymous' as const, 'alice' as const, 'admin' as const)
    })
    await fc.assert(fc.asyncProperty(arb, async (c) => {
      const req = requestFor({ op, ...c }, headersFor)
      const res = await app.inject(req)
      stats.requests++
      stats.byStatus.set(res.statusCode, (stats.byStatus.get(res.statusCode) ?? 0) + 1)
      const what = `${req.method} ${req.url} (${c.who}, ${c.mutation.where}) → ${res.statusCode} ${res.body.slice(0, 160)}`
      if (res.statusCode >= 500) throw new Error(`5xx: ${what}`)
      if (res.statusCode >= 400) {
        const problem = errorShapeProblem(res)
        if (problem !== undefined) throw new Error(`error shape (${problem}): ${what}`)
      }
      if (!WRITE.has(op.method)) return
      const now = await fingerprintDb(app.testDatabase.db)
      if (res.statusCode >= 400) {
        stats.rejected++
        const changed = Object.keys(now).filter((k) => now[k] !== baseline[k])
        if (changed.length > 0) throw new Error(`a rejected write changed ${changed.join(', ')}: ${what}`)
      } else {
        // Plausible input may be accepted (loose coercion, or the mutation hit an optional part).
        stats.accepted++
        baseline = now
      }
    }), { numRuns: RUNS_PER_ROUTE, endOnFailure: true })
  }
  t.pass(`${stats.requests} requests; writes rejected ${stats.rejected}, accepted ${stats.accepted}`)
  t.comment(`statuses: ${[...stats.byStatus].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ')}`)
})

// Found by the fuzz above: Postgres refuses NUL in text (SQLSTATE 22021), which was a 500.
t.test('a NUL byte in a query value or a body string is a 400 in the error shape, not a 500', async (t) => {
  const app = await build(t)
  const alice = authAs(app, USERS.alice)
  const before = await fingerprintDb(app.testDatabase.db)
  for (const req of [
    { url: '/gigs?skill=%00' },
    { url: '/search?q=a%00b' },
    { method: 'POST' as const, url: '/gigs', headers: alice, payload: { title: 'Nul\u0000title', category: 'design', budgetMin: 1, budgetMax: 2 } },
    { method: 'PATCH' as const, url: '/gigs/1', headers: alice, payload: { description: 'a\u0000b' } }
  ]) {
    const res = await app.inject(req)
    t.equal(res.statusCode, 400, `${req.method ?? 'GET'} ${req.url}`)
    t.equal(errorShapeProblem(res), undefined, 'the error shape')
  }
  t.same(await fingerprintDb(app.testDatabase.db), before, 'nothing written')
})
