import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  ignores: ['node_modules/**', '.data/**', '.tap/**', 'coverage/**', 'drizzle/migrations/**', 'bench/results/**', '.exp/**']
})
