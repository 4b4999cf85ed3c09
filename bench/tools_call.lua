-- wrk script: every request is one stateless Streamable HTTP POST of `tools/call ping`.
-- No session id, no initialize; the server must answer with a plain application/json body.
-- Used by bench/run.sh; the `done` hook prints one machine-readable BENCH line for it to parse.

wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping","arguments":{}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
-- A handshake-era version: both servers serve it statelessly (the Python SDK routes an absent header to
-- 2025-03-26 and a 2026+ one to a different envelope, so name the version explicitly).
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"

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
