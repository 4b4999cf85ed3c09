#!/usr/bin/env bash
# Throughput benchmark: `tools/call ping` as stateless JSON POSTs on /mcp, with wrk, against three servers in the
# same run: mcp-gateway (release build, audit log on as shipped; measured twice, with a handshake-era request and
# with a 2026-07-28 one carrying its `_meta` and mirrored headers), a bare axum server that parses the same JSON-RPC
# body and answers the same result shape (examples/bare_axum.rs, the floor), and the official Python MCP SDK
# server (bench/python_sdk_server.py).
#
# Prints a Markdown table (req/s, p50, p99, peak RSS), the throughput ratios with PASS/MISS against the targets
# (gateway >= 0.70x the bare server, >= 40x the Python SDK server, peak RSS < 30 MB; informational: a MISS does
# not fail the script), and writes them with the date, the machine and the exact command to
# bench/results/latest.md.
#
# Usage: bench/run.sh
# Environment (all optional):
#   BENCH_DURATION     measured run per server, wrk syntax: 10s, 30s, 1m   (default 10s)
#   BENCH_WARMUP       warm-up run per server before the measured one      (default: BENCH_DURATION)
#   BENCH_CONNECTIONS  concurrent connections                              (default 32)
#   BENCH_THREADS      wrk threads                                         (default 2)
#   BENCH_QUIET_WAIT   seconds to wait for a >= 90% idle machine before each measured run  (default 120)
#   BENCH_ATTEMPTS     measured runs per server at most: a run during which other processes took > 10% of the
#                      CPU is repeated; the least disturbed one is reported                (default 3)
#   BENCH_ROUNDS       gateway/bare pairs behind the bare-server ratio: the first pair is the table's runs, each
#                      further pair measures both again back to back (bare first in even rounds); the verdict is
#                      the median of the pairs' ratios, so a slow minute of a shared VM counts once   (default 3)
#
# Needs: cargo, curl, python3 (for the venv), and wrk (installed with apt-get when missing and root/sudo).
# The load generator shares the cores with the servers; nothing is pinned. Servers are benchmarked one after
# the other (the idle ones use no CPU). Exit status: 0 when every server answered every request with a 2xx and
# no socket errors, 1 otherwise (the table is still printed and written).

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh

bench_settings
VENV=.cache/venv
PY="$VENV/bin/python"
COMMAND="$SETTINGS BENCH_ROUNDS=$ROUNDS bench/run.sh"

# The benchmark request (headers: MCP_HEADERS of bench/lib.sh): wrk sends it through bench/json_post.lua,
# verify_server checks it first with curl.
REQUEST='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping","arguments":{}}}'
HANDSHAKE_REQUEST=$REQUEST HANDSHAKE_HEADERS=$MCP_HEADERS
# The same call as a 2026-07-28 client sends it (gateway only: the Python SDK server of the venv is
# handshake-era).
MODERN_REQUEST='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"wrk","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}'
MODERN_HEADERS='Content-Type: application/json
Accept: application/json, text/event-stream
MCP-Protocol-Version: 2026-07-28
Mcp-Method: tools/call
Mcp-Name: ping'
wrk_env "$REQUEST" "$MCP_HEADERS"
WRK_ARGS=(-t "$THREADS" -c "$CONNECTIONS" --latency)

# ---------------------------------------------------------------------------------------------------------
# Tools (idempotent)
# ---------------------------------------------------------------------------------------------------------
require_commands curl cargo
ensure_wrk

if ! { [[ -x "$PY" ]] && "$PY" -c 'import mcp, uvicorn' 2>/dev/null; }; then
    log "creating the Python venv at $VENV (tests/interop/requirements.txt)"
    require_commands python3
    [[ -x "$PY" ]] || python3 -m venv "$VENV"
    "$PY" -m pip install -q -r tests/interop/requirements.txt
    "$PY" -c 'import mcp, uvicorn' || die "the venv at $VENV cannot import mcp and uvicorn"
fi
[[ -f bench/python_sdk_server.py ]] || die "bench/python_sdk_server.py is missing"

log "cargo build --release (mcp-gateway and examples/bare_axum.rs)"
cargo build --release --quiet --bin mcp-gateway --example bare_axum
GATEWAY_BIN="${CARGO_TARGET_DIR:-target}/release/mcp-gateway"
BARE_BIN="${CARGO_TARGET_DIR:-target}/release/examples/bare_axum"
[[ -x "$GATEWAY_BIN" && -x "$BARE_BIN" ]] || die "$GATEWAY_BIN or $BARE_BIN was not built"

# ---------------------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------------------
bench_init

