import t from 'tap'
import { SingleFlight } from '../../src/cache/single-flight.ts'

t.test('coalesces concurrent calls and releases the key on success and on error', async (t) => {
  const sf = new SingleFlight()
  let calls = 0
  const work = async (): Promise<number> => { calls++; await new Promise((resolve) => setImmediate(resolve)); return calls }
  const [a, b] = await Promise.all([sf.do('k', work), sf.do('k', work)])
  t.same([a, b, calls], [1, 1, 1])
  t.equal(sf.size, 0)
  const boom = async (): Promise<never> => { throw new Error('boom') }
  await t.rejects(sf.do('k', boom), /boom/)
  t.equal(sf.has('k'), false)
  const syncThrow = (): Promise<never> => { throw new Error('sync') }
  await t.rejects(sf.do('k', syncThrow), /sync/, 'a synchronous throw becomes a rejection')
  t.equal(sf.size, 0)
})

t.test('forget lets a new flight start while the old one finishes for its callers', async (t) => {
  const sf = new SingleFlight()
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const old = sf.do('k', async () => { await gate; return 'old' }, ['gig:1'])
  sf.forgetTagged(['gig:2'])
  t.equal(sf.has('k'), true, 'unrelated tag leaves it')
  sf.forgetTagged(['gig:1'])
  t.equal(sf.has('k'), false)
  const fresh = sf.do('k', async () => 'new')
  release()
  t.same(await Promise.all([old, fresh]), ['old', 'new'])
  t.equal(sf.size, 0, 'the old flight did not remove the new one, and both are gone')
})
