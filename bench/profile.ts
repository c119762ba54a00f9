// Summarises a V8 CPU profile (.cpuprofile JSON, as `--cpu-prof` or the bench's --profile writes):
// self time per function and per area of the code. `node --import tsx bench/profile.ts FILE [N]`.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

export interface ProfileSummary {
  totalMs: number
  /** Share of samples that were not idle. */
  busyShare: number
  functions: Array<{ name: string, where: string, share: number }>
  areas: Array<{ area: string, share: number }>
  /** Our functions (plugins/, src/, routes/) by inclusive time: themselves and all they call. */
  ours: Array<{ name: string, where: string, share: number }>
}

// Order matters: the first matching rule names the area.
const AREAS: Array<[string, RegExp]> = [
  ['our cache plugin (plugins/cache.ts)', /\/plugins\/cache\.ts/],
  ['our cache core (src/cache/*)', /\/src\/cache\//],
  ['our other plugins (plugins/*)', /\/plugins\//],
  ['routes/* and src/domain/*', /\/(routes|src\/domain)\//],
  ['bench harness (bench/*)', /\/bench\/(?!peers)/],
  ['peers (bench/peers)', /\/bench\/peers\//],
  ['lru-cache', /node_modules\/lru-cache\//],
  ['ioredis (+ parser)', /node_modules\/(ioredis|redis-parser|@ioredis|denque|standard-as-callback)\//],
  ['pg / drizzle', /node_modules\/(pg|pg-[a-z-]+|drizzle-orm|postgres-[a-z-]+)\//],
  ['fastify (+ find-my-way, light-my-request…)', /node_modules\/(fastify|@fastify|find-my-way|avvio|fast-json-stringify|light-my-request|fast-querystring|toad-cache|process-warning)\//],
  ['pino / logging', /node_modules\/(pino|pino-std-serializers|sonic-boom|thread-stream)\//],
  ['jwt (fast-jwt)', /node_modules\/(@fastify\/jwt|fast-jwt)\//],
  ['other dependencies', /node_modules\//],
  ['node: http / net / streams', /^node:(_http|http|net|stream|internal\/streams|internal\/http|internal\/stream_base)/],
  ['node: other internals', /^node:/]
]

function areaOf (frame: CallFrame): string {
  if (frame.url === '') {
    if (frame.functionName === '(garbage collector)') return 'garbage collector'
    if (frame.functionName === '(idle)') return 'idle'
    if (frame.functionName === '(program)') return 'V8/native (program)'
    return 'native / builtins'
  }
  for (const [area, re] of AREAS) if (re.test(frame.url)) return area
  return 'other'
}

function shortUrl (url: string): string {
  const m = url.match(/(node_modules\/.*|(?:plugins|src|routes|bench)\/.*)$/)
  return m ? m[1] as string : url.replace(/^file:\/\//, '')
}

/** Self time per function and per area, idle excluded from the shares. */
export function summarizeProfile (file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0
    const id = profile.samples[i] as number
    self.set(id, (self.get(id) ?? 0) + dt)
    total += dt
  }
  const fns = new Map<string, { name: string, where: string, us: number }>()
  const areas = new Map<string, number>()
  let idle = 0
  for (const [id, us] of self) {
    const frame = (byId.get(id) as ProfileNode).callFrame
    const area = areaOf(frame)
    if (area === 'idle') { idle += us; continue }
    areas.set(area, (areas.get(area) ?? 0) + us)
    const where = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '(native)'
    const key = `${frame.functionName}@${where}`
    const f = fns.get(key) ?? { name: frame.functionName || '(anonymous)', where, us: 0 }
    f.us += us
    fns.set(key, f)
  }
  const busy = total - idle
  // Inclusive time: every sample counts once for each distinct function on its stack.
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const inclusive = new Map<string, { name: string, where: string, us: number }>()
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0
    const seen = new Set<string>()
    for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parent.get(id)) {
      const frame = (byId.get(id) as ProfileNode).callFrame
      if (!/\/(plugins|src|routes)\/[^/]+/.test(frame.url) || /node_modules/.test(frame.url)) continue
      const where = `${shortUrl(frame.url)}:${frame.lineNumber + 1}`
      const key = `${frame.functionName}@${where}`
      if (seen.has(key)) continue
      seen.add(key)
      const f = inclusive.get(key) ?? { name: frame.functionName || '(anonymous)', where, us: 0 }
      f.us += dt
      inclusive.set(key, f)
    }
  }
  return {
    totalMs: total / 1000,
    busyShare: total > 0 ? busy / total : 0,
    functions: [...fns.values()].sort((a, b) => b.us - a.us).slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, share: f.us / busy })),
    areas: [...areas.entries()].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, share: us / busy })),
    ours: [...inclusive.values()].sort((a, b) => b.us - a.us).slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, share: f.us / busy }))
  }
}

/** The summary as markdown: areas, then the top functions by self time. */
export function formatProfile (title: string, s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`
  const lines = [`### Profile: ${title} (${s.totalMs.toFixed(0)} ms sampled, ${pct(s.busyShare)} busy; shares of busy time)`, '',
    '| area | self |', '|---|---:|']
  for (const a of s.areas) lines.push(`| ${a.area} | ${pct(a.share)} |`)
  lines.push('', '| function | where | self |', '|---|---|---:|')
  for (const f of s.functions) lines.push(`| ${f.name} | ${f.where} | ${pct(f.share)} |`)
  if (s.ours.length > 0) {
    lines.push('', '| our function | where | inclusive |', '|---|---|---:|')
    for (const f of s.ours) lines.push(`| ${f.name} | ${f.where} | ${pct(f.share)} |`)
  }
  return lines.join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, n] = process.argv.slice(2)
  if (!file) throw new Error('usage: node --import tsx bench/profile.ts FILE.cpuprofile [TOP]')
  console.log(formatProfile(file, summarizeProfile(file, Number(n ?? 25))))
}