# POST the benchmark request once to PORT; writes the body to $WORK/answer.PORT, prints "<code> <content type>".
post_once() { curl_post "http://127.0.0.1:$1/mcp" "$REQUEST" "$MCP_HEADERS" "$WORK/answer.$1"; }

# The exact benchmark request must get a 200, a JSON (not SSE) body, and a successful tools/call result.
verify_server() {
    local name="$1" port="$2" status code ctype
    local body="$WORK/answer.$port"
    status="$(post_once "$port")"
    code="${status%% *}"
    ctype="${status#* }"
    if [[ "$code" != 200 || "$ctype" != application/json* ]]; then
        printf '%s answered HTTP %s, Content-Type %s:\n' "$name" "$code" "$ctype" >&2
        cat "$body" >&2 2>/dev/null || true
        echo >&2
        die "$name does not answer the benchmark request with 200 application/json"
    fi
    "$PY" - "$body" "$name" <<'EOF' || die "$name: the tools/call answer is not a successful result"
import json, sys
path, name = sys.argv[1], sys.argv[2]
raw = open(path, encoding="utf-8").read()
try:
    msg = json.loads(raw)
except ValueError as e:
    sys.exit(f"{name}: body is not JSON ({e}): {raw[:300]}")
problems = []
if msg.get("jsonrpc") != "2.0" or msg.get("id") != 1:
    problems.append("not a JSON-RPC 2.0 response to id 1")
if "error" in msg:
    problems.append(f"JSON-RPC error {msg['error']}")
result = msg.get("result")
if not isinstance(result, dict) or not isinstance(result.get("content"), list):
    problems.append("no result.content list")
elif result.get("isError") is True:
    problems.append("result.isError is true")
elif (result.get("structuredContent") or {}).get("pong") is not True:
    problems.append("structuredContent.pong is not true")
if problems:
    sys.exit(f"{name}: {'; '.join(problems)}\n  body: {raw[:500]}")
EOF
}

# One wrk client from one address would hit the default per-IP rate limit (200/minute) at once: the limiter is
# turned off for the measurement. Everything else (audit log included) is as shipped.
launch_gateway() {
    GATEWAY_BIND="127.0.0.1:$1" LOG_LEVEL=warn RATE_LIMIT=off GATEWAY_TOOL_SPECS=./tool_specs \
        GATEWAY_DATA_DIR="$WORK/data" "$GATEWAY_BIN" serve >"$2" 2>&1 &
}
launch_bare() { "$BARE_BIN" "127.0.0.1:$1" >"$2" 2>&1 & }
launch_python() { "$PY" bench/python_sdk_server.py 127.0.0.1 "$1" >"$2" 2>&1 & }

# ---------------------------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------------------------
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
start_server "mcp-gateway" "$WORK/gateway.log" launch_gateway post_once
GW_PID=$SERVER_PID GW_PORT=$SERVER_PORT
start_server "the bare axum server" "$WORK/bare.log" launch_bare post_once
BARE_PID=$SERVER_PID BARE_PORT=$SERVER_PORT
start_server "the Python SDK server" "$WORK/python.log" launch_python post_once
PY_PID=$SERVER_PID PY_PORT=$SERVER_PORT
log "verifying every server answers the exact benchmark request"
verify_server "mcp-gateway" "$GW_PORT"
verify_server "bare axum server" "$BARE_PORT"
verify_server "Python SDK server" "$PY_PORT"
GW_RSS_IDLE_KB="$(rss_kb "$GW_PID")"

run_wrk "mcp-gateway" "http://127.0.0.1:$GW_PORT/mcp" "$GW_PID" gateway
note_run_problems "mcp-gateway"
GW_RPS=$R_RPS GW_P50=$R_P50 GW_P99=$R_P99 GW_REQ=$R_REQUESTS GW_CPU="$R_CPU" GW_ATTEMPTS=$R_ATTEMPTS
GW_PEAK_KB="$(peak_rss_kb "$GW_PID")"
verify_server "mcp-gateway" "$GW_PORT"

REQUEST=$MODERN_REQUEST MCP_HEADERS=$MODERN_HEADERS
wrk_env "$REQUEST" "$MCP_HEADERS"
verify_server "mcp-gateway (2026-07-28)" "$GW_PORT"
run_wrk "mcp-gateway (2026-07-28)" "http://127.0.0.1:$GW_PORT/mcp" "$GW_PID" gateway-2026
note_run_problems "mcp-gateway (2026-07-28)"
GW26_RPS=$R_RPS GW26_P50=$R_P50 GW26_P99=$R_P99 GW26_REQ=$R_REQUESTS GW26_CPU="$R_CPU"
GW26_PEAK_KB="$(peak_rss_kb "$GW_PID")"
verify_server "mcp-gateway (2026-07-28)" "$GW_PORT"
REQUEST=$HANDSHAKE_REQUEST MCP_HEADERS=$HANDSHAKE_HEADERS
wrk_env "$REQUEST" "$MCP_HEADERS"

