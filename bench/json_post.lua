-- wrk script for every benchmark run (bench/run.sh, bench/upstream.sh): each request is one POST of the same JSON
-- body with the same headers, both taken from the environment so that the shell script sends the identical
-- request with curl to check it first:
--   BENCH_BODY     the request body
--   BENCH_HEADERS  header lines "Name: value", separated by newlines (wrk adds Host and Content-Length)
-- The `done` hook prints one machine-readable BENCH line that bench/lib.sh parses.

local body = os.getenv("BENCH_BODY")
if body == nil or body == "" then
   error("BENCH_BODY is not set")
end
wrk.method = "POST"
wrk.body = body
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
   local name, value = line:match("^([^:]+):%s*(.-)%s*$")
   if name == nil then
      error("BENCH_HEADERS: not a header line: " .. line)
   end
   wrk.headers[name] = value
end

-- Latencies are in microseconds; duration is in microseconds. errors.status counts HTTP status > 399.
function done(summary, latency, requests)
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "BENCH requests=%d duration_s=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
      "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      summary.errors.connect, summary.errors.read, summary.errors.write,
      summary.errors.status, summary.errors.timeout))
end
