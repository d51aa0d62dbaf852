// Container HEALTHCHECK without curl or wget in the image: exit 0 when the URL (argv[2], else
// $HEALTH_URL) answers 2xx within 2.5 s, 1 otherwise.
const url = process.argv[2] ?? process.env.HEALTH_URL
if (!url) {
  process.stderr.write('healthcheck: no URL (argument or HEALTH_URL)\n')
  process.exit(1)
}
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(2500) })
  process.exit(res.ok ? 0 : 1)
} catch (err) {
  process.stderr.write(`healthcheck: ${url}: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}