run_wrk "bare axum server" "http://127.0.0.1:$BARE_PORT/mcp" "$BARE_PID" bare
note_run_problems "bare axum server"
BARE_RPS=$R_RPS BARE_P50=$R_P50 BARE_P99=$R_P99 BARE_REQ=$R_REQUESTS BARE_CPU="$R_CPU" BARE_ATTEMPTS=$R_ATTEMPTS
BARE_PEAK_KB="$(peak_rss_kb "$BARE_PID")"
verify_server "bare axum server" "$BARE_PORT"

run_wrk "Python SDK server" "http://127.0.0.1:$PY_PORT/mcp" "$PY_PID" python
note_run_problems "Python SDK server"
PY_RPS=$R_RPS PY_P50=$R_P50 PY_P99=$R_P99 PY_REQ=$R_REQUESTS PY_CPU="$R_CPU" PY_ATTEMPTS=$R_ATTEMPTS
PY_PEAK_KB="$(peak_rss_kb "$PY_PID")"
verify_server "Python SDK server" "$PY_PORT"

# ---------------------------------------------------------------------------------------------------------
# Paired rounds: the gateway and the bare server again, back to back, for the ratio
# ---------------------------------------------------------------------------------------------------------
# ratio A B DIGITS: A / B ("inf" when B is 0); verdict RATIO TARGET: PASS when RATIO >= TARGET.
ratio() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { if (b > 0) printf "%.*f", d, a / b; else print "inf" }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r == "inf" || r + 0 >= t) ? "PASS" : "MISS" }'; }
# measure_pair_member NAME URL PID TAG: one measured run after a quiet machine; echoes nothing, leaves R_RPS.
measure_pair_member() {
    wait_quiet
    log "$1: paired run ${DURATION} (round $round of $ROUNDS)"
    measure_once "$1" "$2" "$3" "$WORK/wrk.$4.round$round.txt"
    note_run_problems "$1 (round $round)"
}
ROUND_RATIOS=("$(ratio "$GW_RPS" "$BARE_RPS" 3)")
ROUND_RPS=("$(printf '%.0f' "$GW_RPS") / $(printf '%.0f' "$BARE_RPS")")
for (( round = 2; round <= ROUNDS; round++ )); do
    if (( round % 2 == 0 )); then
        measure_pair_member "bare axum server" "http://127.0.0.1:$BARE_PORT/mcp" "$BARE_PID" bare; pair_bare=$R_RPS
        measure_pair_member "mcp-gateway" "http://127.0.0.1:$GW_PORT/mcp" "$GW_PID" gateway; pair_gw=$R_RPS
    else
        measure_pair_member "mcp-gateway" "http://127.0.0.1:$GW_PORT/mcp" "$GW_PID" gateway; pair_gw=$R_RPS
        measure_pair_member "bare axum server" "http://127.0.0.1:$BARE_PORT/mcp" "$BARE_PID" bare; pair_bare=$R_RPS
    fi
    ROUND_RATIOS+=("$(ratio "$pair_gw" "$pair_bare" 3)")
    ROUND_RPS+=("$(printf '%.0f' "$pair_gw") / $(printf '%.0f' "$pair_bare")")
