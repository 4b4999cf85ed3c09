#!/usr/bin/env bash
# Federation: what a gateway in front of an upstream MCP server adds. Two release gateways (audit log on as
# shipped): A serves the shipped tools; B serves them too and federates A as an `upstream` spec (prefix `a_`,
# Streamable HTTP, the 2026-07-28 era between them). The same stateless 2026-07-28 `tools/call` of A's `ping`
# (JSON POSTs on /mcp, with wrk, as B itself sends them), sent straight to A and through B as `a_ping`, at BENCH_CONNECTIONS connections (req/s, p50,
# p99) and at concurrency 1 (p50). Target (issue 13): the federated call adds at most 150 µs at p50 at
# concurrency 1 over the direct call to the same upstream. The per-caller rate limit is set too high to refuse
# anything (1,000,000,000/minute), as in bench/redis.sh.
#
# Prints a Markdown table and writes it with the date, the machine, the git revision and the exact command to
# bench/results/federation-latest.md.
#
# Usage: bench/federation.sh
# Environment (all optional): BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_THREADS, BENCH_QUIET_WAIT,
# BENCH_ATTEMPTS as in bench/lib.sh.
#
# Needs: cargo, curl, python3 and wrk (installed with apt-get when missing and root/sudo). Exit status: 0 when
# every measured request got a 2xx without socket errors, 1 otherwise.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh

bench_settings
COMMAND="$SETTINGS bench/federation.sh"
require_commands curl cargo python3
ensure_wrk
log "cargo build --release (mcp-gateway)"
cargo build --release --quiet --bin mcp-gateway
GATEWAY_BIN="${CARGO_TARGET_DIR:-target}/release/mcp-gateway"
[[ -x "$GATEWAY_BIN" ]] || die "$GATEWAY_BIN was not built"
bench_init

# Both calls as a 2026-07-28 client sends them (the era B speaks to A): `_meta` and the mirrored headers.
META='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}'
DIRECT='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping","arguments":{},'"$META"'}}'
FEDERATED='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a_ping","arguments":{},'"$META"'}}'
modern_headers() { printf 'Content-Type: application/json\nAccept: application/json, text/event-stream\nMCP-Protocol-Version: 2026-07-28\nMcp-Method: tools/call\nMcp-Name: %s' "$1"; }
DIRECT_HEADERS="$(modern_headers ping)"
FEDERATED_HEADERS="$(modern_headers a_ping)"
post_once() { curl_post "http://127.0.0.1:$1/mcp" "$DIRECT" "$DIRECT_HEADERS" "$WORK/answer.$1"; }
# B is ready when the federated tool answers a pong from A.
post_federated() {
    local status
    status="$(curl_post "http://127.0.0.1:$1/mcp" "$FEDERATED" "$FEDERATED_HEADERS" "$WORK/answer.$1")"
    if [[ "$status" == 200* ]] && grep -q '"pong":true' "$WORK/answer.$1"; then echo "$status"; else echo "000 -"; fi
}
launch_gateway() { # PORT LOG SPECS
    env GATEWAY_BIND="127.0.0.1:$1" LOG_LEVEL=warn RATE_LIMIT=1000000000/minute GATEWAY_TOOL_SPECS="$3" GATEWAY_DATA_DIR="$WORK/data-$1" \
        "$GATEWAY_BIN" serve >"$2" 2>&1 &
}
launch_a() { launch_gateway "$1" "$2" ./tool_specs; }
launch_b() { launch_gateway "$1" "$2" "$WORK/specs-b"; }

# measure TAG PORT PID BODY HEADERS: sets ${TAG}_RPS ${TAG}_P50 ${TAG}_P99 ${TAG}_P50_C1.
measure() {
    local tag="$1" name="$1"
    wrk_env "$4" "$5"
    WRK_ARGS=(-t "$THREADS" -c "$CONNECTIONS" --latency)
    run_wrk "$name" "http://127.0.0.1:$2/mcp" "$3" "$tag"
    note_run_problems "$name"
    printf -v "${tag}_RPS" '%s' "$R_RPS"; printf -v "${tag}_P50" '%s' "$R_P50"; printf -v "${tag}_P99" '%s' "$R_P99"
    WRK_ARGS=(-t 1 -c 1 --latency)
    run_wrk "$name, c=1" "http://127.0.0.1:$2/mcp" "$3" "$tag-c1"
    note_run_problems "$name, c=1"
    printf -v "${tag}_P50_C1" '%s' "$R_P50"
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
start_server "gateway A (the upstream)" "$WORK/a.log" launch_a post_once
A_PID=$SERVER_PID A_PORT=$SERVER_PORT
mkdir -p "$WORK/specs-b"
cp -r tool_specs/. "$WORK/specs-b/"
printf '{"kind":"upstream","name":"a","prefix":"a_","transport":"streamable_http","url":"http://127.0.0.1:%s/mcp","pin":false}\n' \
    "$A_PORT" >"$WORK/specs-b/upstream_a.json"
start_server "gateway B (federating A)" "$WORK/b.log" launch_b post_federated
B_PID=$SERVER_PID B_PORT=$SERVER_PORT

measure direct "$A_PORT" "$A_PID" "$DIRECT" "$DIRECT_HEADERS"
# Through B, both processes do the work: their CPU is counted together.
measure federated "$B_PORT" "$B_PID $A_PID" "$FEDERATED" "$FEDERATED_HEADERS"

ADDED_US=$(( federated_P50_C1 - direct_P50_C1 ))
VERDICT="met"; (( ADDED_US <= 150 )) || VERDICT="missed"
TABLE="$(cat <<TABLE_EOF
| call | req/s (c=$CONNECTIONS) | p50 | p99 | p50 at c=1 |
|---|---|---|---|---|
$(tag_row "\`ping\` straight to gateway A" direct)
$(tag_row "\`a_ping\` through gateway B (federating A)" federated)

The federated call adds $(fmt_added_us "$federated_P50_C1" "$direct_P50_C1") at p50 at concurrency 1 (target ≤ 150 µs: $VERDICT) and keeps $(fmt_ratio "$federated_RPS" "$direct_RPS")× the direct throughput at $CONNECTIONS connections (B and A share the machine's 2 cores).
TABLE_EOF
)"
REPORT=bench/results/federation-latest.md
write_report "Federation: a call straight to an upstream and through a federating gateway" "$REPORT" "$TABLE"
bench_finish "$TABLE" "$REPORT" ""
