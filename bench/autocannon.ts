// The load generator when wrk is not installed: replays the same request list as bench/wrk.lua
// and prints the same BENCHJSON line. autocannon tops out near 40k req/s on one core here, so
// the ceilings it reports are its own, not the server's.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    file: { type: 'string' },
    offset: { type: 'string', default: '0' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' }
  }
})

interface Req { method: string, path: string, headers: Record<string, string>, body?: string }
const reqs: Req[] = []
for (const line of readFileSync(values.file!, 'utf8').split('\n')) {
  const [method, path, token, body] = line.split('\t')
  if (!method || !path) continue
  const headers: Record<string, string> = {}
  if (token) headers.authorization = `Bearer ${token}`
  if (body) headers['content-type'] = 'application/json'
  reqs.push(body ? { method, path, headers, body } : { method, path, headers })
}
if (reqs.length === 0) throw new Error(`no requests in ${values.file}`)
let i = Number(values.offset) % reqs.length

const result = await autocannon({
  url: values.url!,
  connections: Number(values.connections),
  duration: Number(values.duration),
  timeout: 10,
  requests: [{
    // One shared cursor: every connection takes the next request of the list.
    setupRequest: (req) => {
      const next = reqs[i] as Req
      i = (i + 1) % reqs.length
      return { ...req, method: next.method as 'GET', path: next.path, headers: next.headers, body: next.body ?? '' }
    }
  }]
})
const us = (ms: number) => Math.round(ms * 1000)
const line = {
  requests: result.requests.total,
  durationUs: Math.round(result.duration * 1e6),
  errors: { connect: 0, read: result.errors, write: 0, status: result.non2xx, timeout: result.timeouts },
  p50Us: us(result.latency.p50),
  p99Us: us(result.latency.p99),
  meanUs: us(result.latency.average),
  maxUs: us(result.latency.max)
}
process.stdout.write(`BENCHJSON ${JSON.stringify(line)}\n`)
