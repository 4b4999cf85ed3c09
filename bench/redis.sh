#!/usr/bin/env bash
# Shared state: what GATEWAY_REDIS_URL costs. The same gateway (release build, audit log on as shipped) with a
# per-key rate limit too high to refuse anything (1,000,000,000/minute), measured twice in the same run: without
# Redis (budgets in memory, governor), then with Debian's redis-server on a free loopback port (one GCRA script per
# request). Each way on two stateless MCP calls (JSON POSTs on /mcp, with wrk): `tools/call ping`, and the Supabase
# READ tool `search_entreprise_with_stats` against the local fake PostgREST (examples/fake_postgrest.rs, as
# bench/upstream.sh); each at BENCH_CONNECTIONS connections (req/s, p50, p99) and at concurrency 1 (p50: the added
# latency of the Redis round trip).
#
# Prints a Markdown table and writes it with the date, the machine, the git revision and the exact command to
# bench/results/redis-latest.md. No target: the numbers say what sharing the budgets costs.
#
# Usage: bench/redis.sh
# Environment (all optional): BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_THREADS, BENCH_QUIET_WAIT,
# BENCH_ATTEMPTS as in bench/lib.sh.
#
# Needs: cargo, curl, python3, redis-server and redis-cli (Debian's), and wrk (installed with apt-get when missing and
# root/sudo). Exit status: 0 when every measured request got a 2xx without socket errors, 1 otherwise.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh

bench_settings
COMMAND="$SETTINGS bench/redis.sh"
require_commands curl cargo python3 redis-server
ensure_wrk
log "cargo build --release (mcp-gateway and examples/fake_postgrest.rs)"
cargo build --release --quiet --bin mcp-gateway --example fake_postgrest
GATEWAY_BIN="${CARGO_TARGET_DIR:-target}/release/mcp-gateway"
FAKE_BIN="${CARGO_TARGET_DIR:-target}/release/examples/fake_postgrest"
[[ -x "$GATEWAY_BIN" && -x "$FAKE_BIN" ]] || die "$GATEWAY_BIN or $FAKE_BIN was not built"
bench_init

PING='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping","arguments":{}}}'
READ='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_entreprise_with_stats","arguments":{"search_term":"ACME","limit":5}}}'
KEY="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
SUPABASE_KEY="bench-supabase-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
HEADERS="$MCP_HEADERS
Authorization: Bearer $KEY"
post_once() { curl_post "http://127.0.0.1:$1/mcp" "$READ" "$HEADERS" "$WORK/answer.$1"; }
probe_redis() { [[ "$(redis-cli -p "$1" ping 2>/dev/null)" == PONG ]] && echo 200 || echo 000; }
launch_fake() { SUPABASE_API_KEY="$SUPABASE_KEY" "$FAKE_BIN" "127.0.0.1:$1" >"$2" 2>&1 & }
probe_fake() {
    curl_post "http://127.0.0.1:$1/rest/v1/rpc/search_entreprise_with_stats" '{"p_search_term":"ACME","p_limit":5}' \
        "Content-Type: application/json
apikey: $SUPABASE_KEY
Authorization: Bearer $SUPABASE_KEY" "$WORK/answer.fake" | cut -d' ' -f1
}
# The READ answer carries the fake's ACME rows (checked before measuring, each way).
check_read_answer() {
    grep -q 'ACME Industries' "$WORK/answer.$1" || die "the READ tool did not answer the fake's rows: $(head -c 300 "$WORK/answer.$1")"
}

