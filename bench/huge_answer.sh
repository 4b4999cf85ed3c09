#!/usr/bin/env bash
# Memory while the gateway refuses a 1 GiB upstream answer. A Supabase READ tool is pointed at
# examples/huge_upstream.rs, which streams a gigabyte of JSON (once without a declared length, once with a
# `Content-Length`); the gateway must refuse each at `upstream_max_answer_bytes` (default 16 MiB) with a typed
# `upstream_error`, having read only about the cap. Prints, as a Markdown table: the gateway's resident set before,
# its peak (VmHWM) after each refusal and after 8 concurrent ones, the answer's code, and how many bytes the
# upstream managed to send; writes it to bench/results/huge-answer-latest.md.
#
# Usage: bench/huge_answer.sh         Needs: cargo, curl, python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh

require_commands curl cargo python3
log "cargo build --release (mcp-gateway and examples/huge_upstream.rs)"
cargo build --release --quiet --bin mcp-gateway --example huge_upstream
GATEWAY_BIN="${CARGO_TARGET_DIR:-target}/release/mcp-gateway"
HUGE_BIN="${CARGO_TARGET_DIR:-target}/release/examples/huge_upstream"
bench_init
KEY="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

mkdir -p "$WORK/specs"
for function in huge declared; do
    cat >"$WORK/specs/$function.json" <<JSON
{"name": "rpc_$function", "description": "A READ tool whose upstream answers 1 GiB", "category": "read",
 "inputSchema": {"type": "object", "properties": {}},
 "binding": {"kind": "supabase_rpc", "function": "$function", "args": {}, "idempotent": false, "timeout_secs": 60}}
JSON
done

probe_get() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1$2" || echo 000; }
launch_huge() { "$HUGE_BIN" "127.0.0.1:$1" >"$2" 2>&1 & }
probe_huge() { probe_get "$1" /sent; }
start_server huge_upstream "$WORK/huge.log" launch_huge probe_huge
HUGE_PORT=$SERVER_PORT
launch_gateway() {
    GATEWAY_BIND="127.0.0.1:$1" SUPABASE_URL="http://127.0.0.1:$HUGE_PORT" SUPABASE_API_KEY="$KEY" \
        RATE_LIMIT=off LOG_LEVEL=warn GATEWAY_TOOL_SPECS="$WORK/specs" GATEWAY_DATA_DIR="$WORK/data" \
        "$GATEWAY_BIN" serve >"$2" 2>&1 &
}
probe_gateway() { probe_get "$1" /health; }
start_server gateway "$WORK/gateway.log" launch_gateway probe_gateway
GW_PID=$SERVER_PID GW_PORT=$SERVER_PORT

call() { # call TOOL OUT: one REST call; prints the HTTP status
    curl -sS --max-time 120 -o "$2" -w '%{http_code}' -H 'content-type: application/json' \
        --data-binary "{\"tool_name\":\"$1\",\"params\":{}}" "http://127.0.0.1:$GW_PORT/mcp/tools/call" || echo 000
}
code_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"]["code"])' "$1" 2>/dev/null || echo "-"; }
sent() { curl -s --max-time 2 "http://127.0.0.1:$HUGE_PORT/sent"; }

rows=()
before_kb=$(rss_kb "$GW_PID")
rows+=("| at rest | $(fmt_mib "$before_kb") | $(fmt_mib "$(peak_rss_kb "$GW_PID")") | - | - |")
for tool in rpc_huge rpc_declared; do
    start_sent=$(sent)
    status=$(call "$tool" "$WORK/$tool.json")
    code=$(code_of "$WORK/$tool.json")
    [[ $status == 502 && $code == upstream_error ]] || die "$tool: expected 502 upstream_error, got $status $code"
    mib_sent=$(awk -v a="$(sent)" -v b="$start_sent" 'BEGIN { printf "%.1f MiB", (a - b) / 1048576 }')
    rows+=("| one 1 GiB answer ($tool) | $(fmt_mib "$(rss_kb "$GW_PID")") | $(fmt_mib "$(peak_rss_kb "$GW_PID")") | $status $code | $mib_sent |")
done
start_sent=$(sent)
calls=()
for i in $(seq 8); do call rpc_huge "$WORK/par-$i.json" >"$WORK/par-$i.status" & calls+=("$!"); done
wait "${calls[@]}"   # the servers are this shell's children too: wait for the calls only
for i in $(seq 8); do
    [[ $(cat "$WORK/par-$i.status") == 502 ]] || die "concurrent call $i: expected 502, got $(cat "$WORK/par-$i.status")"
done
mib_sent=$(awk -v a="$(sent)" -v b="$start_sent" 'BEGIN { printf "%.1f MiB", (a - b) / 1048576 }')
rows+=("| 8 concurrent 1 GiB answers | $(fmt_mib "$(rss_kb "$GW_PID")") | $(fmt_mib "$(peak_rss_kb "$GW_PID")") | 8 × 502 upstream_error | $mib_sent |")

report="$WORK/report.md"
{
    echo "| moment | gateway RSS | gateway peak RSS | answer | upstream sent |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "upstream_max_answer_bytes: default (16 MiB); $(date -u +%Y-%m-%dT%H:%MZ), $(git_revision), $(nproc) cores"
} >"$report"
cat "$report"
mkdir -p bench/results
cp "$report" bench/results/huge-answer-latest.md