done
GW_PEAK_KB="$(peak_rss_kb "$GW_PID")"
# The median of the pairs' ratios (of the middle two for an even count).
MEDIAN_RATIO="$(printf '%.2f' "$(median "${ROUND_RATIOS[@]}")")"
ROUND_LIST=""
for (( i = 0; i < ${#ROUND_RATIOS[@]}; i++ )); do
    ROUND_LIST+="${ROUND_LIST:+; }round $(( i + 1 )): ${ROUND_RPS[$i]} req/s = ${ROUND_RATIOS[$i]}×"
done

# ---------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------
PY_SDK_VERSION="$("$PY" -c 'from importlib.metadata import version; print(version("mcp"))')"
UVICORN_VERSION="$("$PY" -c 'from importlib.metadata import version; print(version("uvicorn"))')"
PY_VERSION="$("$PY" -c 'import platform; print(platform.python_version())')"
TARGET_BARE=0.70 TARGET_PYTHON=40 TARGET_RSS_MB=30
RATIO="$(ratio "$GW_RPS" "$PY_RPS" 1)"
BARE_RATIO=$MEDIAN_RATIO

TABLE="$(cat <<TABLE_EOF
| server | req/s | p50 | p99 | peak RSS |
|---|---|---|---|---|
| mcp-gateway (Rust, audit log on) | $(printf '%.0f' "$GW_RPS") | $(fmt_latency "$GW_P50") | $(fmt_latency "$GW_P99") | $(fmt_mib "$GW_PEAK_KB") |
| mcp-gateway, 2026-07-28 request | $(printf '%.0f' "$GW26_RPS") | $(fmt_latency "$GW26_P50") | $(fmt_latency "$GW26_P99") | $(fmt_mib "$GW26_PEAK_KB") |
| bare axum (examples/bare_axum.rs) | $(printf '%.0f' "$BARE_RPS") | $(fmt_latency "$BARE_P50") | $(fmt_latency "$BARE_P99") | $(fmt_mib "$BARE_PEAK_KB") |
| Python SDK $PY_SDK_VERSION (uvicorn, 1 worker) | $(printf '%.0f' "$PY_RPS") | $(fmt_latency "$PY_P50") | $(fmt_latency "$PY_P99") | $(fmt_mib "$PY_PEAK_KB") |

| target | measured | verdict |
|---|---|---|
| gateway ≥ ${TARGET_BARE}× the bare axum server (median of $ROUNDS paired runs) | ${BARE_RATIO}× | **$(verdict "$BARE_RATIO" "$TARGET_BARE")** |
| gateway ≥ ${TARGET_PYTHON}× the Python SDK server | ${RATIO}× | **$(verdict "$RATIO" "$TARGET_PYTHON")** |
| gateway peak RSS < ${TARGET_RSS_MB} MB | $(awk -v kb="$GW_PEAK_KB" 'BEGIN { printf "%.1f MB", kb * 1024 / 1e6 }') | **$(awk -v kb="$GW_PEAK_KB" -v t="$TARGET_RSS_MB" 'BEGIN { print (kb * 1024 / 1e6 < t) ? "PASS" : "MISS" }')** |
TABLE_EOF
)"

mkdir -p bench/results
cat >bench/results/latest.md <<REPORT_EOF
# mcp-gateway benchmark: \`tools/call ping\`, stateless JSON POST /mcp

$TABLE

${BENCH_NOTES}$(report_context "$LOAD_BEFORE" "$COMMAND")
- load: \`wrk -t $THREADS -c $CONNECTIONS -d $DURATION --latency -s $WRK_LUA http://127.0.0.1:PORT/mcp\` after a $WARMUP warm-up, one server at a time, wrk on the same cores (nothing pinned)
- request: \`POST /mcp\` \`$REQUEST\` with \`Content-Type: application/json\`, \`Accept: application/json, text/event-stream\`, \`MCP-Protocol-Version: 2025-11-25\`; no session (stateless), answered with \`application/json\`
- 2026-07-28 request (gateway only): \`$MODERN_REQUEST\` with \`MCP-Protocol-Version: 2026-07-28\`, \`Mcp-Method: tools/call\`, \`Mcp-Name: ping\`; peak RSS is the process's after both runs; CPU: $GW26_CPU
- gateway / bare axum pairs (req/s): $ROUND_LIST; the table's rows are round 1
- requests measured: gateway $GW_REQ (2026-07-28: $GW26_REQ), bare axum $BARE_REQ, Python $PY_REQ
- CPU during the reported runs (share of all $(nproc) cores): gateway: $GW_CPU; bare axum: $BARE_CPU; Python: $PY_CPU (measured runs made: gateway $GW_ATTEMPTS, bare axum $BARE_ATTEMPTS, Python $PY_ATTEMPTS; a run is repeated when other processes take > 10%; the processes' own times include some of the kernel's loopback TCP work, so the shares can add up to more than 100%)
- mcp-gateway: \`cargo build --release\` at $(git_revision), \`LOG_LEVEL=warn RATE_LIMIT=off\`, $(audit_setting), tool_specs/ (builtin \`ping\`); RSS after start-up $(fmt_mib "$GW_RSS_IDLE_KB"); GATEWAY_* variables inherited from the caller: $(inherited_gateway_settings)
- bare axum: \`cargo build --release --example bare_axum\` (axum, serde_json, TCP_NODELAY; no middleware, auth, validation or audit)
- Python: $PY_VERSION, mcp $PY_SDK_VERSION, uvicorn $UVICORN_VERSION, \`bench/python_sdk_server.py\` (\`stateless_http=True, json_response=True\`, 1 worker, access log off)
- peak RSS: \`VmHWM\` from \`/proc/PID/status\` of each server process after its measured run (MiB = 2^20 bytes)
- $(wrk_version)
REPORT_EOF

bench_finish "$TABLE" bench/results/latest.md "targets are informational: a MISS does not fail the run"