launch_redis() { redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$2" 2>&1 & }
REDIS_URL_SETTING=""
launch_gateway() {
    env ${REDIS_URL_SETTING:+GATEWAY_REDIS_URL="$REDIS_URL_SETTING"} GATEWAY_BIND="127.0.0.1:$1" LOG_LEVEL=warn \
        FLOWCHAT_MCP_KEY="$KEY" RATE_LIMIT=1000000000/minute GATEWAY_TOOL_SPECS=./tool_specs \
        SUPABASE_URL="http://127.0.0.1:$FAKE_PORT" SUPABASE_API_KEY="$SUPABASE_KEY" \
        GATEWAY_DATA_DIR="$WORK/data-${REDIS_URL_SETTING:+redis}" "$GATEWAY_BIN" serve >"$2" 2>&1 &
}

# measure TAG BODY: both runs of BODY against the gateway on GW_PORT; sets ${TAG}_RPS ${TAG}_P50 ${TAG}_P99
# ${TAG}_P50_C1 and ${TAG}_REQUESTS.
measure() {
    local tag="$1" name="mcp-gateway ($1)"
    wrk_env "$2" "$HEADERS"
    WRK_ARGS=(-t "$THREADS" -c "$CONNECTIONS" --latency)
    run_wrk "$name" "http://127.0.0.1:$GW_PORT/mcp" "$GW_PID" "$tag"
    note_run_problems "$name"
    printf -v "${tag}_REQUESTS_C" '%s' "$R_REQUESTS"; printf -v "${tag}_RPS" '%s' "$R_RPS"; printf -v "${tag}_P50" '%s' "$R_P50"; printf -v "${tag}_P99" '%s' "$R_P99"
    WRK_ARGS=(-t 1 -c 1 --latency)
    run_wrk "$name, c=1" "http://127.0.0.1:$GW_PORT/mcp" "$GW_PID" "$tag-c1"
    note_run_problems "$name, c=1"
    printf -v "${tag}_P50_C1" '%s' "$R_P50"
    printf -v "${tag}_REQUESTS" '%s' "$(( ${tag}_REQUESTS_C + R_REQUESTS ))"
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
start_server "fake PostgREST" "$WORK/fake.log" launch_fake probe_fake
FAKE_PORT=$SERVER_PORT
start_server "mcp-gateway (without Redis)" "$WORK/gateway-memory.log" launch_gateway post_once
GW_PID=$SERVER_PID GW_PORT=$SERVER_PORT
check_read_answer "$GW_PORT"
measure memory "$PING"
measure memory_read "$READ"
stop "$GW_PID"

start_server "redis-server" "$WORK/redis.log" launch_redis probe_redis
REDIS_PORT=$SERVER_PORT
REDIS_URL_SETTING="redis://127.0.0.1:$REDIS_PORT/"
start_server "mcp-gateway (budgets in Redis)" "$WORK/gateway-redis.log" launch_gateway post_once
GW_PID=$SERVER_PID GW_PORT=$SERVER_PORT
check_read_answer "$GW_PORT"
measure redis "$PING"
measure redis_read "$READ"
redis_REQUESTS=$(( redis_REQUESTS + redis_read_REQUESTS ))
# Every request of the Redis runs ran the GCRA script in Redis (EVALSHA, or EVAL once per new connection).
SCRIPT_CALLS="$(redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' \
    | awk -F'[=,:]' '/^cmdstat_(evalsha|eval):/ { n += $3 } END { print n + 0 }')"
[[ "$SCRIPT_CALLS" -ge "$redis_REQUESTS" ]] \
    || die "Redis ran the rate-limit script $SCRIPT_CALLS times for $redis_REQUESTS requests: the budgets were not shared"
log "Redis ran the rate-limit script $SCRIPT_CALLS times ($redis_REQUESTS requests measured, warm-ups and checks besides)"

REDIS_VERSION="$(redis-server --version | sed -E 's/.* v=([^ ]+).*/\1/')"
TABLE="$(cat <<TABLE_EOF
| call | shared state | req/s (c=$CONNECTIONS) | p50 | p99 | p50 at c=1 |
|---|---|---|---|---|---|
$(tag_row "ping | none (budgets in memory)" memory)
$(tag_row "ping | Redis $REDIS_VERSION on loopback" redis)
$(tag_row "READ tool | none (budgets in memory)" memory_read)
$(tag_row "READ tool | Redis $REDIS_VERSION on loopback" redis_read)

Redis adds $(fmt_added_us "$redis_P50_C1" "$memory_P50_C1") at p50 at concurrency 1 to ping and $(fmt_added_us "$redis_read_P50_C1" "$memory_read_P50_C1") to the READ tool; throughput $(fmt_ratio "$redis_RPS" "$memory_RPS")× (ping) and $(fmt_ratio "$redis_read_RPS" "$memory_read_RPS")× (READ tool) without Redis.
TABLE_EOF
)"
REPORT=bench/results/redis-latest.md
write_report "Shared state: without and with Redis" "$REPORT" "$TABLE"
bench_finish "$TABLE" "$REPORT" ""
