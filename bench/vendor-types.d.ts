// autocannon ships no types; this covers what bench/autocannon.ts uses.
declare module 'autocannon' {
  interface Request { method?: string, path?: string, headers?: Record<string, string>, body?: string }
  interface Histogram { average: number, p50: number, p99: number, max: number, total: number }
  interface Options {
    url: string
    connections?: number
    duration?: number
    timeout?: number
    requests?: Array<{ setupRequest?: (req: Request) => Request }>
  }
  interface Result {
    requests: Histogram
    latency: Histogram
    duration: number
    errors: number
    timeouts: number
    non2xx: number
  }
  function autocannon (opts: Options): Promise<Result>
  export default autocannon
}
