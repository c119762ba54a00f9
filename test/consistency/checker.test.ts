import t from 'tap'
import { spawn } from 'node:child_process'
import { History } from '../../scripts/check-consistency.ts'

const ctx = { op: 'GET /gigs/1', instance: 1, xCache: 'HIT', atMs: 0 }

t.test('the checker flags a read that began after a write\'s response and saw an older version', async (t) => {
  const h = new History()
  h.acknowledge('gig:1', 2)
  const snapshot = h.beginRead()
  h.observe(snapshot, 'gig:1', 1, ctx)
  t.match(h.violations, [{ key: 'gig:1', seen: 1, expected: 2, op: 'GET /gigs/1' }])
})

t.test('the checker accepts an old version from a read that began before the write was acknowledged', async (t) => {
  const h = new History()
  h.acknowledge('gig:1', 1)
  const snapshot = h.beginRead()
  h.acknowledge('gig:1', 2)
  h.observe(snapshot, 'gig:1', 1, ctx)
  h.observe(h.beginRead(), 'gig:1', 2, ctx)
  h.observe(h.beginRead(), 'gig:1', 3, ctx)
  t.same(h.violations, [])
  t.equal(h.reads, 3)
  t.equal(h.writes, 2)
})

t.test('the checker tracks each key of a list on its own', async (t) => {
  const h = new History()
  h.acknowledge('gig:1', 5)
  h.acknowledge('gig:2', 1)
  const snapshot = h.beginRead()
  h.observe(snapshot, 'gig:2', 1, ctx)
  h.observe(snapshot, 'gig:1', 4, ctx)
  h.observe(snapshot, 'gig:3', 1, ctx)
  t.match(h.violations, [{ key: 'gig:1', seen: 4, expected: 5 }])
  t.equal(h.violations.length, 1)
})

t.test('npm run check:consistency, short: 3 instances, Redis restarted mid-run, zero stale reads', async (t) => {
  const args = ['--import', 'tsx', 'scripts/check-consistency.ts', '--instances', '3', '--clients', '30', '--seconds', '6', '--restart-redis']
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number | null>((resolve) => { child.on('exit', (c) => { resolve(c) }) })
  t.comment(out.trim())
  const last = out.trim().split('\n').at(-1) ?? ''
  const m = /^reads=(\d+) writes=(\d+) stale=(\d+)$/.exec(last)
  t.ok(m, 'ends with the summary line')
  t.ok(Number(m?.[1]) > 0, 'reads were made')
  t.ok(Number(m?.[2]) > 0, 'writes were made')
  t.equal(Number(m?.[3]), 0, 'no stale read')
  t.match(out, /Redis restarted at/, 'Redis was restarted')
  t.equal(code, 0, 'exit code 0')
})
