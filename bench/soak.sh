#!/usr/bin/env bash
# Soak: load the release gateway through a flaky upstream (10% 503, 5% two-second stalls) and report memory over
# time. Reports, never asserts: it prints RSS samples, the gateway's outcome counts, and whether RSS kept growing
# after warm-up. Usage: bench/soak.sh [SECONDS] (default 60). Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-60}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked --bin mcp-gateway --example flaky_upstream >/dev/null

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

up_port=$(free_port); gw_port=$(free_port)
./target/release/examples/flaky_upstream "127.0.0.1:$up_port" 2>/dev/null & pids+=($!)
wait_http "http://127.0.0.1:$up_port/item"

mkdir -p "$work/specs"
cat > "$work/specs/flaky.json" <<JSON
{"name": "flaky_item", "description": "Read through a flaky upstream", "category": "read", "timeout_secs": 1.5,
 "binding": {"kind": "http", "url": "http://127.0.0.1:$up_port/item", "timeout_secs": 1}}
JSON
GATEWAY_BIND="127.0.0.1:$gw_port" GATEWAY_TOOL_SPECS="$work/specs" GATEWAY_DATA_DIR="$work/data" \
  RATE_LIMIT=off LOG_LEVEL=error ./target/release/mcp-gateway serve & pids+=($!)
gw_pid=$!
wait_http "http://127.0.0.1:$gw_port/health"

cat > "$work/call.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"flaky_item","arguments":{}}}'
LUA
rss() { awk '/VmRSS/ {print $2}' "/proc/$gw_pid/status"; }
echo "soak: ${duration}s of tools/call flaky_item at 32 connections; RSS every 5 s (KiB)"
start_rss=$(rss)
wrk -t 2 -c 32 -d "${duration}s" -s "$work/call.lua" "http://127.0.0.1:$gw_port/mcp" > "$work/wrk.txt" &
wrk_pid=$!
samples=()
elapsed=0
while kill -0 "$wrk_pid" 2>/dev/null; do
  sleep 5; elapsed=$((elapsed + 5))
  kill -0 "$wrk_pid" 2>/dev/null || break
  samples+=("$(rss)"); printf '  t=%3ss rss=%s KiB\n' "$elapsed" "${samples[-1]}"
done
wait "$wrk_pid"
end_rss=$(rss)
peak=$(awk '/VmHWM/ {print $2}' "/proc/$gw_pid/status")
grep -E 'Requests/sec|requests in|Non-2xx|Socket errors' "$work/wrk.txt" | sed 's/^/  wrk: /'
echo "  outcomes:"; curl -s "http://127.0.0.1:$gw_port/metrics" | grep -E '^gateway_tool_calls_total|^gateway_upstream_retries_total' | sed 's/^/    /'
half=$(( ${#samples[@]} / 2 ))
mid=${samples[$half]:-$start_rss}
growth=$(( end_rss - mid ))
printf '  rss: start %s KiB, middle %s KiB, end %s KiB, peak %s KiB; growth over the second half: %s KiB\n' \
  "$start_rss" "$mid" "$end_rss" "$peak" "$growth"
if (( growth > 4096 )); then echo "  memory still growing in the second half (> 4 MiB): investigate"; else echo "  memory bounded: yes"; fi
