import t from 'tap'
import { resolveTtl, validateTtlTable, withJitter } from '../../src/cache/ttl.ts'

t.test('resolveTtl gives milliseconds and names unknown classes', async (t) => {
  const table = { entity: 3600, search: 300 }
  t.equal(resolveTtl(table, 'entity'), 3_600_000)
  t.throws(() => resolveTtl(table, 'entty'), { code: 'CACHE_ERR_UNKNOWN_TTL_CLASS', message: /"entty".*entity, search/ })
  t.throws(() => resolveTtl(table, 'toString'), { code: 'CACHE_ERR_UNKNOWN_TTL_CLASS' }, 'no prototype lookups')
  t.throws(() => resolveTtl({ bad: 0 }, 'bad'), { code: 'CACHE_ERR_BAD_TTL' })
  t.throws(() => validateTtlTable({ ok: 1, bad: Number.NaN }), { code: 'CACHE_ERR_BAD_TTL', message: /bad/ })
})

t.test('withJitter adds up to 5%, never less than ms, always an integer', async (t) => {
  t.equal(withJitter(1000, () => 0), 1000)
  t.equal(withJitter(1000, () => 0.5), 1025)
  t.equal(withJitter(1000, () => 0.999999), 1049)
  t.equal(withJitter(1000, () => 1), 1050, 'a generator returning 1 still stays within bounds')
  t.equal(withJitter(1000, () => 7), 1050, 'out-of-range randoms are clamped')
  t.equal(withJitter(1000, () => 0.5, 0.1), 1050, 'ratio is configurable')
  for (let i = 0; i < 1000; i++) {
    const ms = 1 + Math.random() * 100_000
    const j = withJitter(ms)
    if (!Number.isInteger(j) || j < ms || j > Math.max(Math.ceil(ms), ms * 1.05)) t.fail(`${ms} → ${j}`)
  }
})
